import { clusterField, eventStatusKey } from "../../core/event-status.ts";
import type { Logger } from "../../log.ts";
import type { StatusStore } from "../../worker/ports.ts";
import { ValkeyConnection, type ValkeyEndpointSource, type ValkeyTlsOptions } from "./connection.ts";

const COMMAND_TIMEOUT_MS = 5000;

/**
 * Writes one event's status in one step. KEYS: the status hash. ARGV: the TTL in ms, the summary JSON,
 * the cluster's field, its status JSON. The summary goes in only if the hash has none (the first worker
 * to read the event wrote it); the cluster's field is replaced whole; the expiry starts again.
 */
const WRITE_SCRIPT = `
redis.call('HSETNX', KEYS[1], 'event', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/** Options of {@link createValkeyStatusStore}. */
export interface ValkeyStatusStoreOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's. */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  /** `VALKEY_CHANNEL`: the hash tag of every status key. */
  readonly channel: string;
  /** `EVENT_STATUS_TTL`. */
  readonly ttlMs: number;
  readonly log: Logger;
  readonly maxBackoffMs?: number;
}

/** A {@link StatusStore} on a Valkey connection of its own, which reconnects forever. */
export interface ValkeyStatusStore extends StatusStore {
  /** Connects in the background; resolves once the first attempt has finished either way. */
  start(): Promise<void>;
  close(): void;
}

/**
 * The {@link StatusStore} in Valkey: the hash `{<channel>}:status:<event_id>` (see
 * `core/event-status.ts`), written by one script (HSETNX of `event`, HSET of `cluster:<name>`,
 * PEXPIRE to `EVENT_STATUS_TTL`) on its own connection, so a slow write never holds up the stream.
 */
export function createValkeyStatusStore(options: ValkeyStatusStoreOptions): ValkeyStatusStore {
  const { url, tls, log, maxBackoffMs } = options;
  const connection = new ValkeyConnection({ url, tls, log, maxBackoffMs, name: "status-writer" });
  return {
    start: () => connection.start(),
    close: () => connection.close(),
    async write(eventId, summary, status) {
      const key = eventStatusKey(options.channel, eventId);
      const args = [
        String(Math.max(1, Math.ceil(options.ttlMs))),
        JSON.stringify(summary),
        clusterField(status.cluster),
      ];
      await connection.send(
        "EVAL",
        [WRITE_SCRIPT, "1", key, ...args, JSON.stringify(status)],
        COMMAND_TIMEOUT_MS,
      );
    },
  };
}
