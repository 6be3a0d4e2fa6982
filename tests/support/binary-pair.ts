import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sandboxKubeconfig } from "./sandbox-cluster.ts";
import { baseUrlOf, runBinary, type SpawnedBinary, spawnBinary, workerHealthUrl } from "./spawn-binary.ts";
import { TEST_AUDIENCE, TEST_ORG } from "./tokens.ts";
import { waitFor } from "./wait-for.ts";

/** A compiled web and worker on one Valkey and one API server, both ready. */
export interface BinaryPair extends AsyncDisposable {
  readonly web: SpawnedBinary;
  readonly worker: SpawnedBinary;
  /** The web's `POST /event` URL. */
  readonly eventUrl: string;
  /** A directory for files the processes read (kubeconfig, policy); removed on dispose. */
  readonly dir: string;
}

/** What {@link startBinaryPair} starts the two processes with. */
export interface BinaryPairOptions {
  /** `VALKEY_ADDR`; undefined when `common` names the sentinels instead. */
  readonly valkeyAddr: string | undefined;
  readonly apiServerUrl: string;
  /**
   * Settings both read (beside VALKEY_ADDR and ALLOWED_IMAGE_PREFIX=ghcr.io/acme/); a function gets the
   * pair's directory, for settings that name a file written there.
   */
  readonly common?: Readonly<Record<string, string>> | ((dir: string) => Readonly<Record<string, string>>);
  readonly worker?: Readonly<Record<string, string>>;
  /** Files to write into the pair's directory before the processes start, by name. */
  readonly files?: Readonly<Record<string, string>>;
}

/**
 * Starts the worker (kubeconfig of the API server, health on port 0), waits until it reads events and
 * is ready, then the web in DEV_MODE (unsigned test tokens pass) on port 0, and waits until it is ready.
 */
export async function startBinaryPair(options: BinaryPairOptions): Promise<BinaryPair> {
  const dir = mkdtempSync(join(tmpdir(), "krt-pair-"));
  writeFileSync(join(dir, "kubeconfig"), sandboxKubeconfig(options.apiServerUrl));
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text);
  const extra = typeof options.common === "function" ? options.common(dir) : options.common;
  const common = {
    ...(options.valkeyAddr !== undefined ? { VALKEY_ADDR: options.valkeyAddr } : {}),
    ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
    ...extra,
  };
  const started: SpawnedBinary[] = [];
  const dispose = async () => {
    for (const process of started.splice(0)) await process[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const worker = spawnBinary(["worker"], {
      ...common,
      KUBECONFIG: join(dir, "kubeconfig"),
      WORKER_HEALTH_ADDR: "127.0.0.1:0",
      ...options.worker,
    });
    started.push(worker);
    await worker.waitForLog((l) => l.msg === "reading events", 20_000);
    const health = await workerHealthUrl(worker);
    await waitFor(
      async () => (await fetch(`${health}/readyz`)).status === 200,
      "the worker to be ready",
      20_000,
    );
    const web = spawnBinary(["web"], {
      ...common,
      WEB_LISTEN_ADDR: "127.0.0.1:0",
      GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
      GITHUB_ALLOWED_ORG: TEST_ORG,
      DEV_MODE: "true",
    });
    started.push(web);
    const base = baseUrlOf(await web.waitForLog((l) => l.msg === "web listening", 20_000));
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "the web to be ready", 20_000);
    return { web, worker, eventUrl: `${base}/event`, dir, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Runs `send --wait --timeout 30s` for `image:dev` against `eventUrl` with `token`; its exit and output. */
export function sendAndWait(eventUrl: string, image: string, token: string) {
  const argv = ["send", "--url", eventUrl, "--image", image, "--tags", "dev", "--token", token];
  return runBinary([...argv, "--wait", "--timeout", "30s"], {}, 40_000);
}
