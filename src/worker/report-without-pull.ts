import { restartsWithoutPull } from "../core/pull-policy.ts";
import { describeWorkload, type RestartOutcome } from "../core/restart.ts";
import type { IndexedWorkload } from "../core/workload.ts";
import { WORKLOAD_KINDS } from "../core/workload-kind.ts";
import type { Logger } from "../log.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/** Why a restart of a workload whose containers do not always pull leaves the old image running, and the fix. */
export const WITHOUT_PULL_ADVICE = {
  reason:
    "a container running the image has imagePullPolicy IfNotPresent or Never (IfNotPresent is the default for every tag but latest): a node that has the tag cached starts the old image",
  fix: "set imagePullPolicy: Always on the containers that run the image, or push a new tag or a digest and point the workload at it",
} as const;

/**
 * Finds the restarts of one event (made, or in dry run only logged) that leave a container on a node's
 * cached copy of a matched image (`refs`), warns about them in one line with the fix, counts the ones
 * made in `kuberollouttrigger_worker_restarts_without_pull_total{kind}`, and returns them as
 * `Deployment/ns/name` for the event's line.
 */
export function reportWithoutPull(
  results: readonly { readonly workload: IndexedWorkload; readonly outcome: RestartOutcome }[],
  refs: readonly string[],
  metrics: WorkerMetrics,
  eventLog: Logger,
  event: { readonly image: string; readonly tags: readonly string[] },
): string[] {
  const without = results.filter(
    (r) =>
      (r.outcome.kind === "restarted" || r.outcome.kind === "dry_run") &&
      restartsWithoutPull(r.workload, refs),
  );
  for (const { workload, outcome } of without)
    if (outcome.kind === "restarted")
      metrics.restartsWithoutPull.inc({ kind: WORKLOAD_KINDS[workload.resource].kind });
  const named = without.map((r) => describeWorkload(r.workload));
  if (named.length > 0)
    eventLog.warn("restarted workloads will not pull the new image", {
      image: event.image,
      tags: event.tags,
      workloads: named,
      ...WITHOUT_PULL_ADVICE,
    });
  return named;
}
