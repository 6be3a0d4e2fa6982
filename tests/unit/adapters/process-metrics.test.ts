import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  parseMaxFds,
  parseVirtualMemoryBytes,
  registerProcessMetrics,
} from "../../../src/adapters/process-metrics.ts";
import { MetricsRegistry } from "../../../src/core/metrics.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fake `/proc/<pid>` with a stat whose command name holds a space and a parenthesis. */
function fakeProc(limits: string): string {
  const dir = mkdtempSync(join(tmpdir(), "krt-proc-"));
  dirs.push(dir);
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S";
  fields[20] = "123456789";
  writeFileSync(join(dir, "stat"), `42 (a) b) ${fields.join(" ")}\n`);
  writeFileSync(join(dir, "limits"), limits);
  mkdirSync(join(dir, "fd"));
  for (const fd of ["0", "1", "2", "7"]) writeFileSync(join(dir, "fd", fd), "");
  return dir;
}

const LIMITS = [
  "Limit                     Soft Limit           Hard Limit           Units     ",
  "Max cpu time              unlimited            unlimited            seconds   ",
  "Max open files            1024                 524288               files     ",
  "",
].join("\n");

/** The value of the unlabelled sample `name` in `text`. */
function sampleOf(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no sample ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

test("the process metrics carry the names and values Prometheus client libraries export", () => {
  const registry = new MetricsRegistry();
  registerProcessMetrics(registry, {
    procDir: fakeProc(LIMITS),
    cpuMicros: () => 2_500_000,
    residentBytes: () => 4096,
    startTimeSeconds: 1_700_000_000.25,
  });
  const text = registry.render();
  expect(sampleOf(text, "process_cpu_seconds_total")).toBe(2.5);
  expect(text).toContain("# TYPE process_cpu_seconds_total counter");
  expect(sampleOf(text, "process_resident_memory_bytes")).toBe(4096);
  expect(sampleOf(text, "process_start_time_seconds")).toBe(1_700_000_000.25);
  expect(sampleOf(text, "process_virtual_memory_bytes")).toBe(123456789);
  expect(sampleOf(text, "process_open_fds")).toBe(4);
  expect(sampleOf(text, "process_max_fds")).toBe(1024);
});

test("without /proc entries only the portable process metrics are declared", () => {
  const registry = new MetricsRegistry();
  registerProcessMetrics(registry, { procDir: join(tmpdir(), "krt-no-such-proc") });
  expect(registry.describe().map((m) => m.name)).toEqual([
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
  ]);
});

test("an unlimited open-files limit is +Inf", () => {
  expect(parseMaxFds(LIMITS.replace("1024   ", "unlimited"))).toBe(Number.POSITIVE_INFINITY);
  expect(parseMaxFds("Limit Soft Limit\n")).toBeUndefined();
});

test.skipIf(process.platform !== "linux")(
  "on Linux the values are read from this process at each render",
  () => {
    const registry = new MetricsRegistry();
    registerProcessMetrics(registry);
    const text = registry.render();
    expect(sampleOf(text, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    expect(sampleOf(text, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(sampleOf(text, "process_open_fds")).toBeGreaterThan(2);
    expect(sampleOf(text, "process_max_fds")).toBe(
      parseMaxFds(readFileSync("/proc/self/limits", "utf8")) ?? 0,
    );
    expect(sampleOf(text, "process_virtual_memory_bytes")).toBe(
      parseVirtualMemoryBytes(readFileSync("/proc/self/stat", "utf8")),
    );
    const started = sampleOf(text, "process_start_time_seconds");
    expect(started).toBeLessThanOrEqual(Date.now() / 1000);
    expect(started).toBeGreaterThan(Date.now() / 1000 - process.uptime() - 5);
  },
);
