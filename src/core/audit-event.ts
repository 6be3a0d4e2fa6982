import type { CallerClaims } from "./claim-policy.ts";
import type { WorkloadRef } from "./workload.ts";
import { WORKLOAD_KINDS } from "./workload-kind.ts";

/** The reason of the audit Event on a restarted workload. */
export const AUDIT_EVENT_REASON = "RolloutTriggered";
/** The controller the audit Events are reported by. */
export const AUDIT_REPORTING_CONTROLLER = "kuberollouttrigger.io/worker";
/** Where the run URL points: the run IDs are github.com's (GitHub Enterprise Server runs link there too). */
export const GITHUB_SERVER_URL = "https://github.com";

/** The limits the API server holds an `events.k8s.io/v1` Event's fields to. */
const NOTE_MAX_BYTES = 1024;
const REPORTING_INSTANCE_MAX = 128;

/** What is known of the restart an audit Event records. */
export interface AuditFacts {
  readonly image: string;
  readonly tags: readonly string[];
  readonly restartedAt: string;
  /** The verified claims of the token that sent the event; absent for Pub/Sub messages. */
  readonly claims: CallerClaims | undefined;
  /** The repository the envelope names when it carries no claims. */
  readonly repository: string | undefined;
}

/**
 * The Event's note: the image and tags, then what the claims say of the workflow run (repository,
 * workflow, run ID and URL, commit, actor); without claims, only what the envelope knew.
 */
export function auditNote(facts: AuditFacts): string {
  const parts = [`restarted for ${facts.image}:${facts.tags.join(",")} at ${facts.restartedAt}`];
  const claims = facts.claims;
  const repository = claims?.repository || facts.repository;
  if (repository) parts.push(`repository ${repository}`);
  if (claims?.jobWorkflowRef) parts.push(`workflow ${claims.jobWorkflowRef}`);
  if (claims?.runId) {
    const url = repository ? ` ${GITHUB_SERVER_URL}/${repository}/actions/runs/${claims.runId}` : "";
    parts.push(`run ${claims.runId}${url}`);
  }
  if (claims?.sha) parts.push(`sha ${claims.sha}`);
  if (claims?.actor) parts.push(`actor ${claims.actor}`);
  if (claims === undefined) parts.push("the event carried no claims");
  return truncateBytes(parts.join("; "), NOTE_MAX_BYTES);
}

function truncateBytes(text: string, max: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return text;
  // Cut on a character boundary: a decoder in non-fatal mode would leave a replacement character.
  let end = max - 3;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${new TextDecoder().decode(bytes.slice(0, end))}...`;
}

/** RFC 3339 with microseconds, as `eventTime` (a MicroTime) must read. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * The `events.k8s.io/v1` Event that records a restart on the workload: reason `RolloutTriggered`,
 * action `Restart`, type `Normal`, named as client-go names Events (`<workload>.<time in hex ns>`).
 */
export function auditEventBody(
  ref: WorkloadRef,
  facts: AuditFacts,
  at: Date,
  reportingInstance: string,
): Record<string, unknown> {
  const info = WORKLOAD_KINDS[ref.resource];
  const nanos = BigInt(at.getTime()) * 1_000_000n;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: `${ref.name}.${nanos.toString(16)}`, namespace: ref.namespace },
    eventTime: microTime(at),
    reportingController: AUDIT_REPORTING_CONTROLLER,
    reportingInstance: reportingInstance.slice(0, REPORTING_INSTANCE_MAX),
    action: "Restart",
    reason: AUDIT_EVENT_REASON,
    regarding: {
      apiVersion: `${info.group}/${info.version}`,
      kind: info.kind,
      namespace: ref.namespace,
      name: ref.name,
    },
    note: auditNote(facts),
    type: "Normal",
  };
}
