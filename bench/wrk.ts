/**
 * wrk for the web bench: the Lua scripts that post events (a new token per request from a file, or one
 * token over and over) and a runner that reads back one RESULT line. Loopback only; every run is bounded
 * by its duration and a timeout.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** What one wrk run measured. */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  /** Requests that had to send a token again because the file ran out (the replay path, not a new event). */
  readonly repeatedTokens: number;
}

/** How wrk loads the server. */
export interface WrkLoad {
  readonly connections: number;
  readonly threads: number;
}

const RESULT_FUNCTION = `
done = function(summary, latency, requests)
  local e = summary.errors
  local repeated = 0
  for _, thread in ipairs(threads) do repeated = repeated + (thread:get("repeated") or 0) end
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout, repeated))
end
`;

/**
 * A script posting `body` with the next token of `tokensPath` (one per line) on every request: wrk's
 * thread i of `threads` takes lines i+1, i+1+threads, …, so no two requests share one. When the file runs
 * out a thread starts over, and counts every such request as repeated.
 */
export function distinctTokenScript(dir: string, tokensPath: string, body: string, threads: number): string {
  const path = join(dir, "post-distinct-tokens.lua");
  writeFileSync(
    path,
    `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
threads = {}
setup = function(thread)
  thread:set("first", #threads)
  table.insert(threads, thread)
end
init = function(args)
  tokens = {}
  for line in io.lines(${JSON.stringify(tokensPath)}) do tokens[#tokens + 1] = line end
  index = first + 1
  repeated = 0
  wrapped = false
end
request = function()
  if index > #tokens then
    index = first + 1
    wrapped = true
  end
  if wrapped then repeated = repeated + 1 end
  wrk.headers["Authorization"] = "Bearer " .. tokens[index]
  index = index + ${threads}
  return wrk.format()
end
${RESULT_FUNCTION}`,
  );
  return path;
}

/** A script posting `body` with `token` on every request: after the first, each is a replay. */
export function oneTokenScript(dir: string, token: string, body: string): string {
  const path = join(dir, "post-one-token.lua");
  writeFileSync(
    path,
    `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${token}"
threads = {}
setup = function(thread) table.insert(threads, thread) end
${RESULT_FUNCTION}`,
  );
  return path;
}

/** Runs wrk with `script` against `url` for `seconds`; throws when wrk fails or says nothing. */
export async function runWrk(
  url: string,
  script: string,
  seconds: number,
  load: WrkLoad,
): Promise<WrkResult> {
  const args = [
    "wrk",
    `-t${load.threads}`,
    `-c${load.connections}`,
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
  const match = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (code !== 0 || !match) throw new Error(`wrk failed (${code}): ${err}${out}`);
  const [requests = 0, durationUs = 0, p50 = 0, p99 = 0, non2xx = 0, socketErrors = 0, repeated = 0] = match
    .slice(1)
    .map(Number);
  const secondsTaken = durationUs / 1e6;
  return {
    requests,
    seconds: secondsTaken,
    rate: requests / secondsTaken,
    p50Ms: p50 / 1000,
    p99Ms: p99 / 1000,
    non2xx,
    socketErrors,
    repeatedTokens: repeated,
  };
}
