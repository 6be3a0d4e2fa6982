import { type BackoffPolicy, backoffDelay } from "../../core/backoff.ts";
import type { MetricsRegistry } from "../../core/metrics.ts";
import type { RestartOutcome } from "../../core/restart.ts";
import type { WorkloadRef } from "../../core/workload.ts";
import { restartPatchBody, WORKLOAD_KINDS, type WorkloadResource } from "../../core/workload-kind.ts";
import type { Logger } from "../../log.ts";
import type { WorkloadPatcher } from "../../worker/ports.ts";
import { type KubeClient, resourcePath } from "./kube-client.ts";
import type { KubeStatus } from "./kube-errors.ts";
import { reduceWorkload } from "./reduce-workload.ts";

/** The field manager our patches are recorded under. */
export const FIELD_MANAGER = "kuberollouttrigger";

/** The RBAC rule a 403 on a patch lacks, e.g. `patch deployments.apps in namespace "x"`. */
export function missingPatchRule(resource: WorkloadResource, namespace: string): string {
  return `patch ${resource}.${WORKLOAD_KINDS[resource].group} in namespace "${namespace}"`;
}

/** Options of {@link createWorkloadPatcher}. */
export interface WorkloadPatcherOptions {
  readonly client: Pick<KubeClient, "request">;
  readonly log: Logger;
  /** Where `kuberollouttrigger_worker_patch_duration_seconds{kind}` is declared; none when omitted. */
  readonly registry?: MetricsRegistry;
  /** The kinds whose duration series exist from the start, with no observations (default: none). */
  readonly resources?: readonly WorkloadResource[];
  /** Tries per restart (default 5). */
  readonly maxAttempts?: number;
  /** No retry starts once this much has passed since the first try (default 60 s). */
  readonly budgetMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

const RETRYABLE = (code: number) => code === 409 || code === 429 || code >= 500;

type Attempt =
  | { readonly done: RestartOutcome }
  | { readonly retry: "network"; readonly reason: string }
  | { readonly retry: "status"; readonly status: KubeStatus };

/**
 * The `restarted` outcome of a PATCH answer: with the object's new `metadata.generation`, its rollout
 * summary and the `restartedAt` it now carries, when it has them.
 */
function restartedWith(text: string): RestartOutcome {
  let object: unknown;
  try {
    object = JSON.parse(text);
  } catch {
    return { kind: "restarted" };
  }
  const generation = (object as { metadata?: { generation?: unknown } } | null)?.metadata?.generation;
  if (typeof generation !== "number" || !Number.isSafeInteger(generation)) return { kind: "restarted" };
  const reduced = reduceWorkload(object);
  return {
    kind: "restarted",
    generation,
    ...(reduced?.rollout === undefined ? {} : { rollout: reduced.rollout }),
    ...(reduced?.restartedAtMs === undefined ? {} : { restartedAtMs: reduced.restartedAtMs }),
  };
}

const describe = (status: KubeStatus) => `${status.code} ${status.reason}: ${status.message}`;

/**
 * Creates the {@link WorkloadPatcher}: one patch per restart (strategic merge; a merge patch for a
 * Rollout), retried on 409, 429
 * (after its Retry-After), 5xx and network errors with capped exponential backoff and jitter, within
 * `maxAttempts` and `budgetMs`. A 401 that persists after the client's credential refresh is
 * `unreachable` (the event stays pending), not `failed`. A dry run makes no request at all.
 */
export function createWorkloadPatcher(options: WorkloadPatcherOptions): WorkloadPatcher {
  const maxAttempts = options.maxAttempts ?? 5;
  const budgetMs = options.budgetMs ?? 60_000;
  const backoff = options.backoff ?? { baseMs: 250, maxMs: 10_000 };
  const sleep = options.sleep ?? ((ms: number) => Bun.sleep(ms));
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const duration = options.registry?.histogram(
    "kuberollouttrigger_worker_patch_duration_seconds",
    "Duration of one restart PATCH request to the Kubernetes API, by kind; each retry is observed on its own.",
    ["kind"],
  );
  for (const resource of options.resources ?? []) duration?.init({ kind: WORKLOAD_KINDS[resource].kind });

  async function attempt(
    ref: WorkloadRef,
    request: { readonly path: string; readonly body: string; readonly log: Logger },
    timeoutMs: number,
  ): Promise<Attempt> {
    const { path, body, log } = request;
    const started = now();
    try {
      const response = await options.client.request("PATCH", path, {
        body,
        contentType: WORKLOAD_KINDS[ref.resource].patchContentType,
        timeoutMs,
      });
      if (response.ok) return { done: restartedWith(response.text) };
      const { status } = response;
      if (status.code === 404) return { done: { kind: "not_found" } };
      // The client already retried once with fresh credentials: the cluster rejects ours for now (a
      // rotated or revoked token). Not the event's fault, so it stays pending and is retried later.
      if (status.code === 401) {
        const reason = `credentials rejected: ${describe(status)}`;
        log.warn(
          "the Kubernetes API rejects the worker's credentials (401) even after reading them again; the event stays pending and is retried",
          { reason },
        );
        return { done: { kind: "unreachable", reason } };
      }
      if (status.code === 403)
        return { done: { kind: "forbidden", missingRule: missingPatchRule(ref.resource, ref.namespace) } };
      if (RETRYABLE(status.code)) return { retry: "status", status };
      return { done: { kind: "failed", reason: describe(status) } };
    } catch (error) {
      return { retry: "network", reason: error instanceof Error ? error.message : String(error) };
    } finally {
      duration?.observe((now() - started) / 1000, { kind: WORKLOAD_KINDS[ref.resource].kind });
    }
  }

  return {
    async restart(ref, restartedAt, { dryRun, log: eventLog }) {
      if (dryRun) return { kind: "dry_run" };
      const path = `${resourcePath(ref.resource, ref.namespace, ref.name)}?fieldManager=${FIELD_MANAGER}`;
      const body = restartPatchBody(ref.resource, restartedAt);
      const kind = WORKLOAD_KINDS[ref.resource].kind;
      const log = (eventLog ?? options.log).with({ kind, namespace: ref.namespace, name: ref.name });
      const started = now();
      for (let tries = 1; ; tries++) {
        const remaining = budgetMs - (now() - started);
        const result = await attempt(ref, { path, body, log }, Math.max(1000, Math.min(30_000, remaining)));
        if ("done" in result) return result.done;
        const reason = result.retry === "network" ? result.reason : describe(result.status);
        const retryAfter = result.retry === "status" ? result.status.retryAfterSeconds : undefined;
        const delay = retryAfter !== undefined ? retryAfter * 1000 : backoffDelay(tries, backoff, random);
        if (tries >= maxAttempts || now() - started + delay > budgetMs) {
          const why = `${reason} (gave up after ${tries} ${tries === 1 ? "try" : "tries"})`;
          return result.retry === "network"
            ? { kind: "unreachable", reason: why }
            : { kind: "failed", reason: why };
        }
        log.warn("patch failed; retrying", { reason, attempt: tries, retry_in_ms: delay });
        await sleep(delay);
      }
    },
  };
}
