import { describe, expect, test } from "bun:test";
import { OPEN_RULES, readCallerClaims } from "../../../src/core/claim-policy.ts";
import type { ClusterStatus, EventSummary } from "../../../src/core/event-status.ts";
import { MetricsRegistry } from "../../../src/core/metrics.ts";
import type { Policy } from "../../../src/core/policy.ts";
import type { RestartOutcome } from "../../../src/core/restart.ts";
import type { IndexedWorkload, WorkloadRef } from "../../../src/core/workload.ts";
import { WorkloadImageMap } from "../../../src/core/workload-image-map.ts";
import type { WorkloadSelection } from "../../../src/core/workload-policy.ts";
import { createLogger } from "../../../src/log.ts";
import { EventStatusRecorder } from "../../../src/worker/event-status-recorder.ts";
import { awaitingRetries, createEventHandler } from "../../../src/worker/handle-event.ts";
import type { DeliveredEvent, WorkloadPatcher } from "../../../src/worker/ports.ts";
import { WITHOUT_PULL_ADVICE } from "../../../src/worker/report-without-pull.ts";
import { RolloutFollower } from "../../../src/worker/rollout-follower.ts";
import { createWorkerMetrics } from "../../../src/worker/worker-metrics.ts";
import { globs, policyRule } from "../../support/claims.ts";
import { FLAKY_EVENT, flakyRestarts } from "../../support/flaky-restarts.ts";
import { waitFor } from "../../support/wait-for.ts";

const PREFIX = "ghcr.io/acme/";
const ACCEPTED_AT = "2025-03-04T05:06:07.089Z";

function workload(name: string, images: string[], extra: Partial<IndexedWorkload> = {}): IndexedWorkload {
  return { resource: "deployments", namespace: "apps", name, images, notPulled: 0, skip: false, ...extra };
}

function delivery(payload: unknown, extra: Partial<DeliveredEvent> = {}): DeliveredEvent {
  return {
    attempt: 1,
    envelope: {
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
      acceptedAt: ACCEPTED_AT,
      requestId: "req-1",
      repository: "acme/app",
    },
    ...extra,
  };
}

/** A patcher that answers from `answer`, records calls, and can hold every call until released. */
function scriptedPatcher(
  answer: (ref: WorkloadRef) => RestartOutcome = () => ({ kind: "restarted" }),
  options: { hold?: boolean } = {},
) {
  const calls: { ref: WorkloadRef; restartedAt: string; dryRun: boolean }[] = [];
  const held: (() => void)[] = [];
  const state = { inFlight: 0, inFlightMax: 0 };
  const patcher: WorkloadPatcher = {
    async restart(ref, restartedAt, { dryRun }) {
      calls.push({ ref, restartedAt, dryRun });
      state.inFlight++;
      state.inFlightMax = Math.max(state.inFlightMax, state.inFlight);
      try {
        if (options.hold) await new Promise<void>((resolve) => held.push(resolve));
        return answer(ref);
      } finally {
        state.inFlight--;
      }
    },
  };
  const release = () => {
    for (const resolve of held.splice(0)) resolve();
  };
  return { patcher, calls, state, held, release };
}

function setup(
  workloads: IndexedWorkload[],
  patcher: WorkloadPatcher,
  options: { dryRun?: boolean; now?: () => Date; policy?: Policy; selection?: WorkloadSelection } = {},
) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const registry = new MetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const index = {
    findByImages: (images: readonly string[]) =>
      workloads.filter((w) => w.images.some((image) => images.includes(image))),
  };
  const handle = createEventHandler({
    allowedImagePrefix: PREFIX,
    dryRun: options.dryRun ?? false,
    index,
    patcher,
    metrics,
    log,
    now: options.now ?? (() => new Date("2030-01-01T00:00:00.000Z")),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.selection ? { selection: options.selection } : {}),
  });
  const processed = () => lines.filter((line) => line.msg === "event processed");
  return { handle, lines, metrics, registry, processed };
}

describe("handling one event", () => {
  test("restarts every workload whose image matches any tag, each once, and acknowledges", async () => {
    const fake = scriptedPatcher();
    const { handle, processed, metrics } = setup(
      [
        workload("both-tags", ["ghcr.io/acme/app:dev", "ghcr.io/acme/app:latest"]),
        workload("latest", ["ghcr.io/acme/app:latest"]),
        workload("other-tag", ["ghcr.io/acme/app:v1"]),
        workload("other-image", ["ghcr.io/acme/api:dev"]),
      ],
      fake.patcher,
    );
    const outcome = await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev", "latest"] }));
    expect(outcome).toEqual({ kind: "done" });
    expect(fake.calls.map((c) => c.ref.name).sort()).toEqual(["both-tags", "latest"]);
    expect(metrics.workloadsMatched.get()).toBe(2);
    expect(metrics.restarts.get({ kind: "Deployment", outcome: "ok" })).toBe(2);
    expect(processed()).toHaveLength(1);
    expect(processed()[0]).toMatchObject({
      request_id: "req-1",
      image: "ghcr.io/acme/app",
      tags: ["dev", "latest"],
      matched: ["Deployment/apps/both-tags", "Deployment/apps/latest"],
      restarted: ["Deployment/apps/both-tags", "Deployment/apps/latest"],
      skipped: [],
      failed: [],
      outcome: "done",
    });
    expect(typeof processed()[0]?.duration_ms).toBe("number");
  });

  test("uses the event's accepted_at as restartedAt, so a redelivered event writes the same value", async () => {
    const fake = scriptedPatcher();
    const { handle } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher);
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    expect(fake.calls.map((c) => c.restartedAt)).toEqual([ACCEPTED_AT, ACCEPTED_AT]);
  });

  test("a retry of an event writes the restartedAt of its first try to every workload, even one restarted before", async () => {
    const flaky = flakyRestarts();
    const envelope = { payload: FLAKY_EVENT, acceptedAt: undefined, requestId: "r", repository: undefined };
    const entryId = "1741064767089-0";
    expect(await flaky.handler({ envelope, entryId, attempt: 1 })).toMatchObject({ kind: "retry" });
    expect(await flaky.handler({ envelope, entryId, attempt: 2 })).toEqual({ kind: "done" });
    const fromId = new Date(1741064767089).toISOString();
    expect(flaky.restarts).toEqual([
      { name: "a", restartedAt: fromId },
      { name: "b", restartedAt: fromId },
      { name: "a", restartedAt: fromId },
      { name: "b", restartedAt: fromId },
    ]);
  });

  test("every line about the event's workloads carries its request id and entry id, the patcher's own lines too", async () => {
    const fake = scriptedPatcher((ref) =>
      ref.name === "b" ? { kind: "failed", reason: "422 Invalid" } : { kind: "restarted" },
    );
    const seen: Record<string, unknown>[] = [];
    const patcher: WorkloadPatcher = {
      async restart(ref, restartedAt, options) {
        options.log?.info("patcher line", { name: ref.name });
        return fake.patcher.restart(ref, restartedAt, options);
      },
    };
    const { handle, lines } = setup(
      [workload("a", ["ghcr.io/acme/app:dev"]), workload("b", ["ghcr.io/acme/app:dev"])],
      patcher,
    );
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId: "1-0" }));
    seen.push(
      ...lines.filter((l) =>
        ["patcher line", "workload restarted", "restart failed"].includes(String(l.msg)),
      ),
    );
    expect(seen.map((l) => l.msg).sort()).toEqual([
      "patcher line",
      "patcher line",
      "restart failed",
      "workload restarted",
    ]);
    for (const line of seen)
      expect(line).toMatchObject({ request_id: "req-1", event_id: "1-0", entry_id: "1-0" });
  });

  test("never restarts a skip-annotated workload and logs it as skipped", async () => {
    const fake = scriptedPatcher();
    const { handle, processed, metrics } = setup(
      [workload("keep", ["ghcr.io/acme/app:dev"], { skip: true }), workload("go", ["ghcr.io/acme/app:dev"])],
      fake.patcher,
    );
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toEqual({ kind: "done" });
    expect(fake.calls.map((c) => c.ref.name)).toEqual(["go"]);
    expect(processed()[0]).toMatchObject({
      skipped: ["Deployment/apps/keep"],
      restarted: ["Deployment/apps/go"],
    });
    expect(metrics.restarts.get({ kind: "Deployment", outcome: "skipped" })).toBe(1);
  });

  test("drops an invalid event as terminal, with its reason, without touching the cluster", async () => {
    const fake = scriptedPatcher();
    const { handle, lines, metrics } = setup([workload("a", ["ghcr.io/evil/app:dev"])], fake.patcher);
    for (const payload of [
      "not json",
      { image: "ghcr.io/evil/app", tags: ["dev"] },
      { image: "ghcr.io/acme/app", tags: [] },
      { image: "ghcr.io/acme/app", tags: ["dev"], extra: 1 },
    ]) {
      expect(await handle(delivery(payload))).toMatchObject({ kind: "terminal", reason: expect.any(String) });
    }
    expect(fake.calls).toHaveLength(0);
    expect(metrics.eventsInvalid.get()).toBe(4);
    expect(metrics.eventsConsumed.get()).toBe(4);
    expect(lines.filter((l) => l.msg === "invalid event dropped")).toHaveLength(4);
  });

  test("asks for a retry when any restart could not reach the cluster", async () => {
    const fake = scriptedPatcher((ref) =>
      ref.name === "b" ? { kind: "unreachable", reason: "connect ECONNREFUSED" } : { kind: "restarted" },
    );
    const { handle, processed } = setup(
      [workload("a", ["ghcr.io/acme/app:dev"]), workload("b", ["ghcr.io/acme/app:dev"])],
      fake.patcher,
    );
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toMatchObject({
      kind: "retry",
      reason: "connect ECONNREFUSED",
    });
    expect(processed()[0]).toMatchObject({ outcome: "retry", failed: ["Deployment/apps/b"] });
  });

  test("asks for a longer wait the more often the same event has been handed over, up to 30 s", async () => {
    const fake = scriptedPatcher(() => ({ kind: "unreachable", reason: "connect ECONNREFUSED" }));
    const { handle } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher);
    const waits: number[] = [];
    for (const attempt of [1, 2, 3, 10]) {
      const outcome = await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { attempt }));
      waits.push(outcome.kind === "retry" ? outcome.afterMs : -1);
    }
    // Jittered into the upper half of 1 s, 2 s, 4 s, then the 30 s cap.
    expect(waits[0]).toBeGreaterThanOrEqual(500);
    expect(waits[0]).toBeLessThanOrEqual(1000);
    expect(waits[1]).toBeGreaterThanOrEqual(1000);
    expect(waits[1]).toBeLessThanOrEqual(2000);
    expect(waits[2]).toBeGreaterThanOrEqual(2000);
    expect(waits[2]).toBeLessThanOrEqual(4000);
    expect(waits[3]).toBeGreaterThanOrEqual(15_000);
    expect(waits[3]).toBeLessThanOrEqual(30_000);
  });

  test("asks for a retry when the patcher throws instead of answering", async () => {
    const fake = scriptedPatcher(() => {
      throw new Error("socket hang up");
    });
    const { handle } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher);
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toMatchObject({
      kind: "retry",
    });
  });

  test("acknowledges when restarts failed for good: forbidden, retries exhausted, deleted meanwhile", async () => {
    const answers: Record<string, RestartOutcome> = {
      f: { kind: "forbidden", missingRule: "apps/deployments patch in apps" },
      x: { kind: "failed", reason: "retries exhausted" },
      n: { kind: "not_found" },
    };
    const fake = scriptedPatcher((ref) => answers[ref.name] ?? { kind: "restarted" });
    const { handle, lines, metrics } = setup(
      ["f", "x", "n"].map((name) => workload(name, ["ghcr.io/acme/app:dev"])),
      fake.patcher,
    );
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toEqual({ kind: "done" });
    expect(lines.find((l) => l.msg === "restart forbidden")).toMatchObject({
      name: "f",
      missing_rule: "apps/deployments patch in apps",
    });
    expect(metrics.restarts.get({ kind: "Deployment", outcome: "forbidden" })).toBe(1);
    expect(metrics.restarts.get({ kind: "Deployment", outcome: "failed" })).toBe(1);
    expect(metrics.restarts.get({ kind: "Deployment", outcome: "not_found" })).toBe(1);
  });

  test("passes DRY_RUN to the patcher and reports the workloads it would have restarted", async () => {
    const fake = scriptedPatcher(() => ({ kind: "dry_run" }));
    const { handle, processed, metrics } = setup(
      [workload("a", ["ghcr.io/acme/app:dev"], { resource: "statefulsets" })],
      fake.patcher,
      { dryRun: true },
    );
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toEqual({ kind: "done" });
    expect(fake.calls[0]?.dryRun).toBe(true);
    expect(processed()[0]).toMatchObject({ dry_run: ["StatefulSet/apps/a"], restarted: [] });
    expect(metrics.restarts.get({ kind: "StatefulSet", outcome: "dry_run" })).toBe(1);
  });

  test("names the restarted workloads that will not pull the new image, warns once with the fix, and counts them by kind", async () => {
    const fake = scriptedPatcher((ref) =>
      ref.name === "gone" ? { kind: "not_found" } : { kind: "restarted" },
    );
    const { handle, lines, processed, metrics } = setup(
      [
        workload("cached", ["ghcr.io/acme/app:dev"], { notPulled: 1 }),
        workload("cached-sts", ["ghcr.io/acme/app:dev"], { notPulled: 1, resource: "statefulsets" }),
        workload("pulls", ["ghcr.io/acme/app:dev"]),
        // Only its sidecar is not pulled always: the matched image is, so this restart pulls it.
        workload("sidecar-cached", ["ghcr.io/acme/side:1", "ghcr.io/acme/app:dev"], { notPulled: 1 }),
        workload("gone", ["ghcr.io/acme/app:dev"], { notPulled: 1 }),
        workload("skipped", ["ghcr.io/acme/app:dev"], { notPulled: 1, skip: true }),
      ],
      fake.patcher,
    );
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    const expected = ["Deployment/apps/cached", "StatefulSet/apps/cached-sts"];
    expect(processed()[0]?.restarted_without_pull).toEqual(expected);
    const warnings = lines.filter((l) => l.msg === "restarted workloads will not pull the new image");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: "WARN",
      request_id: "req-1",
      image: "ghcr.io/acme/app",
      workloads: expected,
      ...WITHOUT_PULL_ADVICE,
    });
    expect(metrics.restartsWithoutPull.get({ kind: "Deployment" })).toBe(1);
    expect(metrics.restartsWithoutPull.get({ kind: "StatefulSet" })).toBe(1);
  });

  test("says nothing about pulling when every restarted workload pulls the new image", async () => {
    const { handle, lines, processed } = setup(
      [workload("pulls", ["ghcr.io/acme/app:dev"])],
      scriptedPatcher().patcher,
    );
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    expect(processed()[0]?.restarted_without_pull).toEqual([]);
    expect(lines.filter((l) => l.level === "WARN")).toEqual([]);
  });

  test("in dry run names and warns about the workloads that would not pull, but counts none, since none restarted", async () => {
    const fake = scriptedPatcher(() => ({ kind: "dry_run" }));
    const { handle, lines, processed, metrics } = setup(
      [workload("cached", ["ghcr.io/acme/app:dev"], { notPulled: 1 })],
      fake.patcher,
      { dryRun: true },
    );
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    expect(processed()[0]?.restarted_without_pull).toEqual(["Deployment/apps/cached"]);
    expect(lines.some((l) => l.msg === "restarted workloads will not pull the new image")).toBe(true);
    expect(metrics.restartsWithoutPull.get({ kind: "Deployment" })).toBe(0);
  });

  test("keeps at most 8 restarts of one event in flight", async () => {
    const fake = scriptedPatcher(undefined, { hold: true });
    const many = Array.from({ length: 20 }, (_, i) => workload(`w${i}`, ["ghcr.io/acme/app:dev"]));
    const { handle } = setup(many, fake.patcher);
    const done = handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    let released = 0;
    while (released < 20) {
      await waitFor(() => fake.held.length > 0, "a held restart", 5000);
      // Without the limit all 20 would be waiting here at once.
      expect(fake.state.inFlight).toBeLessThanOrEqual(8);
      released += fake.held.length;
      fake.release();
    }
    expect(await done).toEqual({ kind: "done" });
    expect(fake.state.inFlightMax).toBe(8);
    expect(fake.calls).toHaveLength(20);
  });
});

describe("events handled at the same time", () => {
  test("two events for the same workload patch it one after the other, the one handed over first first", async () => {
    const fake = scriptedPatcher(undefined, { hold: true });
    const { handle } = setup([workload("shared", ["ghcr.io/acme/app:dev"])], fake.patcher);
    const event = (acceptedAt: string) => {
      const d = delivery({ image: "ghcr.io/acme/app", tags: ["dev"] });
      return { ...d, envelope: { ...d.envelope, acceptedAt } };
    };
    const first = handle(event("2025-01-01T00:00:01.000Z"));
    const second = handle(event("2025-01-01T00:00:02.000Z"));
    await waitFor(() => fake.held.length === 1, "the first patch", 5000);
    fake.release();
    await waitFor(() => fake.calls.length === 2 && fake.held.length === 1, "the second patch", 5000);
    fake.release();
    expect(await Promise.all([first, second])).toEqual([{ kind: "done" }, { kind: "done" }]);
    // Without the lock per workload both patches would have been held at once.
    expect(fake.state.inFlightMax).toBe(1);
    expect(fake.calls.map((c) => c.restartedAt)).toEqual([
      "2025-01-01T00:00:01.000Z",
      "2025-01-01T00:00:02.000Z",
    ]);
  });

  test("an event whose patch of one workload hangs holds back no event for other workloads", async () => {
    const held: (() => void)[] = [];
    const patched: string[] = [];
    const patcher: WorkloadPatcher = {
      async restart(ref) {
        if (ref.name === "stuck") await new Promise<void>((resolve) => held.push(resolve));
        patched.push(ref.name);
        return { kind: "restarted" };
      },
    };
    const { handle } = setup(
      [workload("stuck", ["ghcr.io/acme/stuck:dev"]), workload("free", ["ghcr.io/acme/free:dev"])],
      patcher,
    );
    const stuck = handle(delivery({ image: "ghcr.io/acme/stuck", tags: ["dev"] }));
    expect(await handle(delivery({ image: "ghcr.io/acme/free", tags: ["dev"] }))).toEqual({ kind: "done" });
    expect(patched).toEqual(["free"]);
    for (const resolve of held) resolve();
    expect(await stuck).toEqual({ kind: "done" });
  });
});

describe("the worker's own say on each matched workload", () => {
  const claims = readCallerClaims({ repository: "acme/app", repository_id: "101", ref: "refs/heads/main" });
  const withClaims = (payload: unknown) => {
    const event = delivery(payload);
    return { ...event, envelope: { ...event.envelope, claims } };
  };
  const APP = { image: "ghcr.io/acme/app", tags: ["dev"] };

  test("leaves alone a workload whose annotation names other repositories, and restarts the one that names this one", async () => {
    const fake = scriptedPatcher();
    const { handle, lines, processed, metrics } = setup(
      [
        workload("mine", ["ghcr.io/acme/app:dev"], { allowedRepositories: ["acme/app"] }),
        workload("theirs", ["ghcr.io/acme/app:dev"], { allowedRepositories: ["acme/tools-*"] }),
        workload("open", ["ghcr.io/acme/app:dev"]),
      ],
      fake.patcher,
    );
    expect(await handle(withClaims(APP))).toEqual({ kind: "done" });
    expect(fake.calls.map((c) => c.ref.name).sort()).toEqual(["mine", "open"]);
    expect(processed()[0]).toMatchObject({ refused: ["Deployment/apps/theirs"] });
    expect(lines.find((l) => l.msg === "workload left alone by policy")).toMatchObject({
      name: "theirs",
      reason: "annotation",
      repository: "acme/app",
      request_id: "req-1",
    });
    expect(metrics.workloadsRefused.get({ reason: "annotation" })).toBe(1);
  });

  test("fails closed for an annotated workload when the event carries no claims, as in Pub/Sub delivery", async () => {
    const fake = scriptedPatcher();
    const { handle } = setup(
      [
        workload("annotated", ["ghcr.io/acme/app:dev"], { allowedRepositories: ["acme/app"] }),
        workload("open", ["ghcr.io/acme/app:dev"]),
      ],
      fake.patcher,
    );
    await handle(delivery(APP));
    expect(fake.calls.map((c) => c.ref.name)).toEqual(["open"]);
  });

  test("restarts only annotated workloads with WORKLOAD_SELECTION=annotated", async () => {
    const fake = scriptedPatcher();
    const { handle, metrics } = setup(
      [
        workload("annotated", ["ghcr.io/acme/app:dev"], { allowedRepositories: ["acme/*"] }),
        workload("open", ["ghcr.io/acme/app:dev"]),
      ],
      fake.patcher,
      { selection: "annotated" },
    );
    await handle(withClaims(APP));
    expect(fake.calls.map((c) => c.ref.name)).toEqual(["annotated"]);
    expect(metrics.workloadsRefused.get({ reason: "not_annotated" })).toBe(1);
  });

  test("holds every matched workload to the namespaces the policy file allows the sending repository", async () => {
    const fake = scriptedPatcher();
    const rule = policyRule({ namespaces: globs("apps") });
    const policy: Policy = { rules: OPEN_RULES, file: { rules: [rule] } };
    const { handle, metrics } = setup(
      [
        workload("here", ["ghcr.io/acme/app:dev"]),
        workload("there", ["ghcr.io/acme/app:dev"], { namespace: "kube-system" }),
      ],
      fake.patcher,
      { policy },
    );
    await handle(withClaims(APP));
    expect(fake.calls.map((c) => `${c.ref.namespace}/${c.ref.name}`)).toEqual(["apps/here"]);
    expect(metrics.workloadsRefused.get({ reason: "namespace" })).toBe(1);
  });
});

describe("whose fault a retry is", () => {
  test("an unexpected error in handling the event asks for a poison retry, one that counts toward MAX_DELIVERIES", async () => {
    const lines: Record<string, unknown>[] = [];
    const handle = createEventHandler({
      allowedImagePrefix: PREFIX,
      dryRun: false,
      index: {
        findByImages: () => {
          throw new TypeError("cannot read properties of undefined");
        },
      },
      patcher: scriptedPatcher().patcher,
      metrics: createWorkerMetrics(new MetricsRegistry()),
      log: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }),
    });
    expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }))).toMatchObject({
      kind: "retry",
      poison: true,
      reason: "TypeError: cannot read properties of undefined",
    });
    expect(lines.find((l) => l.msg === "event handling failed; will retry")).toMatchObject({
      request_id: "req-1",
    });
  });

  test("a cluster that cannot be reached asks for a retry that is not poison, however often", async () => {
    const fake = scriptedPatcher(() => ({ kind: "unreachable", reason: "connect ECONNREFUSED" }));
    const { handle } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher);
    for (const attempt of [1, 5, 50]) {
      expect(await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { attempt }))).toMatchObject(
        {
          kind: "retry",
          poison: false,
        },
      );
    }
  });

  test("an event re-driven from the dead letters writes the restartedAt its first deliveries wrote", async () => {
    const fake = scriptedPatcher();
    const { handle, lines } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher);
    const originalMs = Date.parse(ACCEPTED_AT) + 20;
    const redriven = delivery(
      { image: "ghcr.io/acme/app", tags: ["dev"] },
      { entryId: `${originalMs + 3_600_000}-0` },
    );
    await handle({ ...redriven, envelope: { ...redriven.envelope, redrivenFrom: `${originalMs}-0` } });
    expect(fake.calls.map((c) => c.restartedAt)).toEqual([ACCEPTED_AT]);
    expect(lines.filter((l) => String(l.msg).startsWith("accepted_at is far"))).toEqual([]);
  });
});

describe("a worker whose cluster the web does not expect", () => {
  test("restarts as usual and warns once, naming its cluster and the expected ones, however many events come", async () => {
    const fake = scriptedPatcher();
    const { handle, lines } = setup([workload("a", ["ghcr.io/acme/app:dev"])], fake.patcher, {
      policy: { rules: OPEN_RULES, file: undefined, cluster: "prod-eu" },
    });
    const expectingOthers = (entryId: string) => {
      const d = delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId });
      return { ...d, envelope: { ...d.envelope, expectedClusters: ["eu", "us"] } };
    };
    for (let i = 1; i <= 5; i++) await handle(expectingOthers(`${i}-0`));
    expect(fake.calls).toHaveLength(5);
    const warned = lines.filter((l) => String(l.msg).includes("not among the clusters the web expects"));
    expect(warned).toEqual([expect.objectContaining({ cluster: "prod-eu", expected_clusters: "eu,us" })]);
  });
});

describe("recording the event's status", () => {
  /** A handler whose recorder writes to an in-memory store, with a follower on a clock the test holds. */
  function recording(workloads: IndexedWorkload[], patcher: WorkloadPatcher) {
    const writes: { eventId: string; summary: EventSummary; status: ClusterStatus }[] = [];
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const recorder = new EventStatusRecorder({
      store: { write: async (eventId, summary, status) => void writes.push({ eventId, summary, status }) },
      cluster: "eu",
      log,
      forgetAfterMs: 60_000,
    });
    const follower = new RolloutFollower({
      timeoutMs: 60_000,
      onChange: recorder.rolloutChanged,
      timers: { now: () => 0, setTimeout: () => () => {} },
    });
    const handle = createEventHandler({
      allowedImagePrefix: PREFIX,
      dryRun: false,
      index: { findByImages: () => workloads },
      patcher,
      metrics: createWorkerMetrics(new MetricsRegistry()),
      log,
      status: { recorder, follower },
    });
    const last = () => writes.at(-1);
    return { handle, writes, follower, last, lines };
  }

  test("writes the summary and each matched workload's state, then the rollout's end from the watch", async () => {
    const fake = scriptedPatcher((ref) =>
      ref.name === "gone" ? { kind: "not_found" } : { kind: "restarted", generation: 3 },
    );
    const { handle, follower, last, lines } = recording(
      [workload("app", []), workload("gone", []), workload("skipped", [], { skip: true })],
      fake.patcher,
    );
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId: "1700000000000-0" }));
    await waitFor(() => last()?.status.workloads[0]?.state === "progressing", "the restarts' write");
    expect(last()?.eventId).toBe("1700000000000-0");
    expect(last()?.summary).toEqual({
      eventId: "1700000000000-0",
      image: "ghcr.io/acme/app",
      tags: ["dev"],
      repository: "acme/app",
      acceptedAt: ACCEPTED_AT,
    });
    expect(last()?.status).toMatchObject({
      cluster: "eu",
      state: "processing",
      workloads: [
        { kind: "Deployment", namespace: "apps", name: "app", state: "progressing" },
        { name: "gone", state: "not_restarted", reason: "not found (404)" },
        { name: "skipped", state: "not_restarted", reason: "annotated kuberollouttrigger/skip" },
      ],
    });
    const done = {
      generation: 3,
      observedGeneration: 3,
      desired: 1,
      current: 1,
      updated: 1,
      ready: 1,
      available: 1,
    };
    const listed = {
      namespace: "apps",
      name: "app",
      resourceVersion: "9",
      images: [],
      notPulled: 0,
      skip: false,
    };
    follower.observe("deployments", "MODIFIED", { ...listed, rollout: done });
    await waitFor(() => last()?.status.state === "complete", "the rollout's write");
    expect(last()?.status.workloads[0]?.state).toBe("complete");
    // One field names the event on every line about it, from the restart to the rollout's end.
    const named = ["workload restarted", "event processed", "rollout complete"].map((msg) =>
      lines.find((l) => l.msg === msg),
    );
    for (const line of named) expect(line).toMatchObject({ event_id: "1700000000000-0" });
  });

  test("a PATCH that changed nothing, so no watch event follows, is complete from the rollout its answer shows", async () => {
    const settled = {
      generation: 3,
      observedGeneration: 3,
      desired: 1,
      current: 1,
      updated: 1,
      ready: 1,
      available: 1,
    };
    const fake = scriptedPatcher(() => ({ kind: "restarted", generation: 3, rollout: settled }));
    const { handle, follower, last } = recording([workload("app", [])], fake.patcher);
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId: "1700000000000-1" }));
    await waitFor(() => last()?.status.state === "complete", "the rollout's write");
    expect(last()?.status.workloads[0]?.state).toBe("complete");
    expect(follower.size).toBe(0);
  });

  test("records the status of an in-process event under the event ID its queue hands over", async () => {
    const { handle, last } = recording([workload("app", [])], scriptedPatcher().patcher);
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { eventId: "1700000000000-4" }));
    await waitFor(() => last() !== undefined, "the status write");
    expect(last()?.eventId).toBe("1700000000000-4");
    expect(last()?.summary.eventId).toBe("1700000000000-4");
  });

  test("records nothing for an event without an ID (Pub/Sub)", async () => {
    const { handle, writes, follower } = recording([workload("app", [])], scriptedPatcher().patcher);
    await handle(delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }));
    // The recorder writes at the end of a turn: after this one, a write would have been made.
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual([]);
    expect(follower.size).toBe(0);
  });
});

describe("a restart older than the one the workload carries", () => {
  const OLDER = "2025-03-04T05:06:07.000Z";
  const NEWER = "2025-03-04T05:06:08.000Z";
  /** The event for `app`, accepted at `acceptedAt`, as stream entry `entryId`. */
  const at = (acceptedAt: string, entryId: string): DeliveredEvent => {
    const sent = delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId });
    return { ...sent, envelope: { ...sent.envelope, acceptedAt } };
  };

  /** A handler over a real index map, recording statuses in memory. */
  function superseding() {
    const map = new WorkloadImageMap();
    map.upsert("s", workload("app", ["ghcr.io/acme/app:dev"]));
    const writes: { eventId: string; status: ClusterStatus }[] = [];
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const recorder = new EventStatusRecorder({
      store: { write: async (eventId, _summary, status) => void writes.push({ eventId, status }) },
      cluster: "eu",
      log,
      forgetAfterMs: 60_000,
    });
    const fake = scriptedPatcher();
    const metrics = createWorkerMetrics(new MetricsRegistry());
    const handle = createEventHandler({
      allowedImagePrefix: PREFIX,
      dryRun: false,
      index: { findByImages: (images) => map.find(images) },
      restartsSeen: map,
      patcher: fake.patcher,
      metrics,
      log,
      status: { recorder },
    });
    const statusOf = (eventId: string) => writes.filter((w) => w.eventId === eventId).at(-1)?.status;
    return { map, handle, fake, metrics, lines, statusOf };
  }

  test("is skipped, logged, counted and recorded as superseded, and the event is done", async () => {
    const h = superseding();
    expect(await h.handle(at(NEWER, "1741064768000-0"))).toEqual({ kind: "done" });
    expect(await h.handle(at(OLDER, "1741064767000-0"))).toEqual({ kind: "done" });
    expect(h.fake.calls.map((c) => c.restartedAt)).toEqual([NEWER]);
    expect(h.map.restartedAtOf(workload("app", []))).toBe(Date.parse(NEWER));
    expect(h.metrics.restartsSuperseded.get({ kind: "Deployment" })).toBe(1);
    expect(h.metrics.restarts.get({ kind: "Deployment", outcome: "ok" })).toBe(1);
    expect(h.metrics.restarts.get({ kind: "Deployment", outcome: "failed" })).toBe(0);
    expect(h.lines.find((l) => l.msg?.toString().startsWith("restart superseded"))).toMatchObject({
      name: "app",
      restarted_at: OLDER,
      newer_restarted_at: NEWER,
    });
    expect(h.lines.filter((l) => l.msg === "event processed").at(-1)).toMatchObject({
      superseded: ["Deployment/apps/app"],
      failed: [],
    });
    await waitFor(() => h.statusOf("1741064767000-0")?.state === "complete", "the superseded event's status");
    expect(h.statusOf("1741064767000-0")?.workloads).toEqual([
      {
        kind: "Deployment",
        namespace: "apps",
        name: "app",
        state: "superseded",
        reason: `a later restart (${NEWER}) is already on the workload`,
      },
    ]);
  });

  test("the same value again is patched: a redelivery stays idempotent, not superseded", async () => {
    const h = superseding();
    await h.handle(at(NEWER, "1741064768000-0"));
    await h.handle(at(NEWER, "1741064768000-0"));
    expect(h.fake.calls.map((c) => c.restartedAt)).toEqual([NEWER, NEWER]);
    expect(h.metrics.restartsSuperseded.get({ kind: "Deployment" })).toBe(0);
  });

  test("a later restart seen on the workload by the watch supersedes the event too", async () => {
    const h = superseding();
    h.map.noteRestartedAt(workload("app", []), Date.parse(NEWER));
    await h.handle(at(OLDER, "1741064767000-0"));
    expect(h.fake.calls).toEqual([]);
    expect(h.metrics.restartsSuperseded.get({ kind: "Deployment" })).toBe(1);
  });
});

describe("a restart superseded in the workload's line by a later event queued behind it", () => {
  const T = (second: number) => `2025-03-04T05:06:${String(second).padStart(2, "0")}.000Z`;
  /** The stream entry ID of the event accepted at second `second`. */
  const id = (second: number) => `${Date.parse(T(second))}-0`;
  /** The event for `app`, accepted at second `second`. */
  const at = (second: number): DeliveredEvent => {
    const sent = delivery({ image: "ghcr.io/acme/app", tags: ["dev"] }, { entryId: id(second) });
    return { ...sent, envelope: { ...sent.envelope, acceptedAt: T(second) } };
  };

  /** A handler whose patches are held until released, answered by `answer` from their restartedAt. */
  function queued(answer: (restartedAt: string) => RestartOutcome = () => ({ kind: "restarted" })) {
    const writes: { eventId: string; status: ClusterStatus }[] = [];
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
    const recorder = new EventStatusRecorder({
      store: { write: async (eventId, _summary, status) => void writes.push({ eventId, status }) },
      cluster: "eu",
      log,
      forgetAfterMs: 60_000,
    });
    const held: { restartedAt: string; go: () => void }[] = [];
    const patched: string[] = [];
    /** The one workload the index holds; a test may annotate it or take it out. */
    const index: { app: IndexedWorkload | undefined } = { app: workload("app", ["ghcr.io/acme/app:dev"]) };
    const patcher: WorkloadPatcher = {
      async restart(_ref, restartedAt) {
        await new Promise<void>((go) => held.push({ restartedAt, go }));
        patched.push(restartedAt);
        return answer(restartedAt);
      },
    };
    const metrics = createWorkerMetrics(new MetricsRegistry());
    const handle = createEventHandler({
      allowedImagePrefix: PREFIX,
      dryRun: false,
      index: { findByImages: () => (index.app === undefined ? [] : [index.app]) },
      patcher,
      metrics,
      log,
      status: { recorder },
    });
    const statusOf = (eventId: string) => writes.filter((w) => w.eventId === eventId).at(-1)?.status;
    /** Lets the patch held now go, once it is held. */
    const releasePatch = async (restartedAt: string) => {
      await waitFor(() => held.some((h) => h.restartedAt === restartedAt), `the patch of ${restartedAt}`);
      for (const h of held.splice(0)) h.go();
    };
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    return { handle, metrics, lines, statusOf, releasePatch, patched, turn, index };
  }

  test("frees its place and is acknowledged at once, logged and counted, but recorded superseded only once the later restart landed", async () => {
    const q = queued();
    const running = q.handle(at(1));
    const waiting = q.handle(at(2));
    const later = q.handle(at(3));
    expect(await waiting).toEqual({ kind: "done" });
    expect(q.metrics.restartsSuperseded.get({ kind: "Deployment" })).toBe(1);
    expect(q.lines.find((l) => String(l.msg).startsWith("restart superseded"))).toMatchObject({
      msg: "restart superseded: a later event queued for this workload restarts it instead",
      name: "app",
      restarted_at: T(2),
      newer_restarted_at: T(3),
      newer_event_id: id(3),
      event_id: id(2),
    });
    expect(q.lines.filter((l) => l.msg === "event processed").at(-1)).toMatchObject({
      event_id: id(2),
      superseded: ["Deployment/apps/app"],
      outcome: "done",
    });
    // Written once after its restarts, still pending: the later restart has not landed yet.
    await q.turn();
    expect(q.statusOf(id(2))).toMatchObject({ state: "processing", workloads: [{ state: "pending" }] });
    await q.releasePatch(T(1));
    expect(await running).toEqual({ kind: "done" });
    await q.turn();
    expect(q.statusOf(id(2))?.workloads[0]?.state).toBe("pending");
    await q.releasePatch(T(3));
    expect(await later).toEqual({ kind: "done" });
    await waitFor(() => q.statusOf(id(2))?.state !== "processing", "the superseded event's final status");
    expect(q.statusOf(id(2))?.workloads).toEqual([
      {
        kind: "Deployment",
        namespace: "apps",
        name: "app",
        state: "superseded",
        reason: `superseded by a later event queued for this workload (event ${id(3)}, restartedAt ${T(3)})`,
      },
    ]);
    expect(q.patched).toEqual([T(1), T(3)]);
  });

  test("when the later event's restart fails for good, the superseded event's workload says so, not superseded", async () => {
    const q = queued((restartedAt) =>
      restartedAt === T(3) ? { kind: "failed", reason: "422 Invalid" } : { kind: "restarted" },
    );
    const running = q.handle(at(1));
    const waiting = q.handle(at(2));
    const later = q.handle(at(3));
    expect(await waiting).toEqual({ kind: "done" });
    await q.releasePatch(T(1));
    await q.releasePatch(T(3));
    expect(await Promise.all([running, later])).toEqual([{ kind: "done" }, { kind: "done" }]);
    await waitFor(() => q.statusOf(id(2))?.state !== "processing", "the superseded event's final status");
    expect(q.statusOf(id(2))?.workloads).toEqual([
      {
        kind: "Deployment",
        namespace: "apps",
        name: "app",
        state: "not_restarted",
        reason: `the later event that superseded it (event ${id(3)}, restartedAt ${T(3)}) failed: 422 Invalid`,
      },
    ]);
    expect(
      q.lines.find(
        (l) => l.msg === "superseded restart's later event failed: the workload got neither restart",
      ),
    ).toMatchObject({
      level: "WARN",
      event_id: id(2),
      name: "app",
      restarted_at: T(2),
    });
  });

  test("while the later event will be retried the superseded one stays pending, and its retry settles it", async () => {
    let reachable = false;
    const q = queued((restartedAt) =>
      restartedAt === T(3) && !reachable
        ? { kind: "unreachable", reason: "connect ECONNREFUSED" }
        : { kind: "restarted" },
    );
    const running = q.handle(at(1));
    const waiting = q.handle(at(2));
    const later = q.handle(at(3));
    expect(await waiting).toEqual({ kind: "done" });
    await q.releasePatch(T(1));
    await q.releasePatch(T(3));
    expect(await running).toEqual({ kind: "done" });
    expect(await later).toMatchObject({ kind: "retry" });
    await waitFor(() => q.statusOf(id(2))?.workloads[0]?.reason !== undefined, "the pending reason");
    expect(q.statusOf(id(2))).toMatchObject({
      state: "processing",
      workloads: [
        {
          state: "pending",
          reason: `the later event that superseded it (event ${id(3)}, restartedAt ${T(3)}) will be retried: cluster unreachable: connect ECONNREFUSED`,
        },
      ],
    });
    reachable = true;
    const retried = q.handle({ ...at(3), attempt: 2 });
    await q.releasePatch(T(3));
    expect(await retried).toEqual({ kind: "done" });
    await waitFor(() => q.statusOf(id(2))?.state !== "processing", "the superseded event's final status");
    expect(q.statusOf(id(2))?.workloads[0]).toMatchObject({
      state: "superseded",
      reason: `superseded by a later event queued for this workload (event ${id(3)}, restartedAt ${T(3)})`,
    });
  });

  test("when the later event goes to the dead letters instead of its retry, the superseded one is final: neither restart", async () => {
    const q = queued((restartedAt) =>
      restartedAt === T(3) ? { kind: "unreachable", reason: "connect ECONNREFUSED" } : { kind: "restarted" },
    );
    const running = q.handle(at(1));
    const waiting = q.handle(at(2));
    const later = q.handle(at(3));
    expect(await waiting).toEqual({ kind: "done" });
    await q.releasePatch(T(1));
    await q.releasePatch(T(3));
    expect(await running).toEqual({ kind: "done" });
    expect(await later).toMatchObject({ kind: "retry" });
    await waitFor(() => q.statusOf(id(2))?.workloads[0]?.reason !== undefined, "the pending reason");
    expect(q.statusOf(id(2))?.workloads[0]?.state).toBe("pending");
    q.handle.deadLettered?.(id(3));
    await waitFor(() => q.statusOf(id(2))?.state !== "processing", "the superseded event's final status");
    expect(q.statusOf(id(2))?.workloads[0]).toMatchObject({
      state: "failed",
      reason: `the later event that superseded it (event ${id(3)}, restartedAt ${T(3)}) was moved to the dead letters`,
    });
  });

  test("an older event arriving behind a later waiting one is superseded at once too, and follows that one's outcome", async () => {
    const q = queued();
    const running = q.handle(at(5));
    const waiting = q.handle(at(10));
    const olders = [3, 4, 2, 1].map((second) => q.handle(at(second)));
    expect(await Promise.all(olders)).toEqual(Array(4).fill({ kind: "done" }));
    expect(q.metrics.restartsSuperseded.get({ kind: "Deployment" })).toBe(4);
    await q.releasePatch(T(5));
    await q.releasePatch(T(10));
    expect(await Promise.all([running, waiting])).toEqual([{ kind: "done" }, { kind: "done" }]);
    expect(q.patched).toEqual([T(5), T(10)]);
    for (const second of [3, 4, 2, 1]) {
      await waitFor(() => q.statusOf(id(second))?.state !== "processing", `event ${second}'s final status`);
      expect(q.statusOf(id(second))?.workloads[0]).toMatchObject({
        state: "superseded",
        reason: `superseded by a later event queued for this workload (event ${id(10)}, restartedAt ${T(10)})`,
      });
    }
  });

  test("a superseded one waiting for a retry that is itself superseded in line follows the place that took its turn, through a second retry", async () => {
    const down = new Set([T(3), T(5)]);
    const q = queued((restartedAt) =>
      down.has(restartedAt) ? { kind: "unreachable", reason: "down" } : { kind: "restarted" },
    );
    const r1 = q.handle(at(1));
    const w2 = q.handle(at(2));
    const l3 = q.handle(at(3));
    expect(await w2).toEqual({ kind: "done" });
    await q.releasePatch(T(1));
    await q.releasePatch(T(3));
    await r1;
    expect(await l3).toMatchObject({ kind: "retry" });
    down.delete(T(3));
    // Event 3's retry arrives while 4 runs and 5 waits: it is superseded in line by 5 and acknowledged.
    const r4 = q.handle(at(4));
    const l5 = q.handle(at(5));
    const retry3 = q.handle({ ...at(3), attempt: 2 });
    expect(await retry3).toEqual({ kind: "done" });
    await q.releasePatch(T(4));
    await q.releasePatch(T(5));
    await r4;
    expect(await l5).toMatchObject({ kind: "retry" });
    await waitFor(
      () => q.statusOf(id(2))?.workloads[0]?.reason?.includes(id(5)) === true,
      "event 2 waits on 5",
    );
    expect(q.statusOf(id(2))).toMatchObject({
      state: "processing",
      workloads: [
        {
          state: "pending",
          reason: `the later event that superseded it (event ${id(5)}, restartedAt ${T(5)}) will be retried: cluster unreachable: down`,
        },
      ],
    });
    down.delete(T(5));
    const retry5 = q.handle({ ...at(5), attempt: 2 });
    await q.releasePatch(T(5));
    expect(await retry5).toEqual({ kind: "done" });
    const landed = {
      state: "superseded",
      reason: `superseded by a later event queued for this workload (event ${id(5)}, restartedAt ${T(5)})`,
    };
    for (const second of [2, 3]) {
      await waitFor(() => q.statusOf(id(second))?.state !== "processing", `event ${second}'s final status`);
      expect(q.statusOf(id(second))?.workloads[0]).toMatchObject(landed);
    }
    expect(q.patched).toEqual([T(1), T(3), T(4), T(5), T(5)]);
  });

  test("through a chain of supersessions the superseded ones name, and wait for the retry of, the event whose restart ran", async () => {
    const down = new Set([T(4)]);
    const q = queued((restartedAt) =>
      down.has(restartedAt) ? { kind: "unreachable", reason: "down" } : { kind: "restarted" },
    );
    const r1 = q.handle(at(1));
    const w2 = q.handle(at(2));
    const w3 = q.handle(at(3));
    const l4 = q.handle(at(4));
    expect(await Promise.all([w2, w3])).toEqual([{ kind: "done" }, { kind: "done" }]);
    await q.releasePatch(T(1));
    await q.releasePatch(T(4));
    await r1;
    expect(await l4).toMatchObject({ kind: "retry" });
    for (const second of [2, 3]) {
      await waitFor(
        () => q.statusOf(id(second))?.workloads[0]?.reason !== undefined,
        `event ${second} waits`,
      );
      expect(q.statusOf(id(second))?.workloads[0]).toMatchObject({
        state: "pending",
        reason: `the later event that superseded it (event ${id(4)}, restartedAt ${T(4)}) will be retried: cluster unreachable: down`,
      });
    }
    down.delete(T(4));
    const retry4 = q.handle({ ...at(4), attempt: 2 });
    await q.releasePatch(T(4));
    expect(await retry4).toEqual({ kind: "done" });
    for (const second of [2, 3]) {
      await waitFor(() => q.statusOf(id(second))?.state !== "processing", `event ${second}'s final status`);
      expect(q.statusOf(id(second))?.workloads[0]).toMatchObject({
        state: "superseded",
        reason: `superseded by a later event queued for this workload (event ${id(4)}, restartedAt ${T(4)})`,
      });
    }
  });

  for (const [change, to] of [
    ["skip-annotated", (app: IndexedWorkload) => ({ ...app, skip: true })],
    ["gone from the index", () => undefined],
  ] as const)
    test(`when the later event's retry finds the workload ${change}, the superseded one is final: neither restart`, async () => {
      const q = queued((restartedAt) =>
        restartedAt === T(3) ? { kind: "unreachable", reason: "down" } : { kind: "restarted" },
      );
      const r1 = q.handle(at(1));
      const w2 = q.handle(at(2));
      const l3 = q.handle(at(3));
      expect(await w2).toEqual({ kind: "done" });
      await q.releasePatch(T(1));
      await q.releasePatch(T(3));
      await r1;
      expect(await l3).toMatchObject({ kind: "retry" });
      await waitFor(
        () => q.statusOf(id(2))?.workloads[0]?.reason !== undefined,
        "event 2 waits for 3's retry",
      );
      q.index.app = to(q.index.app ?? workload("app", []));
      expect(await q.handle({ ...at(3), attempt: 2 })).toEqual({ kind: "done" });
      await waitFor(() => q.statusOf(id(2))?.state !== "processing", "event 2's final status");
      expect(q.statusOf(id(2))?.workloads[0]).toMatchObject({
        state: "not_restarted",
        reason: `the later event that superseded it (event ${id(3)}, restartedAt ${T(3)}) no longer restarts this workload`,
      });
      expect(q.patched).toEqual([T(1), T(3)]);
    });
});

describe("superseded restarts awaiting a later event's retry", () => {
  const settles = (log: string[], name: string) => () => void log.push(name);

  test("past the cap the pair registered or renewed longest ago is forgotten, not one just renewed", () => {
    const awaiting = awaitingRetries(2);
    const settled: string[] = [];
    awaiting.add("e1", "w", settles(settled, "first"));
    awaiting.add("e2", "w", settles(settled, "second"));
    awaiting.add("e1", "w", settles(settled, "first again"));
    awaiting.add("e3", "w", settles(settled, "third"));
    expect(awaiting.size).toBe(2);
    expect(awaiting.take("e2", "w")).toEqual([]);
    for (const settle of [...awaiting.take("e1", "w"), ...awaiting.take("e3", "w")])
      settle({ outcome: "dropped" });
    expect(settled).toEqual(["first", "first again", "third"]);
    expect(awaiting.size).toBe(0);
  });

  test("an event's waiters on the workloads it no longer restarts are taken out, the others kept", () => {
    const awaiting = awaitingRetries();
    const settled: string[] = [];
    for (const workload of ["a", "b", "c"]) awaiting.add("e1", workload, settles(settled, workload));
    awaiting.add("e2", "a", settles(settled, "other event"));
    for (const settle of awaiting.takeAllBut("e1", new Set(["b"]))) settle({ outcome: "dropped" });
    expect(settled).toEqual(["a", "c"]);
    expect(awaiting.size).toBe(2);
    expect(awaiting.takeAllBut("e1", new Set())).toHaveLength(1);
    expect(awaiting.take("e2", "a")).toHaveLength(1);
  });
});
