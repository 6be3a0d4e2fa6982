/**
 * The web's performance figures (issues 2 and 11): authenticated POST /event throughput and p99 of the
 * compiled binary under wrk at 32 keep-alive connections, every request with a token of its own (a new
 * event each, the rate limit off), beside the three limits measured at the same concurrency just before
 * it (R_http, R_verify, R_valkey with the web's own admission script), in BENCH_ROUNDS rounds (default 5)
 * whose median ratio is reported with every round's; the replay path (one token sent again and again) on
 * its own line; the peak RSS under that load, and the cold start to the first 202. Loopback only; every
 * load is bounded in time and count. Needs `bun run build` first and `wrk` (Debian package) on PATH.
 * Runnable alone: `bun run bench/web.ts`; BENCH_BINARY measures another build of the binary instead.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient, type Subprocess } from "bun";
import { createLocalJWKSet, jwtVerify } from "jose";
import { ADMIT_SCRIPT, ADMIT_SCRIPT_SHA, admitArgv, admitKeys } from "../src/adapters/valkey/admit-script.ts";
import { type JwksServer, startJwksServer } from "../tests/support/jwks-server.ts";
import { BINARY_PATH } from "../tests/support/spawn-binary.ts";
import {
  createTestKey,
  jwksOf,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
  type TestKey,
} from "../tests/support/tokens.ts";
import { startValkey, type TestValkey } from "../tests/support/valkey-server.ts";
import { createTokenPool, type TokenPool } from "./token-pool.ts";
import { distinctTokenScript, oneTokenScript, runWrk, type WrkLoad, type WrkResult } from "./wrk.ts";

const CONNECTIONS = 32;
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = 1;
const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 1);
const COLD_START_RUNS = 5;
/** Rounds of limits-then-web; the figures are the median round's, so one slow moment moves none of them. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const LOOP_MAX_OPERATIONS = 2_000_000;
const EVENT_BODY = JSON.stringify({ image: "ghcr.io/acme/app", tags: ["v1.0.0"] });
const STREAM = "kuberollouttrigger";
const WRK_LOAD: WrkLoad = { connections: CONNECTIONS, threads: WRK_THREADS };
/** The binary measured: the build of this tree, or BENCH_BINARY (another build, to compare). */
const WEB_BINARY = process.env.BENCH_BINARY ?? BINARY_PATH;
/** Tokens signed before the first round: R_http's load reads them (a bare server ignores them). */
const FIRST_POOL_TOKENS = 4096;
/** The pool holds this many times the tokens the replay load's rate says a load needs. */
const POOL_HEADROOM = 1.5;

const format = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });
const ratioText = (ratio: number) => ratio.toFixed(2);

/** Runs `operation` with `CONNECTIONS` in flight until `seconds` pass or the count bound; operations per second. */
interface LoopRate {
  /** Operations per second of wall time. */
  readonly rate: number;
  /** CPU time this process spent per operation (all its threads), in microseconds. */
  readonly cpuMicros: number;
}

async function closedLoopRate(operation: () => Promise<unknown>, seconds: number): Promise<LoopRate> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const lane = async () => {
    while (performance.now() < deadline && done < LOOP_MAX_OPERATIONS) {
      await operation();
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, lane));
  const cpu = process.cpuUsage(cpuBefore);
  return {
    rate: done / ((performance.now() - started) / 1000),
    cpuMicros: (cpu.user + cpu.system) / Math.max(1, done),
  };
}

function webEnv(valkey: TestValkey, jwks: JwksServer): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    VALKEY_ADDR: valkey.addr,
    ALLOWED_IMAGE_PREFIX: "ghcr.io/acme",
    WEB_LISTEN_ADDR: "127.0.0.1:0",
    GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
    GITHUB_ALLOWED_ORG: TEST_ORG,
    GITHUB_OIDC_ISSUER: TEST_ISSUER,
    GITHUB_OIDC_JWKS_URL: jwks.url,
    ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
  };
}

/** Spawns the web binary with its log to /dev/null (log writes still cost the web what they cost in production). */
function spawnWeb(env: Record<string, string>): Subprocess {
  return Bun.spawn([WEB_BINARY, "web"], { env, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
}

/**
 * The loopback URL base of the TCP port `pid` listens on, read back from the kernel (its socket inodes
 * in /proc/<pid>/fd, their LISTEN row in /proc/net/tcp); undefined until it listens. The web binds port
 * 0 and says where in its log, but that log goes to /dev/null here, as measured.
 */
function listeningBase(pid: number): string | undefined {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: "utf8" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // closed since the listing
      throw error;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  for (const row of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    // sl, local_address (hex IP:port), rem_address, st (0A: LISTEN), tx:rx, tr:when, retrnsmt, uid, timeout, inode
    const [, local, , state, , , , , , inode] = row.trim().split(/\s+/);
    if (state === "0A" && inode !== undefined && inodes.has(inode)) {
      return `http://127.0.0.1:${Number.parseInt(local?.split(":")[1] ?? "", 16)}`;
    }
  }
  return undefined;
}

async function postEvent(base: string, token: string): Promise<number> {
  try {
    const response = await fetch(`${base}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: EVENT_BODY,
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Spawns the web and times spawn → first 202 on /event, bounded by 10 s. */
async function coldStartMs(valkey: TestValkey, jwks: JwksServer, token: string): Promise<number> {
  const started = performance.now();
  const proc = spawnWeb(webEnv(valkey, jwks));
  try {
    while (performance.now() - started < 10_000) {
      const base = listeningBase(proc.pid);
      if (base !== undefined && (await postEvent(base, token)) === 202) return performance.now() - started;
      await Bun.sleep(1);
    }
    throw new Error("the web did not answer 202 within 10 s");
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

async function bareServerRate(dir: string, script: string): Promise<WrkResult> {
  const path = join(dir, "bare-server.ts");
  writeFileSync(
    path,
    `const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response('{"status":"accepted"}', { status: 202, headers: { "content-type": "application/json" } }) });
console.log(server.port);`,
  );
  const proc = Bun.spawn([process.execPath, path], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    reader.releaseLock();
    const port = Number(new TextDecoder().decode(first.value).trim());
    const url = `http://127.0.0.1:${port}/event`;
    await runWrk(url, script, WARMUP_SECONDS, WRK_LOAD);
    return await runWrk(url, script, LOAD_SECONDS, WRK_LOAD);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

interface CpuSnapshot {
  readonly at: number;
  readonly webTicks: number;
  readonly machineBusy: number;
  readonly machineTotal: number;
}

interface CpuUse {
  readonly webMicrosPerRequest: number;
  readonly webPercent: number;
  readonly machineBusyPercent: number;
}

const TICKS_PER_SECOND = 100;

/** CPU time so far of `pid` (utime + stime, in ticks) and of the whole machine, from /proc. */
function cpuSnapshot(pid: number): CpuSnapshot {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const webTicks = Number(fields[11]) + Number(fields[12]);
  const cpuLine = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const machineTotal = cpuLine.reduce((sum, value) => sum + value, 0);
  const idle = (cpuLine[3] ?? 0) + (cpuLine[4] ?? 0);
  return { at: performance.now(), webTicks, machineBusy: machineTotal - idle, machineTotal };
}

/** What `pid` and the machine spent since `before`, per request of the load. */
function cpuSince(before: CpuSnapshot, pid: number, requests: number): CpuUse {
  const after = cpuSnapshot(pid);
  const webSeconds = (after.webTicks - before.webTicks) / TICKS_PER_SECOND;
  const wallSeconds = (after.at - before.at) / 1000;
  return {
    webMicrosPerRequest: (webSeconds * 1e6) / Math.max(1, requests),
    webPercent: (webSeconds / wallSeconds) * 100,
    machineBusyPercent:
      ((after.machineBusy - before.machineBusy) / Math.max(1, after.machineTotal - before.machineTotal)) *
      100,
  };
}

/** The item in the middle once sorted by `value` (the upper one of an even count). */
function medianBy<T>(items: readonly T[], value: (item: T) => number): T | undefined {
  return [...items].sort((a, b) => value(a) - value(b))[Math.floor(items.length / 2)];
}

const median = (values: readonly number[]) => medianBy(values, (v) => v) ?? Number.NaN;

/** The web's rate over the pipeline limit that issue 2 asks for. */
const RATIO_TARGET = 0.7;

/** Everything one round measures: the three limits, then the web under the same load. */
interface Round {
  readonly bare: WrkResult;
  readonly verifyLoop: LoopRate;
  readonly rValkey: number;
  readonly limit: number;
  /** The web with a new token per request: a new event each. */
  readonly load: WrkResult;
  /** The web with one token again and again: a replay each, after the first. */
  readonly replay: WrkResult;
  /** Stream entries the new-token load added: one per request answered (and any still in flight). */
  readonly added: number;
  /** Stream entries the replay load added: none, since its token's one event came before it. */
  readonly replayAdded: number;
  readonly cpu: CpuUse;
  readonly rssMiB: number;
  readonly ratio: number;
}

/** What every round uses: Valkey, the JWKS, the signing key and the pool of distinct tokens. */
interface BenchSetup {
  readonly dir: string;
  readonly valkey: TestValkey;
  readonly admin: RedisClient;
  readonly jwks: JwksServer;
  readonly key: TestKey;
  readonly pool: TokenPool;
  /** The wrk script that posts the pool's tokens, one per request. */
  readonly script: string;
}

async function verifyRate(setup: BenchSetup): Promise<LoopRate> {
  const keySet = createLocalJWKSet(jwksOf(setup.key));
  const verifyOptions = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ["RS256"] };
  const { tokens } = setup.pool;
  let next = 0;
  const verify = () => jwtVerify(tokens[next++ % tokens.length] as string, keySet, verifyOptions);
  await closedLoopRate(verify, 0.5);
  return closedLoopRate(verify, 3);
}

/**
 * Valkey's rate for what the web asks of it per event: the admission script (ADMIT_SCRIPT, by EVALSHA as
 * the web sends it) with a new jti each time, the rate limit off, and the web's stream entry fields.
 */
async function valkeyRate(setup: BenchSetup): Promise<number> {
  const client = new RedisClient(setup.valkey.url);
  await client.connect();
  await client.send("SCRIPT", ["LOAD", ADMIT_SCRIPT]);
  const [seconds = 0] = ((await client.send("TIME", [])) as unknown[]).map(Number);
  const deadline = (seconds + 3600) * 1000;
  const acceptedAt = new Date().toISOString();
  const admit = () => {
    const requestId = crypto.randomUUID();
    const keys = admitKeys(STREAM, requestId, "acme/app");
    const fields = [
      "event",
      EVENT_BODY,
      "accepted_at",
      acceptedAt,
      "request_id",
      requestId,
      "repository",
      "acme/app",
    ];
    const args = admitArgv({
      mode: "stream",
      deadlineMs: deadline,
      jtiTtlMs: 600_000,
      payload: EVENT_BODY,
      rateLimit: 0,
      rateWindowMs: 60_000,
      streamMaxLen: 100_000,
      replicaAcks: false,
      fields,
    });
    return client.send("EVALSHA", [ADMIT_SCRIPT_SHA, "3", ...keys, ...args]);
  };
  try {
    await closedLoopRate(admit, 0.5);
    return (await closedLoopRate(admit, 3)).rate;
  } finally {
    client.close();
  }
}

/** How many entries the stream has ever had added (trimming does not lower it). */
async function entriesAdded(admin: RedisClient): Promise<number> {
  const info = (await admin.send("XINFO", ["STREAM", STREAM])) as Record<string, unknown>;
  return Number(info["entries-added"]);
}

/** The compiled web under wrk: the replay path, then a new token per request, its CPU and peak RSS. */
async function webUnderLoad(
  setup: BenchSetup,
): Promise<Pick<Round, "load" | "replay" | "added" | "replayAdded" | "cpu" | "rssMiB">> {
  // The pool's tokens are new to an empty Valkey: no request of the load is a replay.
  await setup.admin.send("FLUSHALL", []);
  const web = spawnWeb(webEnv(setup.valkey, setup.jwks));
  try {
    const replayToken = await signToken(setup.key);
    const deadline = performance.now() + 10_000;
    let base = listeningBase(web.pid);
    while (base === undefined || (await postEvent(base, replayToken)) !== 202) {
      if (performance.now() > deadline) throw new Error("the web did not accept an event within 10 s");
      await Bun.sleep(5);
      base = listeningBase(web.pid);
    }
    const url = `${base}/event`;
    const replayScript = oneTokenScript(setup.dir, replayToken, EVENT_BODY);
    await runWrk(url, replayScript, WARMUP_SECONDS, WRK_LOAD);
    const replayBefore = await entriesAdded(setup.admin);
    const replay = await runWrk(url, replayScript, LOAD_SECONDS, WRK_LOAD);
    const replayAdded = (await entriesAdded(setup.admin)) - replayBefore;
    // A new event costs the web about what a replay does: size the pool from the replay's rate.
    await setup.pool.ensure(replay.rate * LOAD_SECONDS * POOL_HEADROOM);
    const entriesBefore = await entriesAdded(setup.admin);
    const before = cpuSnapshot(web.pid);
    const load = await runWrk(url, setup.script, LOAD_SECONDS, WRK_LOAD);
    const cpu = cpuSince(before, web.pid, load.requests);
    const added = (await entriesAdded(setup.admin)) - entriesBefore;
    return { load, replay, added, replayAdded, cpu, rssMiB: peakRssMiB(web.pid) };
  } finally {
    web.kill("SIGTERM");
    await web.exited;
  }
}

/** One round: the limits and the web measured back to back, so that one ratio shares one machine state. */
async function measureRound(setup: BenchSetup): Promise<Round> {
  const bare = await bareServerRate(setup.dir, setup.script);
  const verifyLoop = await verifyRate(setup);
  const rValkey = await valkeyRate(setup);
  const limit = 1 / (1 / bare.rate + 1 / verifyLoop.rate + 1 / rValkey);
  const web = await webUnderLoad(setup);
  return { bare, verifyLoop, rValkey, limit, ...web, ratio: web.load.rate / limit };
}

const verdict = (met: boolean) => (met ? "met" : "MISSED");

/** The table: the round of median ratio in full, every round's ratio, the worst p99 and RSS of all. */
function printFigures(rounds: readonly Round[], coldStarts: readonly number[], pool: TokenPool): void {
  const mid = medianBy(rounds, (r) => r.ratio) as Round;
  const worstP99 = Math.max(...rounds.map((r) => r.load.p99Ms));
  const peakRss = Math.max(...rounds.map((r) => r.rssMiB));
  const coldMedian = median(coldStarts);
  const met = rounds.filter((r) => r.ratio >= RATIO_TARGET).length;
  const rows: [string, string, string][] = [
    ["R_http (bare Bun.serve, 202)", `${format(mid.bare.rate)} req/s`, `p99 ${format(mid.bare.p99Ms, 2)} ms`],
    [
      "R_verify (jose jwtVerify, 32 in flight)",
      `${format(mid.verifyLoop.rate)} /s`,
      `${format(mid.verifyLoop.cpuMicros, 1)} µs CPU each: WebCrypto runs on Bun's thread pool, so this rate uses more than one CPU`,
    ],
    [
      "R_valkey (admission EVALSHA, 32 in flight)",
      `${format(mid.rValkey)} /s`,
      "the web's script, a new jti each",
    ],
    ["pipeline limit 1/(1/Rh+1/Rv+1/Rk)", `${format(mid.limit)} req/s`, ""],
    [
      "web POST /event, a new token each",
      `${format(mid.load.rate)} req/s`,
      `${format(mid.load.requests)} requests in ${format(mid.load.seconds, 1)} s added ${format(mid.added)} entries (wrk, 32 conns; rate limit off)`,
    ],
    [
      "web POST /event, replay of one token",
      `${format(mid.replay.rate)} req/s`,
      `p50 / p99 ${format(mid.replay.p50Ms, 2)} / ${format(mid.replay.p99Ms, 2)} ms; ${format(mid.replay.requests)} requests with the same token and event added ${format(mid.replayAdded)} entries`,
    ],
    [
      "ratio web / limit (median round)",
      ratioText(mid.ratio),
      `target >= ${RATIO_TARGET}: ${verdict(mid.ratio >= RATIO_TARGET)}; rounds: ${rounds.map((r) => ratioText(r.ratio)).join(", ")} (met in ${met} of ${rounds.length})`,
    ],
    [
      "web p50 / p99 latency",
      `${format(mid.load.p50Ms, 2)} / ${format(mid.load.p99Ms, 2)} ms`,
      `target p99 < 10 ms: ${verdict(worstP99 < 10)} (worst round ${format(worstP99, 2)} ms)`,
    ],
    [
      "web CPU per request / machine busy",
      `${format(mid.cpu.webMicrosPerRequest, 1)} µs`,
      `web process ${format(mid.cpu.webPercent, 0)}% of one CPU; all ${navigator.hardwareConcurrency} CPUs ${format(mid.cpu.machineBusyPercent, 0)}% busy (wrk, web, valkey)`,
    ],
    [
      "web non-2xx / socket errors / reused jti",
      `${sum(rounds, (r) => r.load.non2xx + r.replay.non2xx)} / ${sum(rounds, (r) => r.load.socketErrors + r.replay.socketErrors)} / ${sum(rounds, (r) => r.load.repeatedTokens)}`,
      "all rounds; should be 0 / 0 / 0 (a token sent twice in the new-token load would be a replay)",
    ],
    [
      "web peak RSS (VmHWM, highest round)",
      `${format(peakRss, 1)} MiB`,
      `target < 100 MiB: ${verdict(peakRss < 100)}`,
    ],
    [
      "cold start to first 202 (median)",
      `${format(coldMedian, 1)} ms`,
      `runs: ${coldStarts.map((ms) => format(ms, 0)).join(", ")} ms; target < 300 ms: ${verdict(coldMedian < 300)}`,
    ],
  ];
  for (const [name, value, note] of rows) console.log(`${name.padEnd(42)} ${value.padStart(16)}  ${note}`);
  rounds.forEach((r, i) => {
    const limits = `R_http ${format(r.bare.rate)}, R_verify ${format(r.verifyLoop.rate)}, R_valkey ${format(r.rValkey)}`;
    console.log(
      `  round ${i + 1}: ${limits} -> limit ${format(r.limit)}; web ${format(r.load.rate)} req/s, ${format(r.cpu.webMicrosPerRequest, 1)} µs CPU each -> ${ratioText(r.ratio)}; replay ${format(r.replay.rate)} req/s`,
    );
  });
  console.log(
    `(${rounds.length} rounds, each measuring the limits and then the web back to back; wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${LOAD_SECONDS}s, the replay after a ${WARMUP_SECONDS} s warm-up and the new-token load after it; loopback; ${navigator.hardwareConcurrency} CPUs shared by wrk, the web and valkey-server; R_verify and R_valkey run without wrk beside them)`,
  );
  console.log(
    `(${format(pool.tokens.length)} distinct tokens, signed in ${format(pool.signingSeconds, 1)} s before the loads and used again in each round after Valkey is emptied${WEB_BINARY === BINARY_PATH ? "" : `; binary ${WEB_BINARY}`})`,
  );
}

const sum = (rounds: readonly Round[], pick: (round: Round) => number) =>
  rounds.reduce((total, round) => total + pick(round), 0);

/** Runs the web bench and prints every figure with its target. */
export async function runWebBench(): Promise<void> {
  console.log("\n== web: POST /event ==");
  if (Bun.which("wrk") === null) {
    console.log("SKIPPED: wrk is not installed (apt-get install wrk); no web figures measured.");
    return;
  }
  if (!(await Bun.file(WEB_BINARY).exists())) {
    console.log(`SKIPPED: ${WEB_BINARY} is missing; run "bun run build" first.`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "krt-bench-web-"));
  await using valkey = await startValkey();
  await using jwks = startJwksServer();
  const key = await createTestKey();
  jwks.serve(jwksOf(key));
  const admin = await valkey.client();
  const pool = createTokenPool(key, dir);
  await pool.ensure(Math.max(FIRST_POOL_TOKENS, WRK_THREADS));
  const script = distinctTokenScript(dir, pool.path, EVENT_BODY, WRK_THREADS);
  const setup: BenchSetup = { dir, valkey, admin, jwks, key, pool, script };
  try {
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await measureRound(setup));
    const coldStarts: number[] = [];
    for (let i = 0; i < COLD_START_RUNS; i++)
      coldStarts.push(await coldStartMs(valkey, jwks, await signToken(key)));
    printFigures(rounds, coldStarts, pool);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await runWebBench();
  process.exit(0);
}
