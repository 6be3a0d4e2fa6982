import { type CallerClaims, CLAIM_NAMES, readCallerClaims } from "./claim-policy.ts";

/** An event as handed from the web to the worker: the minimized JSON plus what the web knew of it. */
export interface EventEnvelope {
  /** The minimized event JSON `{"image":"…","tags":[…]}`; the worker validates it again. */
  readonly payload: string;
  /** When the web accepted it (RFC 3339, UTC, milliseconds); absent in Pub/Sub delivery. */
  readonly acceptedAt: string | undefined;
  readonly requestId: string | undefined;
  /** The repository claim of the token that sent it, for the audit trail; never the token. */
  readonly repository: string | undefined;
  /**
   * The verified claims of the token that sent it, which the worker's policy decisions read again;
   * absent in Pub/Sub delivery (the bare event of the original) and for entries written by other tools.
   */
  readonly claims?: CallerClaims;
  /**
   * For an entry re-driven from the dead letters: the stream entry ID the web gave the event, whose time
   * stands in for the entry's own when its `restartedAt` is chosen. Absent otherwise.
   */
  readonly redrivenFrom?: string;
  /**
   * The clusters the web expected to act on the event (`EXPECTED_CLUSTERS` when it accepted it), which
   * the event's status waits for; absent when it expected none in particular.
   */
  readonly expectedClusters?: readonly string[];
}

/** Field names of a stream entry; shared by the web that writes and the worker that reads. */
export const STREAM_FIELD = {
  event: "event",
  acceptedAt: "accepted_at",
  requestId: "request_id",
  repository: "repository",
  redrivenFrom: "redriven_from",
  expectedClusters: "expected_clusters",
} as const;

/** The flat field/value list of an `XADD` for an envelope; absent values are left out. */
export function envelopeToStreamFields(envelope: EventEnvelope): string[] {
  const fields: string[] = [STREAM_FIELD.event, envelope.payload];
  if (envelope.acceptedAt) fields.push(STREAM_FIELD.acceptedAt, envelope.acceptedAt);
  if (envelope.requestId) fields.push(STREAM_FIELD.requestId, envelope.requestId);
  if (envelope.repository) fields.push(STREAM_FIELD.repository, envelope.repository);
  for (const [key, name] of Object.entries(CLAIM_NAMES)) {
    const value = envelope.claims?.[key as keyof CallerClaims];
    if (value && name !== STREAM_FIELD.repository) fields.push(`claim_${name}`, value);
  }
  if (envelope.redrivenFrom) fields.push(STREAM_FIELD.redrivenFrom, envelope.redrivenFrom);
  if (envelope.expectedClusters?.length)
    fields.push(STREAM_FIELD.expectedClusters, envelope.expectedClusters.join(","));
  return fields;
}

/** The claims of a stream entry (fields `repository` and `claim_*`), or undefined when it has none. */
function claimsFromFields(map: ReadonlyMap<string, string>): CallerClaims | undefined {
  const repository = map.get(STREAM_FIELD.repository);
  if (repository === undefined) return undefined;
  const raw: Record<string, string> = { repository };
  for (const name of Object.values(CLAIM_NAMES)) {
    const value = map.get(`claim_${name}`);
    if (value !== undefined) raw[name] = value;
  }
  return readCallerClaims(raw);
}

/** Reads an envelope back from a stream entry's flat field/value list; undefined when `event` is missing. */
export function envelopeFromStreamFields(fields: readonly string[]): EventEnvelope | undefined {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] ?? "", fields[i + 1] ?? "");
  const payload = map.get(STREAM_FIELD.event);
  if (payload === undefined) return undefined;
  const redrivenFrom = map.get(STREAM_FIELD.redrivenFrom);
  const expectedClusters = (map.get(STREAM_FIELD.expectedClusters) ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  return {
    payload,
    acceptedAt: map.get(STREAM_FIELD.acceptedAt),
    requestId: map.get(STREAM_FIELD.requestId),
    repository: map.get(STREAM_FIELD.repository),
    claims: claimsFromFields(map),
    ...(redrivenFrom ? { redrivenFrom } : {}),
    ...(expectedClusters.length > 0 ? { expectedClusters } : {}),
  };
}

/**
 * The envelope of an event accepted at `acceptedAt`: the one place that stamps the time its restarts
 * will write (RFC 3339 in UTC with milliseconds, as `accepted_at` carries it). The web stamps the time
 * it accepted the event; a Pub/Sub subscriber, whose messages carry no time, the time it received one.
 */
export function newEnvelope(
  payload: string,
  acceptedAt: Date,
  from: { readonly requestId?: string; readonly repository?: string; readonly claims?: CallerClaims } = {},
): EventEnvelope {
  return {
    payload,
    acceptedAt: acceptedAt.toISOString(),
    requestId: from.requestId,
    repository: from.repository,
    ...(from.claims ? { claims: from.claims } : {}),
  };
}
