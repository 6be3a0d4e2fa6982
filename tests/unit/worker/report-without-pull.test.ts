import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import type { RestartOutcome } from "../../../src/core/restart.ts";
import type { IndexedWorkload } from "../../../src/core/workload.ts";
import { createLogger } from "../../../src/log.ts";
import { reportWithoutPull, WITHOUT_PULL_ADVICE } from "../../../src/worker/report-without-pull.ts";
import { createWorkerMetrics } from "../../../src/worker/worker-metrics.ts";

const EVENT = { image: "ghcr.io/acme/app", tags: ["dev"] };
const REFS = ["ghcr.io/acme/app:dev"];

function settled(name: string, notPulled: number, outcome: RestartOutcome) {
  const workload: IndexedWorkload = {
    resource: "deployments",
    namespace: "apps",
    name,
    images: ["ghcr.io/acme/app:dev"],
    notPulled,
    skip: false,
  };
  return { workload, outcome };
}

function setup() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const metrics = createWorkerMetrics(new MetricsRegistry());
  return { lines, log, metrics };
}

test("names made and dry-run restarts that will not pull, in one warning with the fix, and counts only the made ones", () => {
  const { lines, log, metrics } = setup();
  const named = reportWithoutPull(
    [
      settled("made", 1, { kind: "restarted" }),
      settled("dry", 1, { kind: "dry_run" }),
      settled("pulls", 0, { kind: "restarted" }),
      settled("failed", 1, { kind: "failed", reason: "retries exhausted" }),
    ],
    REFS,
    metrics,
    log,
    EVENT,
  );
  expect(named).toEqual(["Deployment/apps/made", "Deployment/apps/dry"]);
  expect(lines).toEqual([
    expect.objectContaining({
      level: "WARN",
      msg: "restarted workloads will not pull the new image",
      workloads: named,
      ...WITHOUT_PULL_ADVICE,
    }),
  ]);
  expect(metrics.restartsWithoutPull.get({ kind: "Deployment" })).toBe(1);
});

test("says nothing and counts nothing when every restart pulls the new image", () => {
  const { lines, log, metrics } = setup();
  expect(reportWithoutPull([settled("pulls", 0, { kind: "restarted" })], REFS, metrics, log, EVENT)).toEqual(
    [],
  );
  expect(lines).toEqual([]);
  expect(metrics.restartsWithoutPull.get({ kind: "Deployment" })).toBe(0);
});
