import { expect, test } from "bun:test";
import packageJson from "../../../package.json" with { type: "json" };
import { createMetricsRegistry } from "../../../src/wiring/metrics-registry.ts";

test("every process's registry reports build_info at 1 with this build's version and Bun", () => {
  const text = createMetricsRegistry().render();
  expect(text).toContain(
    `kuberollouttrigger_build_info{version="${packageJson.version}",bun_version="${Bun.version}"} 1`,
  );
  expect(text).toContain("# TYPE kuberollouttrigger_build_info gauge");
});

test("every process's registry holds the process metrics", () => {
  const names = createMetricsRegistry({ version: "1.2.3", bunVersion: "9.9.9" })
    .describe()
    .map((m) => m.name);
  for (const name of [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
  ])
    expect(names).toContain(name);
});
