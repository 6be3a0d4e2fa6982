import { describe, expect, test } from "bun:test";
import { requireBinary, runBinary, spawnBinary } from "../support/spawn-binary.ts";

/** A local /healthz that answers `status`, on a free loopback port. */
function healthServer(status: number) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) =>
      new URL(request.url).pathname === "/healthz"
        ? new Response("x", { status })
        : new Response("", { status: 404 }),
  });
  return { port: server.port, [Symbol.dispose]: () => server.stop(true) };
}

describe.skipIf(!requireBinary())("the compiled binary's command line, as a user meets it", () => {
  test("healthcheck refuses a --url that is not an http(s) URL with exit 2 and says so", async () => {
    const result = await runBinary(["healthcheck", "--url", "notaurl"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('error: --url: "notaurl" is not an http or https URL\n');
  });

  test("healthcheck says why it failed when nothing answers", async () => {
    const result = await runBinary(["healthcheck"], { WEB_LISTEN_ADDR: "127.0.0.1:1" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toStartWith("healthcheck failed: http://127.0.0.1:1/healthz did not answer");
  });

  test("healthcheck --worker probes the worker's health port and names the status it got", async () => {
    using healthy = healthServer(200);
    using failing = healthServer(503);
    const ok = await runBinary(["healthcheck", "--worker"], {
      WORKER_HEALTH_ADDR: `127.0.0.1:${healthy.port}`,
      WEB_LISTEN_ADDR: "127.0.0.1:1",
    });
    expect(ok).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    const bad = await runBinary(["healthcheck", "--worker"], { WORKER_HEALTH_ADDR: `:${failing.port}` });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(`http://127.0.0.1:${failing.port}/healthz answered 503`);
  });

  test("healthcheck ignores the mode settings it does not read, so it runs with a web pod's environment", async () => {
    using healthy = healthServer(200);
    const result = await runBinary(["healthcheck"], {
      WEB_LISTEN_ADDR: `:${healthy.port}`,
      VALKEY_ADDR: "not an address",
      LOG_LEVEL: "verbose",
    });
    expect(result).toEqual({ exitCode: 0, stdout: "", stderr: "" });
  });

  test("each sub-command's --help lists only the settings it reads", async () => {
    const devToken = (await runBinary(["dev-token", "--help"])).stdout;
    expect(devToken).toContain("--github-oidc-audience (GITHUB_OIDC_AUDIENCE; required)");
    expect(devToken).toContain("--dev-mode");
    expect(devToken).not.toContain("--valkey-addr");
    expect(devToken).not.toContain("--listen-addr");
    const healthcheck = (await runBinary(["healthcheck", "--help"])).stdout;
    expect(healthcheck).toContain("--listen-addr (WEB_LISTEN_ADDR");
    expect(healthcheck).toContain("--health-addr (WORKER_HEALTH_ADDR");
    expect(healthcheck).toContain("--worker");
    expect(healthcheck).toContain("--url URL");
    expect(healthcheck).not.toContain("--valkey-addr");
    const worker = (await runBinary(["worker", "--help"])).stdout;
    expect(worker).toContain("--kubeconfig");
    expect(worker).not.toContain("--github-oidc-audience");
  });

  test("an unknown flag exits 2 and points at --help", async () => {
    for (const command of ["web", "worker", "healthcheck", "dev-token", "dead-letters"]) {
      const result = await runBinary([command, "--bogus"]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(
        `error: flag provided but not defined: -bogus (run 'kuberollouttrigger ${command} --help' for its flags)\n`,
      );
    }
  });

  test("args written for the Go original's image, which ran /server as its CMD, still name the command", async () => {
    const result = await runBinary(["/server", "version"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^kuberollouttrigger \d+\.\d+\.\d+\n$/);
  });

  test("version refuses extra arguments", async () => {
    const result = await runBinary(["version", "extra"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('error: version takes no arguments, got "extra"\n');
    expect(result.stdout).toBe("");
  });

  test("a missing kubeconfig is one clear error line before anything is logged", async () => {
    const result = await runBinary(["worker"], {
      VALKEY_ADDR: "127.0.0.1:1",
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      KUBECONFIG: "/nonexistent/kubeconfig",
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      'error: invalid configuration: KUBECONFIG / --kubeconfig: cannot read "/nonexistent/kubeconfig" (no such file)\n',
    );
  });

  test("a LOG_LEVEL the original accepted keeps the web running: known spellings are read, others mean info with a warning", async () => {
    const env = {
      VALKEY_ADDR: "127.0.0.1:1",
      ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
      GITHUB_OIDC_AUDIENCE: "krt",
      GITHUB_ALLOWED_ORG: "acme",
      DEV_MODE: "true",
      WEB_LISTEN_ADDR: "127.0.0.1:0",
    };
    await using verbose = spawnBinary(["web"], { ...env, LOG_LEVEL: "verbose" });
    expect(await verbose.waitForLog((l) => l.msg === "configuration value replaced")).toMatchObject({
      level: "WARN",
      problem:
        'LOG_LEVEL / --log-level: "verbose" is not one of debug, info, warn, error (or warning, err, information, trace); using info',
    });
    await verbose.waitForLog((l) => l.msg === "web listening");
    await using warning = spawnBinary(["web"], { ...env, LOG_LEVEL: "WARNING" });
    // At warn the first line is the Valkey warning; the configuration line (info) is not written.
    const first = await warning.waitForLog((l) => l.level === "WARN");
    expect(first.msg).not.toBe("configuration value replaced");
    expect(warning.lines.filter((l) => l.level === "INFO")).toEqual([]);
    expect(warning.proc.exitCode).toBeNull();
  });
});
