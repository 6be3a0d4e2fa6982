import { backoffDelay } from "../../core/backoff.ts";
import { recreateGroupFrom } from "../../core/cluster.ts";
import {
  DEAD_LETTER_MAXLEN,
  type DeadLetterCause,
  deadLetterFields,
  deadLetterKey,
  deadLetterReason,
} from "../../core/dead-letter.ts";
import { type EventEnvelope, envelopeFromStreamFields } from "../../core/envelope.ts";
import type { Counter, Gauge } from "../../core/metrics.ts";
import type { EventOutcome } from "../../core/restart.ts";
import type { Logger } from "../../log.ts";
import { sleepUnlessAborted } from "../../timers.ts";
import type { BacklogReporter, EventHandler, EventSource } from "../../worker/ports.ts";
import { ValkeyConnection, type ValkeyEndpointSource, type ValkeyTlsOptions } from "./connection.ts";
import { createConsumerGroup, isReplyError } from "./consumer-group.ts";
import { DEFAULT_CONSUMER_REAP_AFTER_MS, reapAndReport } from "./consumer-reaper.ts";
import { moveToDeadLetters, uncountDelivery } from "./delivery-scripts.ts";
import { reportStreamBacklog } from "./stream-backlog.ts";
import { type ConsumerIdentity, claimIdleEntries, fetchOwnPending, keepEntryAlive } from "./stream-claims.ts";
import { parseStreamRead, replyText, type StreamEntry } from "./stream-replies.ts";
import { createStreamTrimmer, type StreamTrimmer } from "./stream-trimmer.ts";
import { groupLowWaterKey } from "./trim-script.ts";

/** Options of a {@link ValkeyStreamConsumer}; the timings have production defaults and exist for tests. */
export interface StreamConsumerOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's. */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  readonly stream: string;
  readonly group: string;
  /** This process's consumer name in the group. */
  readonly consumer: string;
  /** Entries pending longer than this on a silent consumer are claimed. */
  readonly claimIdleMs: number;
  /** The stream's hard cap, for the warning when it is reached. */
  readonly streamMaxLen: number;
  /**
   * On which delivery an entry whose handling failed for a reason of its own (a poison `retry`) moves to
   * the dead letters (`MAX_DELIVERIES`), counted by Valkey's delivery counter.
   */
  readonly maxDeliveries: number;
  readonly log: Logger;
  readonly acked?: Pick<Counter, "inc">;
  /** Counts the entries moved to the dead letters, by label `reason` (a {@link DeadLetterCause}). */
  readonly deadLetters?: Pick<Counter, "inc">;
  /** The clock of a dead entry's `dead_at`. */
  readonly now?: () => Date;
  readonly blockMs?: number;
  readonly trimIntervalMs?: number;
  /** Longest wait between reconnect attempts of its connections; default that of {@link ValkeyConnection}. */
  readonly maxBackoffMs?: number;
  /**
   * Receives the stream's backlog, read once the first read has made this consumer known to the group,
   * then every `backlogIntervalMs`; not read without it.
   */
  readonly backlog?: BacklogReporter;
  /** Default 15 s. */
  readonly backlogIntervalMs?: number;
  /** `VALKEY_GROUP_STALE_AFTER`: a group that has not read this long stops holding back trims. */
  readonly groupStaleAfterMs?: number;
  /** Receives the number of stale groups after each trim. */
  readonly staleGroups?: Pick<Gauge, "set">;
  /** `VALKEY_CONSUMER_REAP_AFTER`: other consumers of the group idle this long and holding nothing are removed. */
  readonly consumerReapAfterMs?: number;
  /** Default half of `consumerReapAfterMs`, at least 100 ms and at most a minute. */
  readonly reapIntervalMs?: number;
  /** Counts the consumers removed. */
  readonly consumersReaped?: Pick<Counter, "inc">;
  /** How many entries are handled at once (`WORKER_CONCURRENCY`); default 1. */
  readonly concurrency?: number;
}

/** An envelope that fails validation in the handler, for an entry without an `event` field. */
const EMPTY_ENVELOPE: EventEnvelope = {
  payload: "",
  acceptedAt: undefined,
  requestId: undefined,
  repository: undefined,
};
const COMMAND_TIMEOUT_MS = 5000;
/** Own pending entries re-handled per scan; the rest wait for the next scan. */
const MAX_PENDING_PER_SCAN = 1000;
/**
 * The longest a read blocks while entries are in flight: one of them may end asking for a retry, or
 * for a scan of the pending list, and that should not wait out a whole `blockMs`.
 */
const BUSY_BLOCK_MS = 250;

/**
 * Consumes the event stream with its cluster's consumer group: created from ID 0 with MKSTREAM on a new
 * stream or one without groups, from `$` on one that has a group (a cluster added later replays
 * nothing), and after `NOGROUP` again just below the group's low-water mark, which every trim records
 * in `{<stream>}:group-low` (its oldest pending entry, else the one after its last-delivered): the lost
 * group's pending entries (this worker's, other workers', a dead consumer's unclaimed ones), all at or
 * after the mark, are delivered again, and of the entries it had acknowledged those after the mark: the
 * ones acknowledged since the last trim and, when the group held an entry pending at that trim, the ones
 * acknowledged before it that are newer than that oldest pending entry. A group missing when the worker
 * connects is made below its mark too, by the group script. Without a mark, after `NOGROUP` it starts
 * from 0, so everything the stream retains (which other clusters' lagging groups may keep up to
 * `VALKEY_GROUP_STALE_AFTER`) comes again; at connect it is made like a new group. A replayed
 * event sets the `restartedAt` it set before, or is skipped as older than the one in the index. On start
 * and after every reconnect it first re-handles its own pending entries; then it blocks in `XREADGROUP … >` on a
 * connection of its own. An entry is acknowledged only when the handler says `done`; one left pending (`retry`) is re-handled with backoff. A `terminal` entry, and a poison
 * `retry` on its `maxDeliveries`-th delivery, moves to the dead letters, `{<stream>}:dead`, and is
 * acknowledged in the same script. Valkey's delivery counter counts the deliveries, across restarts and
 * workers; a retry that is not poison (the cluster was unreachable) takes its delivery back off the
 * counter, so it never counts, however often. Every `claimIdle/2` it takes over
 * entries left idle longer than `VALKEY_CLAIM_IDLE` by a dead consumer (`XAUTOCLAIM`), and it periodically
 * trims the stream below the oldest unacknowledged entry. Both connections reconnect forever.
 *
 * Up to `concurrency` entries are handled at once, so one slow event (patches meeting 429 for a minute)
 * does not hold back the events behind it. Every read, re-read and claim still fetches ONE entry
 * (`COUNT 1`), which resets that entry's idle time; its keep-alive and handling start at once, and the
 * next entry is fetched only while fewer than `concurrency` are in flight. A batch would leave fetched
 * entries waiting, unrefreshed, behind slow ones, long enough for another worker to claim them too, and
 * both would act on them. An entry in flight here is never handled a second time: the scan of the own
 * pending list skips it without touching it, and a claim, or a read after the group was recreated,
 * that hands it over again is let go.
 */
export class ValkeyStreamConsumer implements EventSource {
  readonly #reader: ValkeyConnection;
  readonly #control: ValkeyConnection;
  readonly #stopping = new AbortController();
  readonly #key: string;
  readonly #deadKey: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #who: ConsumerIdentity;
  readonly #trimmer: StreamTrimmer;
  /** How many times each entry still pending here has been handed over, for the worker's backoff. */
  readonly #attempts = new Map<string, number>();
  /** The entries being handled now, by ID, each until its outcome has been carried out. */
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #limit: number;
  #loop: Promise<void> | undefined;
  #backlogLoop: Promise<void> | undefined;
  #scanPending = true;
  #retryAt: number | undefined;
  #nextClaimAt = 0;
  #nextTrimAt = 0;
  #nextReapAt = 0;

  constructor(private readonly options: StreamConsumerOptions) {
    const { url, tls, log, maxBackoffMs } = options;
    this.#key = options.stream;
    this.#deadKey = deadLetterKey(options.stream);
    this.#group = options.group;
    this.#consumer = options.consumer;
    this.#who = { key: this.#key, group: this.#group, consumer: this.#consumer };
    this.#limit = options.concurrency ?? 1;
    if (!Number.isInteger(this.#limit) || this.#limit < 1) throw new Error("concurrency must be ≥ 1");
    this.#reader = new ValkeyConnection({
      url,
      tls,
      log,
      maxBackoffMs,
      name: "stream-reader",
      // A read whose reply was lost with the connection left entries in our pending list.
      onConnect: async () => {
        this.#scanPending = true;
      },
    });
    this.#control = new ValkeyConnection({
      url,
      tls,
      log,
      maxBackoffMs,
      name: "stream-control",
      onConnect: (client) => this.#createGroup((command, args) => client.send(command, args)),
    });
    this.#trimmer = createStreamTrimmer({
      connection: this.#control,
      stream: this.#key,
      maxLen: options.streamMaxLen,
      staleAfterMs: options.groupStaleAfterMs,
      ownGroup: this.#group,
      log,
      staleGroups: options.staleGroups,
    });
  }

  get connected(): boolean {
    return this.#reader.connected && this.#control.connected;
  }

  start(handler: EventHandler): void {
    if (this.#loop) throw new Error("the stream consumer is already started");
    this.#loop = this.#run(handler);
  }

  /** Entries being handled now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    // Closing the reader ends a blocking XREADGROUP at once; the control connection stays for the last
    // XACKs of the entries still in flight, which the loop waits for before it ends.
    this.#reader.close();
    await this.#loop;
    await this.#backlogLoop;
    this.#control.close();
  }

  async #createGroup(
    send: (command: string, args: string[]) => Promise<unknown>,
    from?: string,
  ): Promise<void> {
    const start = await createConsumerGroup(send, this.#key, this.#group, from);
    if (start !== undefined)
      this.options.log.info("consumer group created", { stream: this.#key, group: this.#group, from: start });
  }

  /**
   * Creates the group lost to `NOGROUP` again just below the low-water mark the trimmer recorded for it
   * (from 0 without one), never by the rule for new groups (`$`), which would drop the entries other
   * workers of this cluster held pending or a dead consumer left unclaimed: they are pending nowhere now.
   */
  async #recreateGroup(): Promise<void> {
    const send = (command: string, args: string[]) => this.#control.send(command, args, COMMAND_TIMEOUT_MS);
    const mark = await send("HGET", [groupLowWaterKey(this.#key), this.#group]).catch((error: unknown) => {
      // A user without the right to read the marks (an ACL not updated) still gets its group back.
      if (!isReplyError(error, "NOPERM")) throw error;
      this.options.log.warn("low-water mark not readable; recreating the group from 0", {
        stream: this.#key,
        group: this.#group,
        error,
      });
      return undefined;
    });
    await this.#createGroup(send, recreateGroupFrom(mark == null ? undefined : replyText(mark)));
  }

  async #run(handler: EventHandler): Promise<void> {
    const signal = this.#stopping.signal;
    await Promise.all([this.#reader.start(), this.#control.start()]);
    const { log, backlog } = this.options;
    log.info("stream consumer started", { stream: this.#key, group: this.#group, consumer: this.#consumer });
    let failures = 0;
    while (!signal.aborted) {
      if (!this.connected) {
        await Promise.all([this.#reader.waitUntilConnected(1000), this.#control.waitUntilConnected(1000)]);
        continue;
      }
      try {
        await this.#maintain(handler);
        const now = Date.now();
        if (this.#inFlight.size >= this.#limit) {
          await this.#waitForSlot();
        } else if (this.#scanPending || (this.#retryAt !== undefined && this.#retryAt <= now)) {
          await this.#handlePending(handler);
        } else {
          await this.#readNew(handler, now);
        }
        failures = 0;
        if (backlog && !this.#backlogLoop)
          this.#backlogLoop = reportStreamBacklog({
            connection: this.#control,
            key: this.#key,
            report: backlog,
            intervalMs: this.options.backlogIntervalMs ?? 15_000,
            signal,
            log,
          });
      } catch (error) {
        if (signal.aborted) break;
        if (isReplyError(error, "NOGROUP")) {
          log.warn("consumer group missing; recreating it", { stream: this.#key, group: this.#group });
          const created = await this.#recreateGroup().then(
            () => true,
            (e: unknown) => log.warn("group creation failed", { error: e }),
          );
          if (created) continue;
        }
        const delay = backoffDelay(++failures, { baseMs: 100, maxMs: 5000 });
        log.warn("stream read failed; retrying", { stream: this.#key, error, delay_ms: delay });
        await sleepUnlessAborted(delay, signal);
      }
    }
    await Promise.all(this.#inFlight.values());
  }

  /**
   * Resolves once fewer than `concurrency` entries are in flight, on stop, or after `blockMs` at most
   * (so claims and trims still come round while every slot is busy).
   */
  async #waitForSlot(): Promise<void> {
    const signal = this.#stopping.signal;
    if (this.#inFlight.size < this.#limit || signal.aborted) return;
    const waited = new AbortController();
    const late = sleepUnlessAborted(this.options.blockMs ?? 5000, AbortSignal.any([signal, waited.signal]));
    const timedOut = late.then(() => "late" as const);
    try {
      while (this.#inFlight.size >= this.#limit && !signal.aborted)
        if ((await Promise.race([timedOut, ...this.#inFlight.values()])) === "late") return;
    } finally {
      waited.abort();
    }
  }

  /**
   * Starts handling `entry` without waiting for it; its keep-alive starts at once. Refuses (false) an
   * entry already in flight here: it is never handled twice at once.
   */
  #start(entry: StreamEntry, handler: EventHandler): boolean {
    if (this.#inFlight.has(entry.id)) return false;
    const handling = this.#handleEntry(entry, handler).then(
      (outcome) => this.#scheduleRetry(outcome),
      (error: unknown) => {
        // Not expected (every step catches its own failures): the entry stays pending, and is seen again.
        this.options.log.error("handling a stream entry failed; it stays pending", {
          entry_id: entry.id,
          error,
        });
        this.#scanPending = true;
      },
    );
    this.#inFlight.set(
      entry.id,
      handling.finally(() => this.#inFlight.delete(entry.id)),
    );
    return true;
  }

  async #readNew(handler: EventHandler, now: number): Promise<void> {
    const { blockMs = 5000 } = this.options;
    const due = [this.#nextClaimAt, this.#nextTrimAt, this.#retryAt ?? Number.POSITIVE_INFINITY];
    const longest = this.#inFlight.size > 0 ? Math.min(blockMs, BUSY_BLOCK_MS) : blockMs;
    const block = Math.max(1, Math.min(longest, ...due.map((at) => at - now)));
    const args = ["GROUP", this.#group, this.#consumer, "COUNT", "1", "BLOCK", String(block)];
    const reply = await this.#reader.send(
      "XREADGROUP",
      [...args, "STREAMS", this.#key, ">"],
      block + COMMAND_TIMEOUT_MS,
    );
    for (const entry of parseStreamRead(reply, this.#key)) {
      if (this.#stopping.signal.aborted) return;
      // A new read of an entry in flight here: its group was recreated after `NOGROUP`, or a new
      // primary had not yet received its delivery. The read's delivery stands for the one in flight,
      // whose count went with the old group (or the lost write), so it stays counted.
      if (!this.#start(entry, handler))
        this.options.log.warn("read an entry this worker is still handling; not handling it twice", {
          entry_id: entry.id,
        });
    }
  }

  /**
   * Re-handles every entry in our own pending list that is not in flight here, fetching the next one
   * only while a slot is free: the fetch resets the entry's idle time and its keep-alive starts at once,
   * so no other worker claims it between the fetch and the keep-alive; entries further on that another
   * worker claims meanwhile leave our list and are not fetched at all.
   */
  async #handlePending(handler: EventHandler): Promise<void> {
    this.#scanPending = false;
    this.#retryAt = undefined;
    let cursor = "0-0";
    const signal = this.#stopping.signal;
    const seen = new Set<string>();
    for (let n = 0; n < MAX_PENDING_PER_SCAN && !signal.aborted; n++) {
      await this.#waitForSlot();
      if (signal.aborted) break;
      if (this.#inFlight.size >= this.#limit) {
        // Every slot stayed busy: the scan starts again from the top once one is free.
        this.#scanPending = true;
        break;
      }
      const entry = await fetchOwnPending(this.#reader, this.#who, cursor, this.#inFlight.keys());
      if (entry === undefined) {
        // The whole list was seen: entries no longer in it (claimed by another worker) need no count.
        for (const id of this.#attempts.keys())
          if (!seen.has(id) && !this.#inFlight.has(id)) this.#attempts.delete(id);
        break;
      }
      seen.add(entry.id);
      this.#start(entry, handler);
      cursor = entry.id;
    }
  }

  /** A `retry` brings the next scan of our pending list forward to when it is due (the earliest wins). */
  #scheduleRetry(outcome: EventOutcome): void {
    if (outcome.kind !== "retry") return;
    const at = Date.now() + outcome.afterMs;
    if (this.#retryAt !== undefined && this.#retryAt <= at) return;
    this.#retryAt = at;
    this.options.log.info("pending events will be retried", { stream: this.#key, delay_ms: outcome.afterMs });
  }

  async #handleEntry(entry: StreamEntry, handler: EventHandler): Promise<EventOutcome> {
    if (entry.fields === null) {
      this.options.log.warn("pending entry no longer exists; acknowledging it", { entry_id: entry.id });
      await this.#ack(entry.id);
      return { kind: "done" };
    }
    const envelope = envelopeFromStreamFields(entry.fields) ?? EMPTY_ENVELOPE;
    const stopKeepAlive = keepEntryAlive(
      this.#control,
      this.#who,
      entry.id,
      this.options.claimIdleMs,
      this.options.log,
    );
    const attempt = (this.#attempts.get(entry.id) ?? 0) + 1;
    this.#attempts.set(entry.id, attempt);
    let outcome: EventOutcome;
    try {
      outcome = await handler({ envelope, entryId: entry.id, attempt });
    } finally {
      stopKeepAlive();
    }
    const carried = await this.#carryOut(entry.id, entry.fields, envelope, outcome);
    // A retry that ended in the dead letters is handed over no more: what waited for it must not wait.
    if (outcome.kind === "retry" && carried.kind === "terminal") handler.deadLettered?.(entry.id);
    return carried;
  }

  /**
   * Carries out the handler's outcome: `done` is acknowledged, `terminal` moves to the dead letters, a
   * poison `retry` moves there once Valkey's delivery counter reaches `maxDeliveries` (and is then no
   * retry), and any other `retry` takes its delivery back off the counter.
   */
  async #carryOut(
    id: string,
    fields: readonly string[],
    envelope: EventEnvelope,
    outcome: EventOutcome,
  ): Promise<EventOutcome> {
    if (outcome.kind === "done") {
      await this.#ack(id);
      return outcome;
    }
    if (outcome.kind === "terminal") {
      await this.#deadLetter(id, fields, envelope, "invalid", outcome.reason, 0);
      return outcome;
    }
    if (!outcome.poison) {
      await uncountDelivery(this.#control, this.#who, id).catch((error: unknown) => {
        // The delivery stays counted: at worst a poison failure later dead-letters one delivery early.
        this.options.log.warn("delivery counter not corrected", { entry_id: id, error });
      });
      return outcome;
    }
    const { maxDeliveries } = this.options;
    const gone = await this.#deadLetter(id, fields, envelope, "poison", outcome.reason, maxDeliveries);
    return gone ? { kind: "terminal", reason: outcome.reason } : outcome;
  }

  /**
   * Moves our pending entry `id` to the dead letters and acknowledges it, when its delivery counter has
   * reached `limit` (0: at once). Resolves whether it left our pending list.
   */
  async #deadLetter(
    id: string,
    fields: readonly string[],
    envelope: EventEnvelope,
    cause: DeadLetterCause,
    detail: string,
    limit: number,
  ): Promise<boolean> {
    const { log, now = () => new Date() } = this.options;
    const reason = deadLetterReason(cause, detail);
    const dead = deadLetterFields(fields, { reason, originalId: id, deadAt: now().toISOString() });
    const move = { id, deadKey: this.#deadKey, limit, maxLen: DEAD_LETTER_MAXLEN, fields: dead };
    try {
      const moved = await moveToDeadLetters(this.#control, this.#who, move);
      if (moved.kind === "kept") return false;
      this.#attempts.delete(id);
      if (moved.kind === "gone") return true;
      this.options.deadLetters?.inc({ reason: cause });
      log.warn("event moved to the dead letters", {
        stream: this.#key,
        dead_stream: this.#deadKey,
        entry_id: id,
        dead_id: moved.deadId,
        request_id: envelope.requestId,
        reason,
        deliveries: moved.deliveries,
      });
      return true;
    } catch (error) {
      // The entry stays pending; the next scan of our pending list handles it again.
      log.warn("moving to the dead letters failed; the entry stays pending", { entry_id: id, error });
      this.#scanPending = true;
      return false;
    }
  }

  async #ack(id: string): Promise<void> {
    try {
      await this.#control.send("XACK", [this.#key, this.#group, id], COMMAND_TIMEOUT_MS);
      this.#attempts.delete(id);
      this.options.acked?.inc();
    } catch (error) {
      // The entry stays pending; the next scan of our pending list handles it again (same restartedAt).
      this.options.log.warn("acknowledgement failed; the entry stays pending", { entry_id: id, error });
      this.#scanPending = true;
    }
  }

  /** Claims idle entries of dead consumers, trims, and reaps gone consumers, each when due. */
  async #maintain(handler: EventHandler): Promise<void> {
    const now = Date.now();
    const { claimIdleMs, log, trimIntervalMs = 30_000 } = this.options;
    if (now >= this.#nextClaimAt) {
      this.#nextClaimAt = now + Math.max(100, claimIdleMs / 2);
      await this.#claimIdle(handler);
    }
    if (now >= this.#nextTrimAt) {
      this.#nextTrimAt = now + trimIntervalMs;
      await this.#trimmer.trim().catch((error: unknown) => {
        if (isReplyError(error, "NOGROUP")) throw error;
        log.warn("stream trim failed", { stream: this.#key, error });
      });
    }
    if (now >= this.#nextReapAt) await this.#reap(now);
  }

  async #reap(now: number): Promise<void> {
    const { log, consumersReaped, consumerReapAfterMs = DEFAULT_CONSUMER_REAP_AFTER_MS } = this.options;
    const interval = this.options.reapIntervalMs ?? Math.min(60_000, Math.max(100, consumerReapAfterMs / 2));
    this.#nextReapAt = now + interval;
    await reapAndReport(this.#control, this.#who, consumerReapAfterMs, log, consumersReaped).catch(
      (error: unknown) => {
        if (isReplyError(error, "NOGROUP")) throw error;
        log.warn("consumer reaping failed", { stream: this.#key, group: this.#group, error });
      },
    );
  }

  /**
   * Claims idle entries one at a time, each only while a slot is free. An entry in flight here that
   * was claimed anyway (its keep-alive could not reach Valkey for a while) is not handled twice; the
   * claim's delivery is taken back off its counter.
   */
  async #claimIdle(handler: EventHandler): Promise<void> {
    const { claimIdleMs, log } = this.options;
    const signal = this.#stopping.signal;
    if (this.#inFlight.size >= this.#limit) return;
    for await (const entry of claimIdleEntries(this.#control, this.#who, claimIdleMs, log)) {
      if (this.#inFlight.has(entry.id)) {
        log.warn("claimed an entry this worker is still handling; not handling it twice", {
          entry_id: entry.id,
        });
        await uncountDelivery(this.#control, this.#who, entry.id).catch((error: unknown) => {
          log.warn("delivery counter not corrected", { entry_id: entry.id, error });
        });
      } else {
        this.#start(entry, handler);
      }
      await this.#waitForSlot();
      if (signal.aborted || this.#inFlight.size >= this.#limit) return;
    }
  }
}
