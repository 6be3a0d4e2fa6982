import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { MetricsRegistry } from "../core/metrics.ts";

/** Options of {@link registerProcessMetrics}; the defaults read this process. */
export interface ProcessMetricsOptions {
  /** Where the process's `/proc` entries are (`stat`, `limits`, `fd/`); default `/proc/self`. */
  readonly procDir?: string;
  /** Total user and system CPU time in microseconds; default `process.cpuUsage()`. */
  readonly cpuMicros?: () => number;
  /** Resident memory in bytes; default `process.memoryUsage.rss()`. */
  readonly residentBytes?: () => number;
  /** When the process started, in seconds since the epoch; default now minus `process.uptime()`. */
  readonly startTimeSeconds?: number;
}

/** The fields of `/proc/<pid>/stat` after the command name, which may hold spaces and parentheses. */
function statFields(text: string): string[] {
  return text
    .slice(text.lastIndexOf(")") + 2)
    .trim()
    .split(" ");
}

/** `vsize` is field 23 of stat; the fields after the command name start at field 3 (`state`). */
const VSIZE_INDEX = 23 - 3;

/** The soft limit of `Max open files` in `/proc/<pid>/limits`; `unlimited` is +Inf. */
export function parseMaxFds(limits: string): number | undefined {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

/** The virtual memory size in bytes from `/proc/<pid>/stat`. */
export function parseVirtualMemoryBytes(stat: string): number {
  return Number(statFields(stat)[VSIZE_INDEX]);
}

/**
 * Declares on `registry` the process metrics that Prometheus client libraries export, under their
 * names, each read when the registry renders: `process_cpu_seconds_total`,
 * `process_resident_memory_bytes` and `process_start_time_seconds` everywhere, and, where `/proc` has
 * them (Linux), `process_virtual_memory_bytes`, `process_open_fds` and `process_max_fds`.
 */
export function registerProcessMetrics(registry: MetricsRegistry, options: ProcessMetricsOptions = {}): void {
  const procDir = options.procDir ?? "/proc/self";
  const cpuMicros =
    options.cpuMicros ??
    (() => {
      const { user, system } = process.cpuUsage();
      return user + system;
    });
  const residentBytes = options.residentBytes ?? (() => process.memoryUsage.rss());
  const started = options.startTimeSeconds ?? Date.now() / 1000 - process.uptime();
  const one = (read: () => number | undefined) => () => {
    const value = read();
    return value === undefined ? [] : [{ value }];
  };
  registry.computed(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
    "counter",
    [],
    one(() => cpuMicros() / 1e6),
  );
  registry.computed(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    "gauge",
    [],
    one(residentBytes),
  );
  registry.computed(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    "gauge",
    [],
    one(() => Math.round(started * 1000) / 1000),
  );
  if (existsSync(`${procDir}/stat`))
    registry.computed(
      "process_virtual_memory_bytes",
      "Virtual memory size in bytes.",
      "gauge",
      [],
      one(() => parseVirtualMemoryBytes(readFileSync(`${procDir}/stat`, "utf8"))),
    );
  if (existsSync(`${procDir}/fd`))
    registry.computed(
      "process_open_fds",
      "Number of open file descriptors.",
      "gauge",
      [],
      one(() => readdirSync(`${procDir}/fd`).length),
    );
  if (existsSync(`${procDir}/limits`))
    registry.computed(
      "process_max_fds",
      "Maximum number of open file descriptors.",
      "gauge",
      [],
      one(() => parseMaxFds(readFileSync(`${procDir}/limits`, "utf8"))),
    );
}
