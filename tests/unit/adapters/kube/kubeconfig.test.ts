import { describe, expect, test } from "bun:test";
import { KubeConfigError } from "../../../../src/adapters/kube/kube-errors.ts";
import { resolveInCluster, resolveKubeconfig } from "../../../../src/adapters/kube/kubeconfig.ts";

const base = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u", namespace: "team" } }],
    clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443/", ...cluster } }],
    users: [{ name: "u", user }],
  });

function refusal(run: () => unknown): KubeConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof KubeConfigError) return error;
    throw error;
  }
  throw new Error("expected a KubeConfigError");
}

describe("resolveKubeconfig", () => {
  test("it resolves the current context's server, inline CA and inline client certificate", () => {
    const spec = resolveKubeconfig([
      {
        text: base(
          { "client-certificate-data": "Y2VydA==", "client-key-data": "a2V5" },
          { "certificate-authority-data": "Y2E=" },
        ),
        dir: "/etc/kube",
      },
    ]);
    expect(spec.server).toBe("https://10.0.0.1:6443");
    expect(spec.ca).toEqual({ data: "Y2E=" });
    expect(spec.clientCert).toEqual({ data: "Y2VydA==" });
    expect(spec.clientKey).toEqual({ data: "a2V5" });
    expect(spec.namespace).toBe("team");
  });

  test("it resolves relative file paths against the kubeconfig's directory", () => {
    const spec = resolveKubeconfig([
      {
        text: base(
          { "client-certificate": "certs/me.crt", "client-key": "/abs/me.key", tokenFile: "tok" },
          {
            "certificate-authority": "ca.crt",
          },
        ),
        dir: "/etc/kube",
      },
    ]);
    expect(spec.ca).toEqual({ file: "/etc/kube/ca.crt" });
    expect(spec.clientCert).toEqual({ file: "/etc/kube/certs/me.crt" });
    expect(spec.clientKey).toEqual({ file: "/abs/me.key" });
    expect(spec.tokenFile).toBe("/etc/kube/tok");
  });

  test("it reads YAML as kubectl writes it", () => {
    const yaml = [
      "apiVersion: v1",
      "kind: Config",
      "current-context: kind",
      "clusters:",
      "- name: kind",
      "  cluster:",
      "    server: https://127.0.0.1:40000",
      "contexts:",
      "- name: kind",
      "  context: {cluster: kind, user: admin}",
      "users:",
      "- name: admin",
      "  user:",
      "    token: abc",
    ].join("\n");
    const spec = resolveKubeconfig([{ text: yaml, dir: "/" }]);
    expect(spec.server).toBe("https://127.0.0.1:40000");
    expect(spec.token).toBe("abc");
  });

  test("insecure-skip-tls-verify on an https server is honoured, as kubectl honours it", () => {
    const text = base({ token: "t" }, { "insecure-skip-tls-verify": true });
    expect(resolveKubeconfig([{ text, dir: "/" }]).insecureSkipTlsVerify).toBe(true);
    expect(resolveKubeconfig([{ text: base({ token: "t" }), dir: "/" }]).insecureSkipTlsVerify).toBe(false);
  });

  test("insecure-skip-tls-verify on an http server means nothing", () => {
    const text = base({}, { server: "http://127.0.0.1:8001", "insecure-skip-tls-verify": "true" });
    expect(resolveKubeconfig([{ text, dir: "/" }]).insecureSkipTlsVerify).toBe(false);
  });

  test("insecure-skip-tls-verify beside a certificate authority is refused, as kubectl refuses it", () => {
    const cluster = { "insecure-skip-tls-verify": true, "certificate-authority": "/ca.crt" };
    const error = refusal(() => resolveKubeconfig([{ text: base({ token: "t" }, cluster), dir: "/" }]));
    expect(error.code).toBe("ERR_KUBE_INSECURE_TLS");
    expect(error.message).toContain("insecure-skip-tls-verify");
  });

  test("the in-cluster service account always verifies the API server", () => {
    const spec = resolveInCluster({ host: "10.0.0.1", port: "443", serviceAccountDir: "/sa" });
    expect(spec.insecureSkipTlsVerify).toBe(false);
    expect(spec.ca).toEqual({ file: "/sa/ca.crt" });
  });

  test("an auth-provider is refused with its name", () => {
    const error = refusal(() =>
      resolveKubeconfig([{ text: base({ "auth-provider": { name: "oidc", config: {} } }), dir: "/" }]),
    );
    expect(error.code).toBe("ERR_KUBE_UNSUPPORTED_AUTH");
    expect(error.message).toContain('auth-provider "oidc"');
  });

  test("basic authentication is refused", () => {
    const error = refusal(() =>
      resolveKubeconfig([{ text: base({ username: "a", password: "b" }), dir: "/" }]),
    );
    expect(error.message).toContain("basic authentication");
  });

  test("an exec plugin is read with its arguments and environment", () => {
    const spec = resolveKubeconfig([
      {
        text: base({ exec: { command: "get-token", args: ["--x"], env: [{ name: "A", value: "1" }] } }),
        dir: "/",
      },
    ]);
    expect(spec.exec).toEqual({
      command: "get-token",
      args: ["--x"],
      env: [{ name: "A", value: "1" }],
      apiVersion: "client.authentication.k8s.io/v1",
    });
  });

  test("several files merge with the first definition winning, as kubectl does", () => {
    const first = JSON.stringify({
      "current-context": "ctx",
      users: [{ name: "u", user: { token: "first" } }],
    });
    const spec = resolveKubeconfig([
      { text: first, dir: "/a" },
      { text: base({ token: "second" }), dir: "/b" },
    ]);
    expect(spec.token).toBe("first");
    expect(spec.server).toBe("https://10.0.0.1:6443");
  });

  test("a missing current context and unknown names are reported", () => {
    expect(refusal(() => resolveKubeconfig([{ text: "{}", dir: "/" }])).message).toContain(
      "no current-context",
    );
    const text = base({ token: "t" }).replace('"cluster":"c"', '"cluster":"nope"');
    expect(refusal(() => resolveKubeconfig([{ text, dir: "/" }])).message).toContain(
      'unknown cluster "nope"',
    );
  });
});

describe("resolveInCluster", () => {
  test("it uses the service host and port with the service account's CA and token files", () => {
    const spec = resolveInCluster({ host: "10.96.0.1", port: "443", serviceAccountDir: "/sa" });
    expect(spec.server).toBe("https://10.96.0.1:443");
    expect(spec.ca).toEqual({ file: "/sa/ca.crt" });
    expect(spec.tokenFile).toBe("/sa/token");
  });

  test("an IPv6 service host is bracketed", () => {
    expect(resolveInCluster({ host: "fd00::1", port: "443", serviceAccountDir: "/sa" }).server).toBe(
      "https://[fd00::1]:443",
    );
  });

  test("outside a cluster without a kubeconfig it fails with a clear message", () => {
    const error = refusal(() =>
      resolveInCluster({ host: undefined, port: undefined, serviceAccountDir: "/sa" }),
    );
    expect(error.code).toBe("ERR_KUBE_NOT_IN_CLUSTER");
    expect(error.message).toContain("KUBECONFIG");
  });
});
