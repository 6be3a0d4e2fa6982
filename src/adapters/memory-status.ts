import type { EventEnvelope } from "../core/envelope.ts";
import type { ClusterStatus, EventSummary } from "../core/event-status.ts";
import { type EventStatusRecord, readQueuedEntry } from "../core/status-view.ts";
import type { StatusReader } from "../web/ports.ts";
import type { StatusStore } from "../worker/ports.ts";

/** Options of {@link createMemoryStatus}. */
export interface MemoryStatusOptions {
  /** `EVENT_STATUS_TTL`: an event is forgotten this long after its last write. */
  readonly ttlMs: number;
  /** At most this many events are kept; past it the one written longest ago goes first. Default 10,000. */
  readonly maxEvents?: number;
  /** The clock, in ms since the epoch. */
  readonly now?: () => number;
}

/** Standalone's event status without Valkey: one map that the worker writes and the web reads. */
export interface MemoryStatus {
  readonly store: StatusStore;
  readonly reader: StatusReader;
  /** The web accepted `envelope` as `eventId`: it reads as `queued` until the worker writes. */
  queued(eventId: string, envelope: EventEnvelope): void;
  /** Events kept now, expired ones not swept yet included. */
  readonly size: number;
}

interface Entry {
  summary: EventSummary;
  readonly clusters: Map<string, ClusterStatus>;
  /** True while only the web's summary is known (no worker has written). */
  queued: boolean;
  expiresAt: number;
}

const DEFAULT_MAX_EVENTS = 10_000;

const byCluster = (a: ClusterStatus, b: ClusterStatus) =>
  a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0;

/**
 * The {@link StatusStore} and {@link StatusReader} of standalone's in-process queue, over one map and
 * with the Valkey hash's rules: the first worker's summary stays, a cluster's status is replaced whole,
 * every write renews the expiry. The map is kept in order of last write, so expired events and the
 * excess over `maxEvents` are dropped from its front, at each write; nothing survives the process.
 */
export function createMemoryStatus(options: MemoryStatusOptions): MemoryStatus {
  const now = options.now ?? Date.now;
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new Error("maxEvents must be ≥ 1");
  if (!(options.ttlMs > 0)) throw new Error("ttlMs must be > 0");
  const entries = new Map<string, Entry>();

  /** Moves the entry to the back (last written), then drops what expired or exceeds the bound. */
  function keep(eventId: string, entry: Entry, at: number): void {
    entry.expiresAt = at + options.ttlMs;
    entries.delete(eventId);
    entries.set(eventId, entry);
    for (const [id, oldest] of entries) {
      if (oldest.expiresAt > at && entries.size <= maxEvents) break;
      entries.delete(id);
    }
  }

  const store: StatusStore = {
    async write(eventId, summary, status) {
      const at = now();
      const known = entries.get(eventId);
      const entry =
        known !== undefined && known.expiresAt > at
          ? known
          : { summary, clusters: new Map(), queued: false, expiresAt: 0 };
      if (entry.queued) entry.summary = summary;
      entry.queued = false;
      entry.clusters.set(status.cluster, status);
      keep(eventId, entry, at);
    },
  };

  const reader: StatusReader = {
    async read(eventId): Promise<EventStatusRecord | undefined> {
      const entry = entries.get(eventId);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(eventId);
        return undefined;
      }
      return {
        summary: entry.summary,
        clusters: [...entry.clusters.values()].sort(byCluster),
        queued: entry.queued,
      };
    },
  };

  function queued(eventId: string, envelope: EventEnvelope): void {
    const at = now();
    const fields: Record<string, string> = { event: envelope.payload };
    const repository = envelope.claims?.repository ?? envelope.repository;
    if (repository !== undefined) fields.repository = repository;
    if (envelope.acceptedAt !== undefined) fields.accepted_at = envelope.acceptedAt;
    const record = readQueuedEntry(eventId, fields, new Date(at).toISOString());
    if (record === undefined || entries.has(eventId)) return;
    keep(eventId, { summary: record.summary, clusters: new Map(), queued: true, expiresAt: 0 }, at);
  }

  return {
    store,
    reader,
    queued,
    get size() {
      return entries.size;
    },
  };
}
