import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterAccess, loadClusterAccess } from "../../src/adapters/kube/cluster-access.ts";
import { createKubeClient } from "../../src/adapters/kube/kube-client.ts";
import { KubeConfigError, KubeUnreachableError } from "../../src/adapters/kube/kube-errors.ts";
import { createWorkloadSource } from "../../src/adapters/kube/kube-workload-source.ts";
import { createWorkloadPatcher } from "../../src/adapters/kube/workload-patcher.ts";
import { createLogger } from "../../src/log.ts";
import { createWorkloadIndex } from "../../src/worker/workload-index.ts";
import { makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";

let tls: TlsFixtures;
let dir: string;
const b64 = (text: string) => Buffer.from(text).toString("base64");

beforeAll(async () => {
  tls = await makeTlsFixtures();
  dir = await mkdtemp(join(tmpdir(), "kube-tls-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeKubeconfig(
  name: string,
  server: string,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
): Promise<string> {
  const path = join(dir, `${name}.kubeconfig`);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    "current-context": "test",
    contexts: [{ name: "test", context: { cluster: "test", user: "test" } }],
    clusters: [{ name: "test", cluster: { server, ...cluster } }],
    users: [{ name: "test", user }],
  };
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function listDeployments(access: ClusterAccess) {
  const client = createKubeClient({ access, requestTimeoutMs: 5000 });
  return client.listPage("deployments", undefined, { limit: 10, continue: undefined }, (item) => item);
}

describe("TLS to the API server", () => {
  test("a kubeconfig's certificate-authority-data verifies the server", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: "t",
    });
    server.create("deployments", makeDeployment({ namespace: "a", name: "web", images: ["x/y:1"] }));
    const kubeconfig = await writeKubeconfig(
      "ca-data",
      server.url,
      { "certificate-authority-data": b64(tls.ca) },
      { token: "t" },
    );
    const page = await listDeployments(await loadClusterAccess({ kubeconfig, env: {} }));
    expect(page.items).toHaveLength(1);
  });

  test("a certificate-authority file path relative to the kubeconfig verifies the server", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: "t",
    });
    await writeFile(join(dir, "relative-ca.crt"), tls.ca);
    const kubeconfig = await writeKubeconfig(
      "ca-file",
      server.url,
      { "certificate-authority": "relative-ca.crt" },
      { token: "t" },
    );
    expect((await listDeployments(await loadClusterAccess({ kubeconfig, env: {} }))).items).toEqual([]);
  });

  test("a server whose certificate another CA signed is refused", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.otherCert, key: tls.otherKey },
      bearerToken: "t",
    });
    const kubeconfig = await writeKubeconfig(
      "wrong-ca",
      server.url,
      { "certificate-authority-data": b64(tls.ca) },
      { token: "t" },
    );
    const access = await loadClusterAccess({ kubeconfig, env: {} });
    await expect(listDeployments(access)).rejects.toBeInstanceOf(KubeUnreachableError);
    expect(server.requests).toHaveLength(0);
  });

  test("a server that requires a client certificate gets the kubeconfig's client-certificate-data", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca, requireClientCert: true },
    });
    const kubeconfig = await writeKubeconfig(
      "mtls",
      server.url,
      { "certificate-authority-data": b64(tls.ca) },
      { "client-certificate-data": b64(tls.clientCert), "client-key-data": b64(tls.clientKey) },
    );
    expect((await listDeployments(await loadClusterAccess({ kubeconfig, env: {} }))).items).toEqual([]);
    expect(server.count({ verb: "list" })).toBe(1);
  });

  test("without a client certificate a server that requires one cannot be used", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca, requireClientCert: true },
    });
    const kubeconfig = await writeKubeconfig(
      "no-cert",
      server.url,
      { "certificate-authority-data": b64(tls.ca) },
      {},
    );
    await expect(listDeployments(await loadClusterAccess({ kubeconfig, env: {} }))).rejects.toBeInstanceOf(
      KubeUnreachableError,
    );
  });

  test("insecure-skip-tls-verify on an https server is honoured as kubectl honours it: the server's certificate is not verified", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: "t",
    });
    server.create("deployments", makeDeployment({ namespace: "a", name: "web", images: ["x/y:1"] }));
    const kubeconfig = await writeKubeconfig(
      "insecure",
      server.url,
      { "insecure-skip-tls-verify": true },
      { token: "t" },
    );
    const access = await loadClusterAccess({ kubeconfig, env: {} });
    expect(access.tls.verify).toBe(false);
    expect(access.summary.tls_verify).toBe("off (insecure-skip-tls-verify)");
    // Nothing in this kubeconfig trusts the test CA: only the skipped verification lets the call through.
    expect((await listDeployments(access)).items).toHaveLength(1);
  });

  test("insecure-skip-tls-verify beside a certificate authority is refused at startup, as kubectl refuses it", async () => {
    const kubeconfig = await writeKubeconfig(
      "insecure-and-ca",
      "https://127.0.0.1:1",
      { "insecure-skip-tls-verify": true, "certificate-authority-data": b64(tls.ca) },
      { token: "t" },
    );
    const error = await loadClusterAccess({ kubeconfig, env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeConfigError);
    expect((error as KubeConfigError).code).toBe("ERR_KUBE_INSECURE_TLS");
  });

  test("insecure-skip-tls-verify on an http server means nothing and changes nothing", async () => {
    await using server = await startKubeApiServer();
    const kubeconfig = await writeKubeconfig(
      "insecure-http",
      server.url,
      { "insecure-skip-tls-verify": true },
      {},
    );
    const access = await loadClusterAccess({ kubeconfig, env: {} });
    expect(server.url).toStartWith("http://");
    expect(access.tls.verify).toBe(true);
    // The startup line does not claim a verification that plain http cannot have.
    expect(access.summary).toMatchObject({ ca: "none (http)", tls_verify: "none (http)" });
    expect((await listDeployments(access)).items).toEqual([]);
  });

  test("an exec credential plugin's token is sent", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: "from-exec",
    });
    const plugin = join(dir, "plugin.ts");
    await writeFile(
      plugin,
      `process.stdout.write(JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: process.env.PLUGIN_TOKEN } }));`,
    );
    const kubeconfig = await writeKubeconfig(
      "exec",
      server.url,
      { "certificate-authority-data": b64(tls.ca) },
      {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: process.execPath,
          args: [plugin],
          env: [{ name: "PLUGIN_TOKEN", value: "from-exec" }],
        },
      },
    );
    expect((await listDeployments(await loadClusterAccess({ kubeconfig, env: {} }))).items).toEqual([]);
  });
});

describe("in-cluster service account", () => {
  async function serviceAccountDir(token: string): Promise<string> {
    const sa = await mkdtemp(join(dir, "sa-"));
    await writeFile(join(sa, "token"), token);
    await writeFile(join(sa, "ca.crt"), tls.ca);
    await writeFile(join(sa, "namespace"), "kuberollouttrigger");
    return sa;
  }

  test("the service host, CA file and token file reach the API server", async () => {
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: "sa-token",
    });
    const access = await loadClusterAccess({
      kubeconfig: undefined,
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(server.port) },
      serviceAccountDir: await serviceAccountDir("sa-token\n"),
    });
    expect(access.summary.source).toBe("in-cluster service account");
    expect((await listDeployments(access)).items).toEqual([]);
  });

  test("a rotated token file is picked up when the old token gets 401", async () => {
    let current = "first";
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: () => current,
    });
    const sa = await serviceAccountDir("first");
    const access = await loadClusterAccess({
      kubeconfig: undefined,
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(server.port) },
      serviceAccountDir: sa,
    });
    await listDeployments(access);
    await writeFile(join(sa, "token"), "second");
    current = "second";
    server.resetCounters();
    expect((await listDeployments(access)).items).toEqual([]);
    // One request with the old token (401), one with the re-read token.
    expect(server.count({ verb: "list" })).toBe(2);
    server.resetCounters();
    await listDeployments(access);
    expect(server.count({ verb: "list" })).toBe(1);
  });

  test("a rotated token file is re-read once the refresh interval has passed, before any 401", async () => {
    let current = "first";
    let now = 0;
    await using server = await startKubeApiServer({
      tls: { cert: tls.serverCert, key: tls.serverKey },
      bearerToken: () => current,
    });
    const sa = await serviceAccountDir("first");
    const access = await loadClusterAccess({
      kubeconfig: undefined,
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(server.port) },
      serviceAccountDir: sa,
      now: () => now,
    });
    await writeFile(join(sa, "token"), "second");
    current = "second";
    now = 60_000;
    server.resetCounters();
    await listDeployments(access);
    expect(server.count({ verb: "list" })).toBe(1);
  });
});

test("the index source and the patcher work over verified TLS", async () => {
  await using server = await startKubeApiServer({
    tls: { cert: tls.serverCert, key: tls.serverKey },
    bearerToken: "t",
  });
  server.create("deployments", makeDeployment({ namespace: "a", name: "web", images: ["img:1"] }));
  const kubeconfig = await writeKubeconfig(
    "connect",
    server.url,
    { "certificate-authority-data": b64(tls.ca) },
    { token: "t" },
  );
  const log = createLogger({ write: () => {} });
  const client = createKubeClient({ access: await loadClusterAccess({ kubeconfig, env: {} }) });
  const patcher = createWorkloadPatcher({ client, log });
  const index = createWorkloadIndex({
    source: createWorkloadSource(client),
    resources: ["deployments"],
    namespaces: [],
    log,
  });
  index.start();
  await index.waitUntilSynced();
  const [workload] = index.findByImages(["img:1"]);
  expect(workload).toBeDefined();
  expect(await patcher.restart(workload!, "2026-01-01T00:00:00Z", { dryRun: false })).toMatchObject({
    kind: "restarted",
    generation: 2,
  });
  await index.stop();
});
