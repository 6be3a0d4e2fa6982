import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";

/** Whether a `valkey-server` binary is on PATH. */
export const valkeyAvailable = Bun.which("valkey-server") !== null;

/** Whether that valkey-server was built with TLS (Debian's is); false when it is missing. */
export const valkeyTlsAvailable = valkeyAvailable && supportsTls();

function supportsTls(): boolean {
  // Asked to listen on no port at all, a server with TLS exits at once; one without it rejects the directive.
  const probe = Bun.spawnSync(["valkey-server", "--port", "0", "--tls-port", "0", "--save", ""], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 5000,
  });
  return !`${probe.stdout}${probe.stderr}`.includes("Bad directive");
}

/** PEM material of a TLS test Valkey: its certificate and key, and the CA its own probes trust. */
export interface TestValkeyTls {
  readonly cert: string;
  readonly key: string;
  /** The CA the launcher and {@link TestValkey.client} trust: the one that signed `cert`. */
  readonly ca: string;
}

/** A real valkey-server started for a test on a free loopback port; stop and start it to make outages. */
export interface TestValkey extends AsyncDisposable {
  readonly port: number;
  readonly addr: string;
  /** `redis://…`, or `rediss://…` when started with TLS. */
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

async function waitForPing(url: string, deadlineMs: number, tls: { ca: string } | false): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const probe = new RedisClient(url, {
      autoReconnect: false,
      connectionTimeout: 500,
      tls,
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

/** The server arguments that make it listen with TLS only, on `port`, with `tls` written into `dir`. */
function tlsArgs(dir: string, port: number, tls: TestValkeyTls): string[] {
  const files = { "server.crt": tls.cert, "server.key": tls.key, "ca.crt": tls.ca };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem, { mode: 0o600 });
  return [
    ...["--port", "0", "--tls-port", String(port)],
    ...["--tls-cert-file", join(dir, "server.crt"), "--tls-key-file", join(dir, "server.key")],
    ...["--tls-ca-cert-file", join(dir, "ca.crt"), "--tls-auth-clients", "no"],
  ];
}

/**
 * Starts `valkey-server` on a free loopback port. `args` are extra server arguments,
 * e.g. `["--requirepass", "secret"]` or `["--appendonly", "yes"]`. With `options.tls` it speaks TLS
 * only (no plain port), presenting `tls.cert`.
 */
export async function startValkey(
  args: string[] = [],
  options: { readonly tls?: TestValkeyTls } = {},
): Promise<TestValkey> {
  if (!valkeyAvailable) throw new Error("valkey-server is not installed (apt-get install valkey-server)");
  const dir = mkdtempSync(join(tmpdir(), "krt-valkey-"));
  const port = freePort();
  const passwordAt = args.indexOf("--requirepass");
  const password = passwordAt === -1 ? undefined : args[passwordAt + 1];
  const scheme = options.tls ? "rediss" : "redis";
  const url = password
    ? `${scheme}://:${encodeURIComponent(password)}@127.0.0.1:${port}`
    : `${scheme}://127.0.0.1:${port}`;
  const clientTls = options.tls ? { ca: options.tls.ca } : false;
  const listen = options.tls ? tlsArgs(dir, port, options.tls) : ["--port", String(port)];
  const clients: RedisClient[] = [];
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const launch = async () => {
    proc = Bun.spawn(
      ["valkey-server", ...listen, "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...args],
      { stdout: "ignore", stderr: "inherit" },
    );
    await waitForPing(url, 10_000, clientTls);
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
      const client = new RedisClient(url, { autoReconnect: true, tls: clientTls });
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

/**
 * Like {@link requireValkey}, and also skips, with a clear message, when valkey-server was built
 * without TLS; with `CI=true` it never skips.
 */
export function requireValkeyTls(): boolean {
  if (!requireValkey()) return false;
  if (valkeyTlsAvailable) return true;
  if (process.env.CI === "true") throw new Error("valkey-server with TLS support is required in CI");
  console.warn("SKIPPED: this valkey-server was built without TLS; install one with TLS to run these tests");
  return false;
}
