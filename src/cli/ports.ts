import type { ValkeySentinel } from "../config/config.ts";
import type { Address } from "../core/address.ts";

/**
 * What the helper commands need from outside: for `dead-letters`, the dead letter stream in Valkey. An
 * adapter implements it; the wiring hands it in.
 */

/** Which Valkey holds the dead letters, and of which stream. */
export interface DeadLetterTarget {
  /** `VALKEY_ADDR`; undefined under Sentinel. */
  readonly addr: Address | undefined;
  /** `VALKEY_SENTINEL_*`: the sentinels that name the primary, instead of `addr`. */
  readonly sentinel: ValkeySentinel | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** `false` for plain TCP; else TLS that verifies the certificate, against `ca` when given. */
  readonly tls: false | { readonly ca: string | undefined };
  /** The event stream (`VALKEY_CHANNEL`); its dead letters are in `{<channel>}:dead`. */
  readonly channel: string;
  /** `VALKEY_CONSUMER_GROUP`: the base of the clusters' consumer groups. */
  readonly consumerGroup: string;
  /**
   * `EXPECTED_CLUSTERS`, as the web has it: before an entry is re-driven to a stream without any group,
   * these clusters' groups are made (from ID 0), so none of them misses it.
   */
  readonly expectedClusters: readonly string[];
}

/** One entry of the dead letter stream, as stored. */
export interface StoredDeadLetter {
  readonly id: string;
  readonly fields: readonly string[];
}

/** How re-driving one dead entry ended. */
export type RedriveResult =
  /** Appended to the event stream as `id`, with `redriven_from` = `redrivenFrom`, and deleted from the dead letters. */
  | { readonly kind: "redriven"; readonly id: string; readonly redrivenFrom: string }
  /** No dead entry has that ID (any more). */
  | { readonly kind: "missing" }
  /** The entry has no `original_id`: the worker did not write it, so it is left where it is. */
  | { readonly kind: "foreign" };

/** The dead letter stream of one event stream. */
export interface DeadLetterStore {
  /** Every dead entry, oldest first. */
  list(): Promise<StoredDeadLetter[]>;
  /** Appends the dead entry `id` to the event stream again and deletes it from the dead letters, in one step. */
  redrive(id: string): Promise<RedriveResult>;
  /** Closes the connection. */
  close(): void;
}

/** Connects to the dead letter stream of `target`; rejects when Valkey cannot be reached. */
export type OpenDeadLetterStore = (target: DeadLetterTarget) => Promise<DeadLetterStore>;
