import type { Gauge } from "../../core/metrics.ts";
import type { Logger } from "../../log.ts";
import type { ValkeyConnection } from "./connection.ts";
import { warnIfAtCap } from "./stream-cap.ts";
import { type StaleGroup, type TrimResult, trimAcknowledged } from "./trim-script.ts";

/** Trims one stream now and then, and says what holds trimming back. */
export interface StreamTrimmer {
  /** Trims once and reports (see {@link createStreamTrimmer}). */
  trim(): Promise<TrimResult>;
}

/** Options of {@link createStreamTrimmer}. */
export interface StreamTrimmerOptions {
  readonly connection: ValkeyConnection;
  readonly stream: string;
  /** The stream's hard cap, for the warning when it is reached. */
  readonly maxLen: number;
  /** `VALKEY_GROUP_STALE_AFTER`; default a day. */
  readonly staleAfterMs?: number;
  /** The worker's own group, never stale. */
  readonly ownGroup?: string;
  readonly log: Logger;
  /** Receives the number of stale groups after each trim. */
  readonly staleGroups?: Pick<Gauge, "set">;
}

/** Which groups turned stale since the last trim, and which are stale no longer. */
export function staleChanges(
  before: ReadonlySet<string>,
  now: readonly StaleGroup[],
): { readonly turned: StaleGroup[]; readonly recovered: string[] } {
  const names = new Set(now.map((g) => g.group));
  return {
    turned: now.filter((g) => !before.has(g.group)),
    recovered: [...before].filter((name) => !names.has(name)),
  };
}

/**
 * A trimmer of `stream`. Each {@link StreamTrimmer.trim} trims once and reports: a debug line when
 * entries were removed, the cap warning when the stream has reached `maxLen`; a warning, once per
 * trimmer and group, for a group without consumers that has read nothing (e.g. made by the web for a
 * cluster whose worker has not started) while the stream holds entries: it is respected, so nothing is
 * trimmed until it reads them, is destroyed, or turns stale; a warning when a group turns stale (with
 * how long it has not read) and an info line when it is stale no longer; and the number of stale groups.
 */
export function createStreamTrimmer(options: StreamTrimmerOptions): StreamTrimmer {
  const { connection, stream, maxLen, staleAfterMs, ownGroup, log, staleGroups } = options;
  const warnedIdleGroups = new Set<string>();
  let stale = new Set<string>();
  const report = (result: TrimResult) => {
    for (const group of result.length > 0 ? result.idleGroups : []) {
      if (warnedIdleGroups.has(group)) continue;
      warnedIdleGroups.add(group);
      log.warn(`stream trimming held back by consumer group ${group} that has no consumers`, {
        stream,
        group,
        length: result.length,
        hint: "the group has read nothing; start its worker, or destroy it (XGROUP DESTROY) if no worker uses it; it stops holding trims back once stale (VALKEY_GROUP_STALE_AFTER)",
      });
    }
    const { turned, recovered } = staleChanges(stale, result.staleGroups);
    for (const { group, quietMs } of turned)
      log.warn("consumer group is stale; trimming no longer waits for it", {
        stream,
        group,
        not_read_for_s: Math.round(quietMs / 1000),
        hint: "its worker has not read for longer than VALKEY_GROUP_STALE_AFTER; entries it has not read may be trimmed; if its cluster is gone, destroy the group (XGROUP DESTROY)",
      });
    for (const group of recovered) log.info("consumer group is no longer stale", { stream, group });
    stale = new Set(result.staleGroups.map((g) => g.group));
    staleGroups?.set(stale.size);
  };
  return {
    async trim() {
      const result = await trimAcknowledged(connection, stream, { staleAfterMs, ownGroup });
      report(result);
      if (result.trimmed > 0)
        log.debug("stream trimmed", { stream, trimmed: result.trimmed, length: result.length });
      warnIfAtCap(log, stream, result.length, maxLen);
      return result;
    },
  };
}
