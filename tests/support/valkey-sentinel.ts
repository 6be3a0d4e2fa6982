import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient, type Subprocess } from "bun";
import {
  PortTakenError,
  pickPort,
  startValkey,
  type TestValkey,
  type TestValkeyTls,
  valkeyAvailable,
  waitForOwnServer,
} from "./valkey-server.ts";
import { waitFor } from "./wait-for.ts";

/** The master name the test sentinels monitor. */
export const TEST_MASTER = "krt-primary";

/** Whether this valkey-server runs as a sentinel (`--sentinel`); false when it is missing. */
export const sentinelAvailable = valkeyAvailable && supportsSentinel();

function supportsSentinel(): boolean {
  const probe = Bun.spawnSync(["valkey-server", "--sentinel"], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 5000,
  });
  // Without a config file a sentinel refuses to start, saying so; a build without sentinel says otherwise.
  return `${probe.stdout}${probe.stderr}`.includes("Sentinel needs config file");
}

/**
 * Skips a suite when valkey-server is missing or cannot run as a sentinel, with a clear message; with
 * `CI=true` it never skips.
 */
export function requireSentinel(): boolean {
  if (sentinelAvailable) return true;
  if (process.env.CI === "true") throw new Error("valkey-server with --sentinel is required in CI");
  console.warn(
    "SKIPPED: valkey-server is missing or cannot run as a sentinel (apt-get install valkey-server) to run these tests",
  );
  return false;
}

/** A primary, a replica and three sentinels on loopback: kill or stop nodes to make a failover. */
export interface TestSentinelSet extends AsyncDisposable {
  /** The node that was the primary at the start, then its replicas. */
  readonly nodes: readonly [TestValkey, TestValkey, ...TestValkey[]];
  /** `host:port` of each sentinel, comma-separated as VALKEY_SENTINEL_ADDRS takes them. */
  readonly sentinelAddrs: string;
  readonly sentinelPorts: readonly number[];
  /** The `host:port` the sentinels name as the primary now. */
  primaryAddr(): Promise<string>;
  /** Waits (bounded) until the sentinels name a primary other than `addr`; returns it. */
  waitForNewPrimary(addr: string, timeoutMs?: number): Promise<string>;
  /** Asks a sentinel to fail over now (`SENTINEL FAILOVER`), without waiting for it to end. */
  failover(): Promise<void>;
}

/** The options of {@link startSentinelSet}. */
export interface SentinelSetOptions {
  /** The sentinels' down-after-milliseconds: how long a silent primary is taken to be alive. */
  readonly downAfterMs?: number;
  /** Extra arguments of both data nodes (e.g. `--requirepass`). */
  readonly nodeArgs?: string[];
  /** How many replicas the primary has; default 1. */
  readonly replicas?: number;
  /** `requirepass` of the sentinels themselves. */
  readonly sentinelPassword?: string;
  /** TLS only, on data nodes and sentinels alike (and between them), with this certificate. */
  readonly tls?: TestValkeyTls;
}

/** The URL a client asks a sentinel on, with its password and TLS. */
function sentinelUrl(port: number, options: SentinelSetOptions): string {
  const auth = options.sentinelPassword ? `:${encodeURIComponent(options.sentinelPassword)}@` : "";
  return `${options.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`;
}

const clientTls = (options: SentinelSetOptions) => (options.tls ? { ca: options.tls.ca } : false);

async function ask(port: number, options: SentinelSetOptions, command: string, args: string[]) {
  const client = new RedisClient(sentinelUrl(port, options), {
    autoReconnect: false,
    connectionTimeout: 1000,
    tls: clientTls(options),
  });
  try {
    await client.connect();
    return await client.send(command, args);
  } finally {
    client.close();
  }
}

/** One sentinel of the set: its port and its fixed run ID, known to the others from the start. */
interface SentinelSeat {
  readonly port: number;
  readonly id: string;
}

/**
 * A sentinel's config: it monitors the primary and already knows the replica and the other sentinels,
 * so the set can fail over at once instead of after the seconds their discovery takes.
 */
function sentinelConfig(
  dir: string,
  seat: SentinelSeat,
  seats: readonly SentinelSeat[],
  ports: { primary: number; replicas: readonly number[] },
  options: SentinelSetOptions,
): string {
  const nodePassword = passwordOf(options.nodeArgs ?? []);
  const listen = options.tls
    ? [
        "port 0",
        `tls-port ${seat.port}`,
        ...tlsFiles(dir, options.tls),
        // The sentinels' own connections, to the data nodes and to each other, go over TLS too.
        "tls-replication yes",
      ]
    : [`port ${seat.port}`];
  return [
    ...listen,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `logfile ${logOf(dir, seat.port)}`,
    `sentinel myid ${seat.id}`,
    `sentinel monitor ${TEST_MASTER} 127.0.0.1 ${ports.primary} 2`,
    `sentinel down-after-milliseconds ${TEST_MASTER} ${options.downAfterMs ?? 500}`,
    `sentinel failover-timeout ${TEST_MASTER} 5000`,
    `sentinel parallel-syncs ${TEST_MASTER} 1`,
    ...ports.replicas.map((port) => `sentinel known-replica ${TEST_MASTER} 127.0.0.1 ${port}`),
    ...seats
      .filter((other) => other !== seat)
      .map((other) => `sentinel known-sentinel ${TEST_MASTER} 127.0.0.1 ${other.port} ${other.id}`),
    ...(nodePassword ? [`sentinel auth-pass ${TEST_MASTER} ${nodePassword}`] : []),
    ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`] : []),
    "",
  ].join("\n");
}

/** Writes the TLS files into `dir`; the config lines that name them. */
function tlsFiles(dir: string, tls: TestValkeyTls): string[] {
  const files = { "sentinel.crt": tls.cert, "sentinel.key": tls.key, "ca.crt": tls.ca };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem, { mode: 0o600 });
  return [
    `tls-cert-file ${join(dir, "sentinel.crt")}`,
    `tls-key-file ${join(dir, "sentinel.key")}`,
    `tls-ca-cert-file ${join(dir, "ca.crt")}`,
    "tls-auth-clients no",
  ];
}

const logOf = (dir: string, port: number) => join(dir, `sentinel-${port}.log`);

function passwordOf(args: string[]): string | undefined {
  const at = args.indexOf("--requirepass");
  return at === -1 ? undefined : args[at + 1];
}

/** A distinct port for each of `count` sentinels, free a moment ago. */
function pickSeats(count: number): SentinelSeat[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(pickPort());
  return [...ports].map((port) => ({
    port,
    id: Bun.randomUUIDv7("hex").replaceAll("-", "").padEnd(40, "0"),
  }));
}

/**
 * Starts three sentinels that know each other, on ports picked beforehand (all three again on other
 * ports when one was taken meanwhile, a few times).
 */
async function launchSentinels(
  dir: string,
  ports: { primary: number; replicas: readonly number[] },
  options: SentinelSetOptions,
): Promise<{ port: number; proc: Subprocess }[]> {
  for (let tries = 1; ; tries++) {
    const seats = pickSeats(3);
    const started: { port: number; proc: Subprocess }[] = [];
    try {
      for (const seat of seats) {
        const conf = join(dir, `sentinel-${seat.port}.conf`);
        writeFileSync(conf, sentinelConfig(dir, seat, seats, ports, options));
        const proc = Bun.spawn(["valkey-server", conf, "--sentinel"], {
          stdout: "ignore",
          stderr: "inherit",
        });
        started.push({ port: seat.port, proc });
        await waitForOwnServer(
          proc,
          sentinelUrl(seat.port, options),
          logOf(dir, seat.port),
          10_000,
          clientTls(options),
        );
      }
      return started;
    } catch (error) {
      for (const { proc } of started) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      if (!(error instanceof PortTakenError) || tries >= 5) throw error;
    }
  }
}

const addrOf = (reply: unknown) => (Array.isArray(reply) ? `${reply[0]}:${reply[1]}` : "");

/**
 * Starts a primary, its replica and three sentinels (quorum 2) on loopback, and waits (bounded) until
 * the replica is in sync and every sentinel knows the replica and the two other sentinels: only then
 * can a failover happen.
 */
export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<TestSentinelSet> {
  // Without the delay a replica syncs at once, not after the default 5 s wait for more replicas.
  const nodeArgs = ["--repl-diskless-sync-delay", "0", ...(options.nodeArgs ?? [])];
  const password = passwordOf(nodeArgs);
  const dir = mkdtempSync(join(tmpdir(), "krt-sentinel-"));
  const sentinels: { port: number; proc: Subprocess }[] = [];
  const nodes: TestValkey[] = [];
  const dispose = async () => {
    for (const { proc } of sentinels.splice(0)) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    for (const node of nodes.splice(0)) await node[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodeOptions = options.tls ? { tls: options.tls } : {};
    const tlsReplication = options.tls ? ["--tls-replication", "yes"] : [];
    const primary = await startValkey([...nodeArgs, ...tlsReplication], nodeOptions);
    nodes.push(primary);
    const auth = password ? ["--masterauth", password] : [];
    const replicas: TestValkey[] = [];
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const replicaOf = ["--replicaof", "127.0.0.1", String(primary.port)];
      const replica = await startValkey([...nodeArgs, ...tlsReplication, ...auth, ...replicaOf], nodeOptions);
      nodes.push(replica);
      replicas.push(replica);
    }
    const ports = { primary: primary.port, replicas: replicas.map((replica) => replica.port) };
    sentinels.push(...(await launchSentinels(dir, ports, options)));
    const askAny = async (command: string, args: string[]) => {
      let last: unknown;
      for (const { port } of sentinels) {
        try {
          return await ask(port, options, command, args);
        } catch (error) {
          last = error;
        }
      }
      throw last;
    };
    const replicaClients = await Promise.all(replicas.map((replica) => replica.client()));
    const everyoneKnown = async () => {
      for (const { port } of sentinels) {
        const peers = (await ask(port, options, "SENTINEL", ["SENTINELS", TEST_MASTER])) as unknown[];
        const known = (await ask(port, options, "SENTINEL", ["REPLICAS", TEST_MASTER])) as unknown[];
        if (peers.length < 2 || known.length < replicaClients.length) return false;
      }
      for (const client of replicaClients) {
        const info = String(await client.send("INFO", ["replication"]));
        if (!info.includes("master_link_status:up")) return false;
      }
      return true;
    };
    await waitFor(everyoneKnown, "the sentinels to know each other and the replica", 15_000, 20);
    const primaryAddr = async () =>
      addrOf(await askAny("SENTINEL", ["GET-MASTER-ADDR-BY-NAME", TEST_MASTER]));
    return {
      nodes: [primary, ...(replicas as [TestValkey, ...TestValkey[]])],
      sentinelAddrs: sentinels.map(({ port }) => `127.0.0.1:${port}`).join(","),
      sentinelPorts: sentinels.map(({ port }) => port),
      primaryAddr,
      async waitForNewPrimary(addr, timeoutMs = 15_000) {
        let now = addr;
        await waitFor(
          async () => {
            now = await primaryAddr();
            return now !== addr && now !== ":";
          },
          `the sentinels to name a primary other than ${addr}`,
          timeoutMs,
          50,
        );
        return now;
      },
      async failover() {
        await askAny("SENTINEL", ["FAILOVER", TEST_MASTER]);
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** A sentinel on its own, for a resolver to ask: it names whatever node it was told to monitor. */
export interface TestLoneSentinel extends AsyncDisposable {
  readonly port: number;
}

/**
 * Starts one sentinel (quorum 1, no peers) that monitors {@link TEST_MASTER} at `127.0.0.1:<port>`. Told
 * a replica's port, it is a stale sentinel: it names that replica as the primary (a lone sentinel cannot
 * fail over: the replica has no replicas of its own to promote).
 */
export async function startLoneSentinel(port: number): Promise<TestLoneSentinel> {
  const dir = mkdtempSync(join(tmpdir(), "krt-lone-sentinel-"));
  for (let tries = 1; ; tries++) {
    const [seat] = pickSeats(1) as [SentinelSeat];
    const conf = join(dir, `sentinel-${seat.port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${seat.port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `logfile ${logOf(dir, seat.port)}`,
        `sentinel monitor ${TEST_MASTER} 127.0.0.1 ${port} 1`,
        "",
      ].join("\n"),
    );
    const proc = Bun.spawn(["valkey-server", conf, "--sentinel"], { stdout: "ignore", stderr: "inherit" });
    const dispose = async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    };
    try {
      await waitForOwnServer(proc, sentinelUrl(seat.port, {}), logOf(dir, seat.port), 10_000, false);
      return {
        port: seat.port,
        [Symbol.asyncDispose]: async () => {
          await dispose();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await dispose();
      if (!(error instanceof PortTakenError) || tries >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

/** How many connections sentinel `port` has accepted so far (`INFO stats`). */
export async function sentinelConnectionsReceived(port: number): Promise<number> {
  const info = String(await ask(port, {}, "INFO", ["stats"]));
  return Number(/total_connections_received:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}
