import { expect, test } from "bun:test";
import type { ClusterStatus, EventSummary, WorkloadStatus } from "../../../src/core/event-status.ts";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import { createLogger } from "../../../src/log.ts";
import { EventStatusRecorder } from "../../../src/worker/event-status-recorder.ts";
import type { StatusStore } from "../../../src/worker/ports.ts";
import { createWorkerMetrics } from "../../../src/worker/worker-metrics.ts";

const SUMMARY: EventSummary = {
  eventId: "1-0",
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  repository: "acme/app",
  acceptedAt: "2030-01-01T00:00:00.000Z",
};
const app = (state: WorkloadStatus["state"]): WorkloadStatus => ({
  kind: "Deployment",
  namespace: "a",
  name: "app",
  state,
});
const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));

function recorder(store: StatusStore) {
  const lines: Record<string, unknown>[] = [];
  const metrics = createWorkerMetrics(new MetricsRegistry());
  const log = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
  const recording = new EventStatusRecorder({
    store,
    cluster: "default",
    log,
    metrics,
    forgetAfterMs: 60_000,
  });
  return { recording, lines, metrics };
}

test("the changes of one turn cost one write of the whole status, with the summary", async () => {
  const writes: ClusterStatus[] = [];
  const { recording } = recorder({ write: async (_id, _summary, status) => void writes.push(status) });
  recording.begin("1-0", SUMMARY, [app("pending")]);
  recording.update("1-0", [app("progressing")]);
  await endOfTurn();
  expect(writes.map((s) => s.workloads[0]?.state)).toEqual(["progressing"]);
});

test("an event whose status is final is written once more and then forgotten", async () => {
  const writes: ClusterStatus[] = [];
  const { recording } = recorder({ write: async (_id, _summary, status) => void writes.push(status) });
  recording.begin("1-0", SUMMARY, [app("progressing")]);
  await endOfTurn();
  recording.update("1-0", [app("complete")]);
  await endOfTurn();
  expect(writes.map((s) => s.state)).toEqual(["processing", "complete"]);
  expect(recording.size).toBe(0);
  recording.update("1-0", [app("failed")]);
  await endOfTurn();
  expect(writes).toHaveLength(2);
});

test("writes that fail are counted and warned about once per interval, and never throw", async () => {
  const { recording, lines, metrics } = recorder({
    write: () => Promise.reject(new Error("Valkey is not connected")),
  });
  for (const id of ["1-0", "2-0", "3-0"]) recording.begin(id, { ...SUMMARY, eventId: id }, [app("pending")]);
  await endOfTurn();
  await endOfTurn();
  expect(metrics.statusWriteFailures.get()).toBe(3);
  expect(lines.filter((l) => l.msg === "event status not written; the event goes on")).toHaveLength(1);
});
