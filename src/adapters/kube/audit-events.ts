import { type AuditFacts, auditEventBody } from "../../core/audit-event.ts";
import type { WorkloadRef } from "../../core/workload.ts";
import { WORKLOAD_KINDS } from "../../core/workload-kind.ts";
import type { Logger } from "../../log.ts";
import type { AuditTrail } from "../../worker/ports.ts";
import type { KubeClient } from "./kube-client.ts";

/** Options of {@link createAuditEvents}. */
export interface AuditEventsOptions {
  readonly client: Pick<KubeClient, "request">;
  readonly log: Logger;
  /** The Events' `reportingInstance`: this worker (its consumer name). */
  readonly reportingInstance: string;
  /** Event writes in flight at most; one more is let go (default 4). */
  readonly maxInFlight?: number;
  /** Longest wait for one write (default 5 s). */
  readonly timeoutMs?: number;
  readonly now?: () => Date;
}

/** The RBAC rule a 403 on an audit Event lacks. */
export function missingEventRule(namespace: string): string {
  return `create events.events.k8s.io in namespace "${namespace}"`;
}

/** The audit trail, with the writes still in flight for tests and a stop to wait on. */
export interface AuditEvents extends AuditTrail {
  /** Resolves once every write started so far has ended. */
  settled(): Promise<void>;
}

/**
 * Creates the {@link AuditTrail} that writes an `events.k8s.io/v1` Event per restart, in the
 * background: at most `maxInFlight` at once, each bounded by `timeoutMs`, failures logged at debug. The
 * first 403 turns it off until the process restarts, with one warning naming the missing rule.
 */
export function createAuditEvents(options: AuditEventsOptions): AuditEvents {
  const { client, log } = options;
  const maxInFlight = options.maxInFlight ?? 4;
  const timeoutMs = options.timeoutMs ?? 5000;
  const now = options.now ?? (() => new Date());
  const inFlight = new Set<Promise<void>>();
  let forbidden = false;

  async function write(ref: WorkloadRef, facts: AuditFacts): Promise<void> {
    const fields = { kind: WORKLOAD_KINDS[ref.resource].kind, namespace: ref.namespace, name: ref.name };
    const body = JSON.stringify(auditEventBody(ref, facts, now(), options.reportingInstance));
    const path = `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/events`;
    try {
      const response = await client.request("POST", path, {
        body,
        contentType: "application/json",
        timeoutMs,
      });
      if (response.ok || forbidden) return;
      if (response.status.code === 403) {
        forbidden = true;
        log.warn(
          "the worker may not record audit Events; no more are written until it restarts (restarts go on): grant the rule or set AUDIT_EVENTS=false",
          { missing_rule: missingEventRule(ref.namespace) },
        );
        return;
      }
      log.debug("audit event not recorded", { ...fields, reason: response.status.message });
    } catch (error) {
      log.debug("audit event not recorded", {
        ...fields,
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }

  return {
    restarted(ref, facts) {
      if (forbidden) return;
      if (inFlight.size >= maxInFlight) {
        log.debug("audit event let go: too many in flight", { namespace: ref.namespace, name: ref.name });
        return;
      }
      const running = write(ref, facts).finally(() => inFlight.delete(running));
      inFlight.add(running);
    },
    async settled() {
      await Promise.all([...inFlight]);
    },
  };
}
