import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";
import { pickPort, requireValkeyTls } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { renderKustomization } from "./compositions.ts";
import { containersOf, type K8sObject, kustomizeUnavailableReason } from "./rendered.ts";

// Starts a real valkey-server with the configuration files and the readiness probe that the manifests
// render, with their paths moved into a temporary directory: a typo in valkey.conf, an include that
// finds nothing, or TLS settings Valkey refuses fail here rather than in a cluster.

const inCi = process.env.CI === "true";
const unavailable = kustomizeUnavailableReason();
if (unavailable && !inCi) console.warn(`skipping the Valkey configuration tests: ${unavailable}`);
const skip = (unavailable !== undefined && !inCi) || !requireValkeyTls();

const PASSWORD = "manifest-test";

interface RenderedValkey {
  readonly port: number;
  /** The readiness probe's shell command, its paths and port moved like the configuration's. */
  readonly probe: string;
  stop(): Promise<void>;
}

/**
 * Starts Valkey as the StatefulSet of `kustomization` would, on a free loopback port: valkey-server
 * cannot bind port 0, so a port is picked, and picked again when another process took it first.
 */
async function startRenderedValkey(kustomization: string, tls: TlsFixtures): Promise<RenderedValkey> {
  for (let tries = 1; ; tries++) {
    const started = await startRenderedValkeyOn(pickPort(), kustomization, tls);
    if (started !== "port taken") return started;
    if (tries >= 5) throw new Error("no free port for valkey-server after 5 tries");
  }
}

/** Starts the rendered Valkey on `port`; "port taken" when valkey-server found it in use. */
async function startRenderedValkeyOn(
  port: number,
  kustomization: string,
  tls: TlsFixtures,
): Promise<RenderedValkey | "port taken"> {
  const objects = renderKustomization(kustomization);
  const config = objects.find((o) => o.kind === "ConfigMap" && o.data?.["valkey.conf"]) as K8sObject;
  const [valkey] = containersOf(objects).filter((p) => String(p.container.image).includes("valkey/valkey"));
  if (!valkey) throw new Error(`${kustomization} runs no Valkey`);
  const dir = mkdtempSync(join(tmpdir(), "krt-valkey-config-"));
  const move = (text: string) =>
    text
      .replaceAll("/etc/valkey-tls/", `${dir}/tls/`)
      .replaceAll("/etc/valkey/", `${dir}/etc/`)
      .replaceAll("/run/valkey/", `${dir}/run/`)
      .replace(/^dir \/data$/m, `dir ${dir}/data`)
      .replace(/^(tls-)?port 6379$/gm, `$1port ${port}`)
      .replace(/^bind .*$/m, "bind 127.0.0.1");
  for (const sub of ["etc", "tls", "run", "data"]) mkdirSync(join(dir, sub));
  for (const [name, text] of Object.entries(config.data as Record<string, string>))
    writeFileSync(join(dir, "etc", name), move(text));
  // What the container's start script and the cluster's Secret would put there.
  writeFileSync(join(dir, "run", "auth.conf"), `requirepass "${PASSWORD}"\n`);
  for (const [name, pem] of Object.entries({
    "tls.crt": tls.serverCert,
    "tls.key": tls.serverKey,
    "ca.crt": tls.ca,
  }))
    writeFileSync(join(dir, "tls", name), pem, { mode: 0o600 });
  const proc = Bun.spawn(["valkey-server", join(dir, "etc", "valkey.conf")], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const started = await readUntilReady(proc.stdout);
  if (started !== "ready") {
    proc.kill("SIGKILL");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
    if (started === "port taken") return started;
    throw new Error(`valkey-server did not start with the rendered configuration:\n${started}`);
  }
  const probe = move(String(valkey.container.readinessProbe.exec.command.at(-1))).replace(
    "valkey-cli",
    `valkey-cli -p ${port}`,
  );
  return {
    port,
    probe,
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads valkey-server's log until it is ready ("ready"), found its port taken, or ended (its log). */
async function readUntilReady(stdout: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let log = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return log;
    log += decoder.decode(value, { stream: true });
    if (log.includes("Address already in use")) return "port taken";
    if (log.includes("Ready to accept connections")) break;
  }
  // Keep draining, so a full pipe never blocks the server.
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return "ready";
}

/** Runs the readiness probe's command as the kubelet would, with VALKEY_PASSWORD in its environment. */
const probeSucceeds = (probe: string) =>
  Bun.spawnSync(["sh", "-c", probe], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", VALKEY_PASSWORD: PASSWORD },
    stdout: "ignore",
    stderr: "ignore",
  }).exitCode === 0;

describe.skipIf(skip)("Valkey started with the rendered configuration", () => {
  let tls: TlsFixtures;
  beforeAll(async () => {
    tls = await makeTlsFixtures();
  });
  const started: RenderedValkey[] = [];
  afterAll(async () => {
    for (const valkey of started.splice(0)) await valkey.stop();
  });

  test("of the base answers the readiness probe in plain text", async () => {
    const valkey = await startRenderedValkey("base", tls);
    started.push(valkey);
    await waitFor(() => probeSucceeds(valkey.probe), "the readiness probe to succeed", 10_000);
    expect(valkey.probe).not.toContain("--tls");
  });

  test("with valkey-tls answers the probe over TLS only, with the certificate of its Secret", async () => {
    const valkey = await startRenderedValkey("base + valkey-tls", tls);
    started.push(valkey);
    await waitFor(() => probeSucceeds(valkey.probe), "the TLS readiness probe to succeed", 10_000);
    const plain = valkey.probe.replace(/--tls --cacert \S+ /, "");
    expect(plain).not.toBe(valkey.probe);
    expect(probeSucceeds(plain)).toBe(false);
  });
});
