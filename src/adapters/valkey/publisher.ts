import type { RedisClient } from "bun";
import { type EventEnvelope, envelopeToStreamFields } from "../../core/envelope.ts";
import type { Logger } from "../../log.ts";
import { withTimeout } from "../../timers.ts";
import {
  type Admission,
  type EventPublisher,
  PublishFailedError,
  type PublishResult,
  ReplicationUnconfirmedError,
} from "../../web/ports.ts";
import { ADMIT_SCRIPT, ADMIT_SCRIPT_SHA, admitArgv, admitKeys, readAdmitReply } from "./admit-script.ts";
import { ValkeyConnection, type ValkeyEndpointSource, type ValkeyTlsOptions } from "./connection.ts";
import { createConsumerGroups, isReplyError } from "./consumer-group.ts";
import { AdmittingConnectionChangedError, createReplicaAcks, ReplicasMissingError } from "./replica-acks.ts";
import { warnIfAtCap } from "./stream-cap.ts";

/** The longest a request waits for Valkey to take an event (the Action gives up after 10 s). */
export const HANDOFF_TIMEOUT_MS = 2000;

/** Options of {@link createValkeyPublisher}. */
export interface ValkeyPublisherOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's. */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  /** The stream key (stream delivery) or Pub/Sub channel. */
  readonly channel: string;
  readonly delivery: "stream" | "pubsub";
  /**
   * The groups the workers read with (one per expected cluster), made on every connect in stream
   * delivery: from `0` on a new stream, from `$` on an existing one.
   */
  readonly consumerGroups: readonly string[];
  /** `EXPECTED_CLUSTERS`, written into every stream entry (`expected_clusters`) for its status to wait on. */
  readonly expectedClusters: readonly string[];
  /** The stream's hard cap (`XADD MAXLEN ~`). */
  readonly streamMaxLen: number;
  /** Events accepted per minute per repository, counted in Valkey across web replicas; 0: no limit. */
  readonly ratePerMinute: number;
  /**
   * `VALKEY_MIN_REPLICAS_ACK`: replicas that must acknowledge an admitted event (`WAIT`) before it counts
   * as taken; default 0 (the primary holding it is enough).
   */
  readonly minReplicasAck?: number;
  readonly log: Logger;
  /** Default {@link HANDOFF_TIMEOUT_MS}. */
  readonly handoffTimeoutMs?: number;
  /** Longest wait between reconnect attempts; default that of {@link ValkeyConnection}. */
  readonly maxBackoffMs?: number;
  /** Least time between two checks of the stream's length against its cap; default 30 s. */
  readonly capCheckIntervalMs?: number;
  /** The clock in milliseconds, for the cap check's pacing. */
  readonly now?: () => number;
  /** For tests only: runs between the admission script's reply and its `WAIT` (e.g. to force a reconnect). */
  readonly beforeReplicaWait?: () => Promise<void>;
}

/** An {@link EventPublisher} on Valkey that connects in the background and reconnects forever. */
export interface ValkeyPublisher extends EventPublisher {
  /** Makes the first connection attempt; resolves either way (the web starts while Valkey is down). */
  start(): Promise<void>;
  /** Sends one command on the publisher's connection, failing as a publish does (down, or silent). */
  command(command: string, args: string[]): Promise<unknown>;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Creates the web's Valkey publisher. `stream`: `XADD <channel> MAXLEN ~ <cap> * event … accepted_at …`,
 * with the consumer groups made on every connect (see `createConsumerGroups`); `pubsub`: `PUBLISH <channel>
 * <json>`. A publish fails at once while Valkey is down and after the hand-off timeout when it is silent,
 * always as {@link PublishFailedError}. On connect in stream mode it warns about Pub/Sub subscribers of the
 * channel (old workers that will never see stream entries); it warns when the stream reaches its cap.
 */
export function createValkeyPublisher(options: ValkeyPublisherOptions): ValkeyPublisher {
  const { log, channel, streamMaxLen, beforeReplicaWait } = options;
  const timeoutMs = options.handoffTimeoutMs ?? HANDOFF_TIMEOUT_MS;
  const capCheckIntervalMs = options.capCheckIntervalMs ?? 30_000;
  const now = options.now ?? Date.now;
  const streamMode = options.delivery === "stream";
  let lastCapCheck = Number.NEGATIVE_INFINITY;
  /** Valkey's clock minus ours, in ms, measured on connect: the admission deadline is on Valkey's clock. */
  let clockOffsetMs = 0;
  /** The script's deadline leaves this much of the hand-off for the reply to come back. */
  const replyMarginMs = Math.min(500, timeoutMs / 4);

  const bounded = <T>(work: Promise<T>, what: string): Promise<T> =>
    withTimeout(work, timeoutMs, `Valkey did not answer ${what} within ${timeoutMs} ms`);

  const warnAtCap = (length: unknown) => warnIfAtCap(log, channel, length, streamMaxLen);

  /** Loads the admission script and measures Valkey's clock against ours. */
  async function prepareAdmission(client: RedisClient): Promise<void> {
    await bounded(client.send("SCRIPT", ["LOAD", ADMIT_SCRIPT]), "SCRIPT LOAD");
    const sent = now();
    const [seconds, micros] = ((await bounded(client.send("TIME", []), "TIME")) as unknown[]).map(Number);
    const received = now();
    clockOffsetMs = (seconds ?? 0) * 1000 + Math.floor((micros ?? 0) / 1000) - (sent + received) / 2;
  }

  async function prepare(client: RedisClient): Promise<void> {
    await prepareAdmission(client);
    if (streamMode) await prepareStream(client);
  }

  async function prepareStream(client: RedisClient): Promise<void> {
    const send = (command: string, args: string[]) => bounded(client.send(command, args), command);
    try {
      const { created, startOf } = await createConsumerGroups(send, channel, options.consumerGroups);
      for (const group of created)
        log.info("consumer group created", { stream: channel, group, from: startOf[group] });
    } catch (error) {
      if (!isReplyError(error, "NOPERM")) throw error;
      log.warn("valkey consumer group not created", { stream: channel, error });
    }
    // Both checks only advise: a Valkey user allowed XADD but not these must still be able to publish.
    await bounded(client.send("PUBSUB", ["NUMSUB", channel]), "PUBSUB NUMSUB").then(
      warnOfSubscribers,
      (error: unknown) => log.warn("old Pub/Sub subscribers not checked", { channel, error }),
    );
    lastCapCheck = now();
    await bounded(client.send("XLEN", [channel]), "XLEN").then(warnAtCap, (error: unknown) =>
      log.warn("valkey stream length check failed", { stream: channel, error }),
    );
  }

  function warnOfSubscribers(numsub: unknown): void {
    const subscribers = Array.isArray(numsub) ? Number(numsub[1] ?? 0) : 0;
    if (subscribers === 0) return;
    log.warn(
      "clients are subscribed to the Pub/Sub channel of the stream; an old worker never sees stream entries",
      {
        channel,
        subscribers,
        delivery: "stream",
      },
    );
  }

  const minReplicasAck = options.minReplicasAck ?? 0;
  const connectionOptions = {
    url: options.url,
    tls: options.tls,
    log,
    connectTimeoutMs: timeoutMs,
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
  };
  const connection = new ValkeyConnection({ ...connectionOptions, name: "publisher", onConnect: prepare });
  /**
   * With replica acknowledgements, admissions run on a connection of their own: `WAIT` blocks the
   * connection it runs on, and counts the writes made on that connection, so the script and its `WAIT`
   * must share one, and status reads and cap checks must not queue behind a `WAIT`.
   */
  const admitting =
    minReplicasAck > 0
      ? new ValkeyConnection({
          ...connectionOptions,
          name: "publisher-acks",
          onConnect: async (client) => {
            await prepareAdmission(client);
            await warnOfMissingReplicas(client);
            await warnIfWaitRefused(client);
          },
        })
      : connection;

  /**
   * Warns when the primary has fewer replicas connected (`ROLE`'s list: no `INFO` right needed) than
   * `VALKEY_MIN_REPLICAS_ACK`: every event would then answer 502 although the primary holds it.
   */
  async function warnOfMissingReplicas(client: RedisClient): Promise<void> {
    let role: unknown;
    try {
      role = await bounded(client.send("ROLE", []), "ROLE");
    } catch (error) {
      log.warn("valkey replicas not counted", { min_replicas_ack: minReplicasAck, error });
      return;
    }
    const replicas = Array.isArray(role) && Array.isArray(role[2]) ? role[2].length : 0;
    if (replicas >= minReplicasAck) return;
    log.warn(
      "the valkey primary has fewer replicas than VALKEY_MIN_REPLICAS_ACK; every event answers 502 (stored on the primary, replication not confirmed) until enough replicas connect",
      { replicas, min_replicas_ack: minReplicasAck },
    );
  }

  /** Tries `WAIT 0 0` (answers at once): a user without `+wait` is named at startup, not on the first event. */
  async function warnIfWaitRefused(client: RedisClient): Promise<void> {
    await bounded(client.send("WAIT", ["0", "0"]), "WAIT").catch((error: unknown) => {
      if (!isReplyError(error, "NOPERM")) throw error;
      log.warn(
        "valkey refused WAIT; every event answers 502 (stored on the primary, replication not confirmed) until the web's Valkey user is granted +wait",
        { min_replicas_ack: minReplicasAck, error },
      );
    });
  }

  /** Checks the stream's length now and then, off the request's path: reaching the cap is rare and slow. */
  function checkCapSometimes(): void {
    if (now() - lastCapCheck < capCheckIntervalMs) return;
    lastCapCheck = now();
    connection.send("XLEN", [channel], timeoutMs).then(warnAtCap, (error: unknown) => {
      log.warn("valkey stream length check failed", { stream: channel, error });
    });
  }

  /** The script's arguments: what {@link ADMIT_SCRIPT} documents. */
  function admitArgs(envelope: EventEnvelope, admission: Admission): string[] {
    const sentAt = now();
    const deadline = Math.floor(sentAt + clockOffsetMs + timeoutMs - replyMarginMs);
    const ttl = Math.max(1000, Math.ceil(admission.rememberUntilMs - sentAt));
    const { expectedClusters } = options;
    const fields = streamMode
      ? envelopeToStreamFields(expectedClusters.length > 0 ? { ...envelope, expectedClusters } : envelope)
      : [];
    return [
      ...admitKeys(channel, admission.jti, admission.repository),
      ...admitArgv({
        mode: options.delivery,
        deadlineMs: deadline,
        jtiTtlMs: ttl,
        payload: envelope.payload,
        rateLimit: options.ratePerMinute,
        rateWindowMs: 60_000,
        streamMaxLen,
        replicaAcks: minReplicasAck > 0,
        fields,
      }),
    ];
  }

  /**
   * One `WAIT` at a time on the admitting connection, shared by the admissions made before it; a round
   * holds admissions queued behind it at most a quarter of the hand-off.
   */
  const replicaAcks = createReplicaAcks({
    minReplicas: minReplicasAck,
    send: (command, args, commandTimeoutMs) => admitting.sendTracked(command, args, commandTimeoutMs),
    roundMs: Math.max(1, Math.floor(timeoutMs / 4)),
    slackMs: timeoutMs,
    now,
  });

  /**
   * Waits until `minReplicasAck` replicas acknowledged every write made so far on the admitting
   * connection of `generation` (this event's among them), within what is left of the hand-off that
   * began at `sentAt`.
   */
  function awaitReplicas(sentAt: number, generation: number): Promise<void> {
    return replicaAcks.confirm(Math.floor(sentAt + timeoutMs - replyMarginMs - now()), generation);
  }

  /**
   * Runs the admission script; a Valkey that restarted without persistence forgot it, so on `NOSCRIPT`
   * it is sent whole (with the same deadline), within what is left of the hand-off that began at
   * `sentAt`, and not at all once that is spent. Returns the result and the generation of the
   * connection the script ran on, for its `WAIT`.
   */
  async function runAdmission(
    args: string[],
    sentAt: number,
  ): Promise<{ result: PublishResult; generation: number }> {
    const { reply, generation } = await admitting
      .sendTracked("EVALSHA", [ADMIT_SCRIPT_SHA, "3", ...args], timeoutMs)
      .catch((error: unknown) => {
        if (!isReplyError(error, "NOSCRIPT")) throw error;
        const leftMs = Math.floor(sentAt + timeoutMs - now());
        if (leftMs <= 0) {
          throw new Error(`Valkey forgot the admission script and the ${timeoutMs} ms hand-off ran out`);
        }
        return admitting.sendTracked("EVAL", [ADMIT_SCRIPT, "3", ...args], leftMs);
      });
    return { result: readAdmitReply(reply), generation };
  }

  /**
   * Waits for the replicas after the script stored the event: any failure now (too few replicas, a user
   * without `+wait`, a connection closed mid-`WAIT`, or closed and made again before it) leaves the
   * event stored on the primary, so it is {@link ReplicationUnconfirmedError}, never "not taken".
   */
  async function confirmReplicas(sentAt: number, generation: number): Promise<void> {
    try {
      await awaitReplicas(sentAt, generation);
    } catch (error) {
      const known = error instanceof ReplicasMissingError || error instanceof AdmittingConnectionChangedError;
      const reason = known ? error.message : `WAIT failed: ${errorText(error)}`;
      throw new ReplicationUnconfirmedError(`Valkey holds the event on the primary only: ${reason}`, {
        cause: error,
      });
    }
  }

  async function publish(envelope: EventEnvelope, admission: Admission): Promise<PublishResult> {
    const sentAt = now();
    const args = admitArgs(envelope, admission);
    let admitted: { result: PublishResult; generation: number };
    try {
      admitted = await runAdmission(args, sentAt);
    } catch (error) {
      throw new PublishFailedError(`Valkey did not take the event: ${errorText(error)}`, { cause: error });
    }
    const { result, generation } = admitted;
    if (minReplicasAck > 0 && (result.kind === "accepted" || result.kind === "replayed")) {
      await beforeReplicaWait?.();
      await confirmReplicas(sentAt, generation);
    }
    if (streamMode && result.kind === "accepted") checkCapSometimes();
    return result;
  }

  return {
    start: async () => {
      await Promise.all([connection.start(), admitting === connection ? undefined : admitting.start()]);
    },
    command: (command, args) => connection.send(command, args, timeoutMs),
    publish,
    ready: () => connection.connected && admitting.connected,
    close: async () => {
      connection.close();
      admitting.close();
    },
  };
}
