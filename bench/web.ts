/**
 * The web's performance figures (issue 2): authenticated POST /event throughput and p99 of the compiled
 * binary under wrk at 32 keep-alive connections, beside the three limits measured at the same
 * concurrency in the same run (R_http, R_verify, R_valkey), the peak RSS under that load, and the cold
 * start to the first 202. Loopback only; every load is bounded in time and count. Needs `bun run build`
 * first and `wrk` (Debian package) on PATH. Runnable alone: `bun run bench/web.ts`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient, type Subprocess } from "bun";
import { createLocalJWKSet, jwtVerify } from "jose";
import { type JwksServer, startJwksServer } from "../tests/support/jwks-server.ts";
import { BINARY_PATH } from "../tests/support/spawn-binary.ts";
import {
  createTestKey,
  jwksOf,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_ORG,
} from "../tests/support/tokens.ts";
import { freePort, startValkey, type TestValkey } from "../tests/support/valkey-server.ts";

const CONNECTIONS = 32;
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = 1;
const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 1);
const COLD_START_RUNS = 5;
const LOOP_MAX_OPERATIONS = 2_000_000;
const EVENT_BODY = JSON.stringify({ image: "ghcr.io/acme/app", tags: ["v1.0.0"] });
const STREAM = "kuberollouttrigger";

interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
}

const format = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

function wrkScript(dir: string, token: string): string {
  const path = join(dir, "post-event.lua");
  writeFileSync(
    path,
    `wrk.method = "POST"
wrk.body = ${JSON.stringify(EVENT_BODY)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
`,
  );
  return path;
}

async function runWrk(url: string, script: string, seconds: number): Promise<WrkResult> {
  const args = [
    "wrk",
    `-t${WRK_THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "--latency",
    "-s",
    script,
    url,
  ];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", timeout: (seconds + 30) * 1000 });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const match = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (code !== 0 || !match) throw new Error(`wrk failed (${code}): ${err}${out}`);
  const [requests, durationUs, p50, p99, non2xx, socketErrors] = match.slice(1).map(Number) as number[];
  const secondsTaken = (durationUs ?? 0) / 1e6;
  return {
    requests: requests ?? 0,
    seconds: secondsTaken,
    rate: (requests ?? 0) / secondsTaken,
    p50Ms: (p50 ?? 0) / 1000,
    p99Ms: (p99 ?? 0) / 1000,
    non2xx: non2xx ?? 0,
    socketErrors: socketErrors ?? 0,
  };
}

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

function webEnv(valkey: TestValkey, jwks: JwksServer, port: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    VALKEY_ADDR: valkey.addr,
    ALLOWED_IMAGE_PREFIX: "ghcr.io/acme",
    WEB_LISTEN_ADDR: `127.0.0.1:${port}`,
    GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
    GITHUB_ALLOWED_ORG: TEST_ORG,
    GITHUB_OIDC_ISSUER: TEST_ISSUER,
    GITHUB_OIDC_JWKS_URL: jwks.url,
    ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
  };
}

/** Spawns the web binary with its log to /dev/null (log writes still cost the web what they cost in production). */
function spawnWeb(env: Record<string, string>): Subprocess {
  return Bun.spawn([BINARY_PATH, "web"], { env, stdin: "ignore", stdout: "ignore", stderr: "inherit" });
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
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const proc = spawnWeb(webEnv(valkey, jwks, port));
  try {
    while (performance.now() - started < 10_000) {
      if ((await postEvent(base, token)) === 202) return performance.now() - started;
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
    await runWrk(url, script, WARMUP_SECONDS);
    return await runWrk(url, script, LOAD_SECONDS);
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

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Runs the web bench and prints every figure with its target. */
export async function runWebBench(): Promise<void> {
  console.log("\n== web: POST /event ==");
  if (Bun.which("wrk") === null) {
    console.log("SKIPPED: wrk is not installed (apt-get install wrk); no web figures measured.");
    return;
  }
  if (!(await Bun.file(BINARY_PATH).exists())) {
    console.log(`SKIPPED: ${BINARY_PATH} is missing; run "bun run build" first.`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "krt-bench-web-"));
  await using valkey = await startValkey();
  await using jwks = startJwksServer();
  const key = await createTestKey();
  jwks.serve(jwksOf(key));
  const token = await signToken(key); // valid 5 minutes: longer than this bench runs
  const script = wrkScript(dir, token);
  try {
    const bare = await bareServerRate(dir, script);

    const keySet = createLocalJWKSet(jwksOf(key));
    const verifyOptions = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, algorithms: ["RS256"] };
    await closedLoopRate(() => jwtVerify(token, keySet, verifyOptions), 0.5);
    const verifyLoop = await closedLoopRate(() => jwtVerify(token, keySet, verifyOptions), 3);
    const rVerify = verifyLoop.rate;

    const client = new RedisClient(valkey.url);
    await client.connect();
    const acceptedAt = new Date().toISOString();
    const xadd = () =>
      client.send("XADD", [
        STREAM,
        "MAXLEN",
        "~",
        "100000",
        "*",
        "event",
        EVENT_BODY,
        "accepted_at",
        acceptedAt,
        "request_id",
        crypto.randomUUID(),
        "repository",
        "acme/app",
      ]);
    await closedLoopRate(xadd, 0.5);
    const rValkey = (await closedLoopRate(xadd, 3)).rate;
    client.close();

    const port = freePort();
    const web = spawnWeb(webEnv(valkey, jwks, port));
    let load: WrkResult;
    let rssMiB: number;
    let cpu: CpuUse;
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = performance.now() + 10_000;
      while ((await postEvent(base, token)) !== 202) {
        if (performance.now() > deadline) throw new Error("the web did not accept an event within 10 s");
        await Bun.sleep(5);
      }
      await runWrk(`${base}/event`, script, WARMUP_SECONDS);
      const before = cpuSnapshot(web.pid);
      load = await runWrk(`${base}/event`, script, LOAD_SECONDS);
      cpu = cpuSince(before, web.pid, load.requests);
      rssMiB = peakRssMiB(web.pid);
    } finally {
      web.kill("SIGTERM");
      await web.exited;
    }

    const coldStarts: number[] = [];
    for (let i = 0; i < COLD_START_RUNS; i++) coldStarts.push(await coldStartMs(valkey, jwks, token));

    const limit = 1 / (1 / bare.rate + 1 / rVerify + 1 / rValkey);
    const ratio = load.rate / limit;
    const rows: [string, string, string][] = [
      ["R_http (bare Bun.serve, 202)", `${format(bare.rate)} req/s`, `p99 ${format(bare.p99Ms, 2)} ms`],
      [
        "R_verify (jose jwtVerify, 32 in flight)",
        `${format(rVerify)} /s`,
        `${format(verifyLoop.cpuMicros, 1)} µs CPU each: WebCrypto runs on Bun's thread pool, so this rate uses more than one CPU`,
      ],
      ["R_valkey (XADD, 32 in flight)", `${format(rValkey)} /s`, ""],
      ["pipeline limit 1/(1/Rh+1/Rv+1/Rk)", `${format(limit)} req/s`, ""],
      [
        "web POST /event (wrk, 32 conns)",
        `${format(load.rate)} req/s`,
        `${format(load.requests)} requests in ${format(load.seconds, 1)} s`,
      ],
      ["ratio web / limit", format(ratio, 2), `target >= 0.7: ${ratio >= 0.7 ? "met" : "MISSED"}`],
      [
        "web p50 / p99 latency",
        `${format(load.p50Ms, 2)} / ${format(load.p99Ms, 2)} ms`,
        `target p99 < 10 ms: ${load.p99Ms < 10 ? "met" : "MISSED"}`,
      ],
      [
        "web CPU per request / machine busy",
        `${format(cpu.webMicrosPerRequest, 1)} µs`,
        `web process ${format(cpu.webPercent, 0)}% of one CPU; all ${navigator.hardwareConcurrency} CPUs ${format(cpu.machineBusyPercent, 0)}% busy (wrk, web, valkey)`,
      ],
      ["web non-2xx / socket errors", `${load.non2xx} / ${load.socketErrors}`, "should be 0 / 0"],
      [
        "web peak RSS (VmHWM)",
        `${format(rssMiB, 1)} MiB`,
        `target < 100 MiB: ${rssMiB < 100 ? "met" : "MISSED"}`,
      ],
      [
        "cold start to first 202 (median)",
        `${format(median(coldStarts), 1)} ms`,
        `runs: ${coldStarts.map((ms) => format(ms, 0)).join(", ")} ms; target < 300 ms: ${median(coldStarts) < 300 ? "met" : "MISSED"}`,
      ],
    ];
    for (const [name, value, note] of rows) console.log(`${name.padEnd(42)} ${value.padStart(16)}  ${note}`);
    console.log(
      `(wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${LOAD_SECONDS}s after a ${WARMUP_SECONDS} s warm-up; loopback; ${navigator.hardwareConcurrency} CPUs shared by wrk, the web and valkey-server; R_verify and R_valkey run without wrk beside them)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await runWebBench();
  process.exit(0);
}
