import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";

/** Whether a `valkey-server` binary is on PATH. */
export const valkeyAvailable = Bun.which("valkey-server") !== null;

/** A real valkey-server started for a test on a free loopback port; stop and start it to make outages. */
export interface TestValkey extends AsyncDisposable {
  readonly port: number;
  readonly addr: string;
  readonly url: string;
  /** Stops the server (SIGKILL when `crash`), keeping the port for a later `start()`. */
  stop(options?: { crash?: boolean }): Promise<void>;
  /** Starts the server again on the same port; data persists only with `appendonly`. */
  start(): Promise<void>;
  /** A plain client for assertions (with the `--requirepass` password, if any); closed with the server. */
  client(): Promise<RedisClient>;
}

/** Picks a loopback port that is free now. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function waitForPing(url: string, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const probe = new RedisClient(url, {
      autoReconnect: false,
      connectionTimeout: 500,
    });
    try {
      await probe.connect();
      await probe.send("PING", []);
      return;
    } catch {
      await Bun.sleep(25);
    } finally {
      probe.close();
    }
  }
  throw new Error(
    `valkey-server at ${url.replace(/\/\/[^@]*@/, "//")} did not answer within ${deadlineMs} ms`,
  );
}

/**
 * Starts `valkey-server` on a free loopback port. `args` are extra server arguments,
 * e.g. `["--requirepass", "secret"]` or `["--appendonly", "yes"]`.
 */
export async function startValkey(args: string[] = []): Promise<TestValkey> {
  if (!valkeyAvailable) throw new Error("valkey-server is not installed (apt-get install valkey-server)");
  const dir = mkdtempSync(join(tmpdir(), "krt-valkey-"));
  const port = freePort();
  const passwordAt = args.indexOf("--requirepass");
  const password = passwordAt === -1 ? undefined : args[passwordAt + 1];
  const url = password
    ? `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`
    : `redis://127.0.0.1:${port}`;
  const clients: RedisClient[] = [];
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const launch = async () => {
    proc = Bun.spawn(
      ["valkey-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...args],
      { stdout: "ignore", stderr: "inherit" },
    );
    await waitForPing(url, 10_000);
  };
  const stop = async (options: { crash?: boolean } = {}) => {
    if (!proc) return;
    proc.kill(options.crash ? "SIGKILL" : "SIGTERM");
    await proc.exited;
    proc = undefined;
  };
  await launch();
  return {
    port,
    addr: `127.0.0.1:${port}`,
    url,
    stop,
    start: launch,
    async client() {
      const client = new RedisClient(url, { autoReconnect: true });
      await client.connect();
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.close();
      await stop({ crash: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Skips a test suite when valkey-server is missing, with a clear message; in CI (`CI=true`) it never
 * skips: the missing program fails the run instead.
 */
export function requireValkey(): boolean {
  if (valkeyAvailable) return true;
  if (process.env.CI === "true") throw new Error("valkey-server is required in CI but is not installed");
  console.warn(
    "SKIPPED: valkey-server is not installed; install it (apt-get install valkey-server) to run these tests",
  );
  return false;
}
