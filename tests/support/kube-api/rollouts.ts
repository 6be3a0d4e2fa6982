import type { WorkloadResource } from "./resources.ts";
import { rolloutStatus } from "./rollout-status.ts";
import type { KubeObject, ObjectStore } from "./store.ts";

/** How a simulated rollout ends: it completes, fails (`ProgressDeadlineExceeded`, Deployments only), or never ends. */
export type RolloutOutcome = "complete" | "fail" | "hang";

/**
 * Simulates the controllers' side of rollouts, as a real cluster shows them through status: a created
 * workload starts complete (for generation 1); after a write that changes its spec (a restart's PATCH),
 * its status stays the old generation's complete one for `delayMs`, then moves to the new generation,
 * midway, then after `delayMs` more to complete, or failed, or nowhere, by the workload's outcome. Each
 * step is one MODIFIED event.
 */
export class RolloutSimulator {
  #delayMs = 50;
  readonly #outcomes = new Map<string, RolloutOutcome>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly store: ObjectStore) {}

  setDelay(ms: number): void {
    this.#delayMs = ms;
  }

  setOutcome(resource: WorkloadResource, namespace: string, name: string, outcome: RolloutOutcome): void {
    this.#outcomes.set(`${resource}/${namespace}/${name}`, outcome);
  }

  /** A write changed the spec of this workload, to `generation`: its rollout starts. */
  started(resource: WorkloadResource, namespace: string, name: string, generation: number): void {
    const outcome = this.#outcomes.get(`${resource}/${namespace}/${name}`) ?? "complete";
    this.#after(this.#delayMs, () => {
      if (!this.#step(resource, namespace, name, generation, "midway") || outcome === "hang") return;
      this.#after(this.#delayMs, () =>
        this.#step(resource, namespace, name, generation, outcome === "fail" ? "failed" : "done"),
      );
    });
  }

  /** Cancels every step still to come. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  /** Sets the status of one phase, unless the workload is gone or a newer generation took over. */
  #step(
    resource: WorkloadResource,
    namespace: string,
    name: string,
    generation: number,
    phase: "done" | "midway" | "failed",
  ): boolean {
    const json = this.store.getJson(resource, namespace, name);
    if (json === undefined) return false;
    const obj = JSON.parse(json) as KubeObject;
    if (obj.metadata?.generation !== generation) return false;
    obj.status = rolloutStatus(resource, obj, generation, phase);
    this.store.commit(resource, namespace, name, obj);
    return true;
  }
}
