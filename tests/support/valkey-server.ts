import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient, type Subprocess } from "bun";

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
  /**
   * Sends `signal` to the running server: `SIGSTOP` freezes it with its sockets open (connections and
   * writes still succeed, nothing is answered), `SIGCONT` lets it go on. Throws when it is stopped.
   */
  signal(signal: "SIGSTOP" | "SIGCONT"): void;
  /** A plain client for assertions (with the `--requirepass` password, if any); closed with the server. */
  client(): Promise<RedisClient>;
}

/** A loopback port that was free a moment ago: valkey-server cannot bind port 0 and report it back. */
/**
 * A loopback port that was free a moment ago, for a server that cannot bind port 0 and say which port it
 * got (valkey-server). It can be taken before the server binds it: start the server in a loop that picks
 * another port when the server says so, as {@link startValkey} does.
 */
export function pickPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** How many picked ports {@link startValkey} tries before it gives up. */
const PORT_TRIES = 5;

/** The picked port was taken by someone else before valkey-server could bind it. */
export class PortTakenError extends Error {}

/**
 * Waits until the valkey-server `proc` answers on `url`: an answer from another process that holds the
 * port does not count (its `process_id` is not ours). Rejects with {@link PortTakenError} when `proc`
 * exits because the port is in use, and with its log on any other exit or after `deadlineMs`.
 */
export async function waitForOwnServer(
  proc: Subprocess,
  url: string,
  logFile: string,
  deadlineMs: number,
  tls: { ca: string } | false,
): Promise<void> {
  const shown = url.replace(/\/\/[^@]*@/, "//");
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
      if (log.includes("Address already in use")) throw new PortTakenError(`${shown} is taken`);
      throw new Error(`valkey-server at ${shown} exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
    }
    const probe = new RedisClient(url, { autoReconnect: false, connectionTimeout: 500, tls });
    try {
      await probe.connect();
      const info = String(await probe.send("INFO", ["server"]));
      if (new RegExp(`^process_id:${proc.pid}\\s*$`, "m").test(info)) return;
    } catch {
      // Not listening yet, or not our server: look again.
    } finally {
      probe.close();
    }
    await Bun.sleep(25);
  }
  throw new Error(`valkey-server at ${shown} did not answer within ${deadlineMs} ms`);
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
 * only (no plain port), presenting `tls.cert`. valkey-server cannot bind port 0 and say which port it
 * got, so the port is picked beforehand; when someone takes it before the server binds it, another is
 * picked (a few times), so that race cannot fail a test.
 */
export async function startValkey(
  args: string[] = [],
  options: { readonly tls?: TestValkeyTls } = {},
): Promise<TestValkey> {
  if (!valkeyAvailable) throw new Error("valkey-server is not installed (apt-get install valkey-server)");
  const dir = mkdtempSync(join(tmpdir(), "krt-valkey-"));
  try {
    for (let tries = 1; ; tries++) {
      try {
        return await launchValkey(dir, pickPort(), args, options.tls);
      } catch (error) {
        if (!(error instanceof PortTakenError) || tries >= PORT_TRIES) throw error;
      }
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Starts valkey-server in `dir` on `port`; `stop()` and `start()` keep that port. */
async function launchValkey(
  dir: string,
  port: number,
  args: string[],
  tls: TestValkeyTls | undefined,
): Promise<TestValkey> {
  const passwordAt = args.indexOf("--requirepass");
  const password = passwordAt === -1 ? undefined : args[passwordAt + 1];
  const scheme = tls ? "rediss" : "redis";
  const url = password
    ? `${scheme}://:${encodeURIComponent(password)}@127.0.0.1:${port}`
    : `${scheme}://127.0.0.1:${port}`;
  const clientTls = tls ? { ca: tls.ca } : false;
  const listen = tls ? tlsArgs(dir, port, tls) : ["--port", String(port)];
  const logFile = join(dir, "valkey.log");
  const clients: RedisClient[] = [];
  let proc: Subprocess | undefined;
  const stop = async (options: { crash?: boolean } = {}) => {
    if (!proc) return;
    proc.kill(options.crash ? "SIGKILL" : "SIGTERM");
    // A server frozen with SIGSTOP would hold a SIGTERM until it is let go on.
    proc.kill("SIGCONT");
    await proc.exited;
    proc = undefined;
  };
  const launch = async () => {
    rmSync(logFile, { force: true });
    proc = Bun.spawn(
      [
        ...["valkey-server", ...listen, "--bind", "127.0.0.1", "--dir", dir, "--save", ""],
        ...["--logfile", logFile, ...args],
      ],
      { stdout: "ignore", stderr: "inherit" },
    );
    try {
      await waitForOwnServer(proc, url, logFile, 10_000, clientTls);
    } catch (error) {
      await stop({ crash: true });
      throw error;
    }
  };
  await launch();
  return {
    port,
    addr: `127.0.0.1:${port}`,
    url,
    stop,
    start: launch,
    signal(signal) {
      if (!proc) throw new Error("valkey-server is not running");
      proc.kill(signal);
    },
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
