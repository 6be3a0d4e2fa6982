import { expect, test } from "bun:test";
import { createLogger } from "../../../src/log.ts";
import { type IndexMetrics, NO_INDEX_METRICS } from "../../../src/worker/index-metrics.ts";
import type { IndexTimers } from "../../../src/worker/index-timers.ts";
import type {
  ListedWorkload,
  WorkloadPage,
  WorkloadSource,
  WorkloadWatchEvent,
} from "../../../src/worker/ports.ts";
import { createWorkloadIndex } from "../../../src/worker/workload-index.ts";
import { waitFor } from "../../support/wait-for.ts";

const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { status: { code } });
const item = (name: string): ListedWorkload => ({
  namespace: "a",
  name,
  resourceVersion: "1",
  images: ["i:1"],
  notPulled: 0,
  skip: false,
});

/** Timers whose sleeps are recorded and end on the next turn of the event loop; no deadline ever fires. */
function instantTimers(): IndexTimers & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    setTimeout: () => () => {},
    sleep: async (ms) => {
      sleeps.push(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    random: () => 0.5,
    now: () => 0,
  };
}

/** Index metrics that record each kind-state change (`resource=state`) and each synced flag. */
function recordingMetrics() {
  const states: string[] = [];
  const synced: boolean[] = [];
  const metrics: IndexMetrics = {
    ...NO_INDEX_METRICS,
    setKindState: (resource, state) => states.push(`${resource}=${state}`),
    setSynced: (value) => synced.push(value),
  };
  return { metrics, states, synced };
}

/** A watch that stays open, silent, until aborted. */
async function* silentUntilAborted(signal: AbortSignal): AsyncGenerator<WorkloadWatchEvent> {
  if (!signal.aborted)
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  throw signal.reason;
}

test("an expired continue token restarts the list from the first page, and nothing is lost", async () => {
  const calls: (string | undefined)[] = [];
  let failed = false;
  const source: WorkloadSource = {
    async list(_r, _n, { continue: token }): Promise<WorkloadPage> {
      calls.push(token);
      if (token === undefined) return { items: [item("one")], resourceVersion: "5", continue: "page2" };
      if (!failed) {
        failed = true;
        throw apiError(410);
      }
      return { items: [item("two")], resourceVersion: "5", continue: undefined };
    },
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const index = createWorkloadIndex({
    source,
    resources: ["deployments"],
    namespaces: [],
    log: createLogger({ write: () => {} }),
    timers: instantTimers(),
  });
  index.start();
  await index.waitUntilSynced();
  expect(calls).toEqual([undefined, "page2", undefined, "page2"]);
  expect(index.size).toBe(2);
  await index.stop();
});

test("a watch the service account may not open is reported once and retried slowly with a relist", async () => {
  let lists = 0;
  const lines: string[] = [];
  const timers = instantTimers();
  const source: WorkloadSource = {
    async list() {
      lists++;
      return { items: [item("one")], resourceVersion: "5", continue: undefined };
    },
    // biome-ignore lint/correctness/useYield: a watch that is refused before its first event
    async *watch() {
      throw apiError(403);
    },
  };
  const recorded = recordingMetrics();
  const index = createWorkloadIndex({
    source,
    resources: ["statefulsets"],
    namespaces: ["x"],
    log: createLogger({ write: (line) => lines.push(line) }),
    metrics: recorded.metrics,
    timers,
    settings: { forbiddenRetryMs: 1234 },
  });
  index.start();
  await index.waitUntilSynced();
  await waitFor(() => lists >= 3, "three lists", 2000, 1);
  await index.stop();
  expect(index.status()).toEqual({ synced: true, syncing: [], forbidden: ["statefulsets"] });
  // The lists that keep working between refused watches do not make the kind flap back to synced.
  expect(recorded.states).toEqual(["statefulsets=syncing", "statefulsets=synced", "statefulsets=forbidden"]);
  const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "ERROR");
  expect(errors.map((l) => l.msg)).toEqual([
    'worker may not watch statefulsets.apps in namespace "x": grant list, watch on statefulsets in apiGroup apps with a Role and RoleBinding in "x"',
  ]);
  expect(timers.sleeps.every((ms) => ms === 1234)).toBe(true);
});

test("a kind the service account may not list is forbidden without holding back the sync, and synced once a list is allowed", async () => {
  let denied = true;
  const source: WorkloadSource = {
    async list(resource) {
      if (resource === "statefulsets" && denied) throw apiError(403);
      return { items: [item("one")], resourceVersion: "5", continue: undefined };
    },
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const recorded = recordingMetrics();
  const index = createWorkloadIndex({
    source,
    resources: ["deployments", "statefulsets"],
    namespaces: [],
    log: createLogger({ write: () => {} }),
    metrics: recorded.metrics,
    timers: instantTimers(),
  });
  index.start();
  await index.waitUntilSynced();
  expect(index.status()).toEqual({ synced: true, syncing: [], forbidden: ["statefulsets"] });
  expect(recorded.states).toContain("statefulsets=forbidden");
  expect(recorded.states).toContain("deployments=synced");
  expect(recorded.synced).toEqual([false, true]);
  denied = false;
  await waitFor(() => index.status().forbidden.length === 0, "the kind to be listed", 2000, 1);
  await index.stop();
  expect(recorded.states.at(-1)).toBe("statefulsets=synced");
  expect(recorded.synced).toEqual([false, true]);
});

test("with several namespaces a kind is forbidden when any namespace is, and syncing until every namespace has listed", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const source: WorkloadSource = {
    async list(_resource, namespace) {
      if (namespace === "b") throw apiError(403);
      await held;
      return { items: [item("one")], resourceVersion: "5", continue: undefined };
    },
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const recorded = recordingMetrics();
  const index = createWorkloadIndex({
    source,
    resources: ["deployments"],
    namespaces: ["a", "b"],
    log: createLogger({ write: () => {} }),
    metrics: recorded.metrics,
    timers: instantTimers(),
  });
  index.start();
  await waitFor(() => index.status().forbidden.length > 0, "namespace b to be refused", 2000, 1);
  expect(index.status()).toEqual({ synced: false, syncing: ["deployments"], forbidden: ["deployments"] });
  release();
  await index.waitUntilSynced();
  expect(index.status()).toEqual({ synced: true, syncing: [], forbidden: ["deployments"] });
  await index.stop();
  expect(recorded.states).toEqual(["deployments=syncing", "deployments=forbidden"]);
});

test("repeated network failures back off exponentially up to the cap", async () => {
  const timers = instantTimers();
  let lists = 0;
  const source: WorkloadSource = {
    async list() {
      lists++;
      throw new Error("connection refused");
    },
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const index = createWorkloadIndex({
    source,
    resources: ["deployments"],
    namespaces: [],
    log: createLogger({ write: () => {} }),
    timers,
    settings: { backoff: { baseMs: 100, maxMs: 800 } },
  });
  index.start();
  await waitFor(() => lists >= 6, "six lists", 2000, 1);
  await index.stop();
  expect(index.synced).toBe(false);
  // Ceilings 100, 200, 400, 800, 800 with the jitter at its midpoint (75 %).
  expect(timers.sleeps.slice(0, 5)).toEqual([75, 150, 300, 600, 600]);
});

test("waitUntilSynced rejects when its signal aborts before the sync", async () => {
  const source: WorkloadSource = {
    list: () => new Promise(() => {}),
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const index = createWorkloadIndex({
    source,
    resources: ["deployments"],
    namespaces: [],
    log: createLogger({ write: () => {} }),
  });
  const controller = new AbortController();
  const waiting = index.waitUntilSynced(controller.signal);
  controller.abort(new Error("shutting down"));
  await expect(waiting).rejects.toThrow("shutting down");
});

test("onSynced is called once, when every kind first synced, and the listed restartedAt is remembered", async () => {
  const ref = { resource: "deployments", namespace: "a", name: "one" } as const;
  const synced: number[] = [];
  const source: WorkloadSource = {
    async list() {
      return { items: [{ ...item("one"), restartedAtMs: 1234 }], resourceVersion: "5", continue: undefined };
    },
    watch: (_r, _n, _rv, { signal }) => silentUntilAborted(signal),
  };
  const index = createWorkloadIndex({
    source,
    resources: ["deployments", "statefulsets"],
    namespaces: [],
    log: createLogger({ write: () => {} }),
    timers: instantTimers(),
    onSynced: () => synced.push(index.size),
  });
  index.start();
  await index.waitUntilSynced();
  expect(synced).toEqual([2]);
  expect(index.restartedAtOf(ref)).toBe(1234);
  index.noteRestartedAt(ref, 1000);
  expect(index.restartedAtOf(ref)).toBe(1234);
  await index.stop();
});
