import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** Where `bun run build` writes the compiled binary. */
export const BINARY_PATH = join(import.meta.dir, "..", "..", "dist", "kuberollouttrigger");

/** The compiled binary's path; throws a clear error when it has not been built. */
export function binaryPath(): string {
  if (!existsSync(BINARY_PATH)) {
    throw new Error(
      `${BINARY_PATH} is missing: run "bun run build" first (bun run test does it before bun test)`,
    );
  }
  return BINARY_PATH;
}

/**
 * Whether the compiled binary exists, for `describe.skipIf`: off CI a missing binary skips with a clear
 * message; in CI (`CI=true`) it fails instead, since CI must never skip.
 */
export function requireBinary(): boolean {
  if (existsSync(BINARY_PATH)) return true;
  const message = `${BINARY_PATH} is missing: run "bun run build" first (bun run test does it before bun test)`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`SKIPPED: ${message}`);
  return false;
}

/** A JSON log line of the binary. */
export type LogLine = Record<string, unknown>;

/** A running binary whose stdout is read as JSON log lines. */
export interface SpawnedBinary extends AsyncDisposable {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Every stdout line that parsed as a JSON object, in order. */
  readonly lines: LogLine[];
  /** Every stdout line as written. */
  readonly rawLines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves the first line (already seen or still to come) that satisfies `predicate`; rejects on timeout or exit. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` (default SIGTERM) and resolves the exit code; SIGKILL after `timeoutMs` (default 15 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

async function collectLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
  if (pending !== "") onLine(pending);
}

/**
 * Spawns `dist/kuberollouttrigger <args>` with only `env` (plus PATH) as its environment, reading its
 * stdout as JSON log lines. Dispose with `await using`: the process is killed if still running.
 */
export function spawnBinary(args: readonly string[], env: Readonly<Record<string, string>>): SpawnedBinary {
  const proc = Bun.spawn([binaryPath(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: LogLine[] = [];
  const rawLines: string[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  const stdoutDone = collectLines(proc.stdout, (line) => {
    rawLines.push(line);
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed))
        lines.push(parsed as LogLine);
    } catch {
      // Not a log line (e.g. dev-token's output); kept in rawLines.
    }
    notify();
  });
  const stderrDone = (async () => {
    for await (const chunk of proc.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  void proc.exited.then(notify);

  function waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find(predicate);
        if (found) return finish(() => resolve(found));
        if (proc.exitCode !== null || proc.signalCode !== null) {
          finish(() =>
            reject(
              new Error(`the binary exited (${proc.exitCode ?? proc.signalCode}) first; stderr: ${stderr}`),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`no matching log line within ${timeoutMs} ms: ${rawLines.join("\n")}`)),
          ),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  }

  async function stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<number> {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    const code = await proc.exited;
    clearTimeout(timer);
    await Promise.all([stdoutDone, stderrDone]);
    return code;
  }

  return {
    proc,
    lines,
    rawLines,
    stderr: () => stderr,
    waitForLog,
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL", 5000);
    },
  };
}

/** Runs the binary to completion within `timeoutMs`, for short commands (`version`, `dev-token`, …). */
export async function runBinary(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 10_000,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([binaryPath(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** The `host:port` of a `web listening` line's `addr`, as a URL base on loopback. */
export function baseUrlOf(listening: LogLine): string {
  const addr = String(listening.addr);
  const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in addr "${addr}"`);
  return `http://127.0.0.1:${port}`;
}

/** A worker's health server as a URL base, read back from its log (for `WORKER_HEALTH_ADDR=127.0.0.1:0`). */
export async function workerHealthUrl(worker: SpawnedBinary, timeoutMs = 20_000): Promise<string> {
  return baseUrlOf(await worker.waitForLog((l) => l.msg === "worker health listening", timeoutMs));
}
