/** Raised when fewer replicas than `VALKEY_MIN_REPLICAS_ACK` acknowledged an admitted event in time. */
export class ReplicasMissingError extends Error {
  readonly code = "ERR_VALKEY_REPLICAS_MISSING";
}

/** Options of {@link createReplicaAcks}. */
export interface ReplicaAcksOptions {
  /** `VALKEY_MIN_REPLICAS_ACK`: at least 1. */
  readonly minReplicas: number;
  /** Sends one command on the admitting connection (the one the admissions' writes were made on). */
  readonly send: (command: string, args: string[], timeoutMs: number) => Promise<unknown>;
  /** Longest one `WAIT` blocks the connection: admissions sent meanwhile queue behind it. */
  readonly roundMs: number;
  /**
   * Added to a `WAIT`'s own timeout for its command timeout: a `WAIT` that runs out of time answers
   * with a count, and only a Valkey silent past that is dropped as unresponsive.
   */
  readonly slackMs: number;
  readonly now?: () => number;
}

/** Waits for replicas to hold the admissions made so far on one connection. */
export interface ReplicaAcks {
  /**
   * Resolves once `minReplicas` replicas acknowledged a `WAIT` sent after this call (so after the
   * admission's write); rejects with {@link ReplicasMissingError} after `leftMs`.
   */
  confirm(leftMs: number): Promise<void>;
}

interface Waiter {
  readonly deadline: number;
  readonly leftMs: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  acked: number;
  done: boolean;
}

/**
 * Keeps at most one `WAIT` in flight on the admitting connection. `WAIT` counts the writes made on its
 * connection before it, so one sent after several admissions answers for all of them: admissions made
 * while one is out wait for the next, sent as soon as it returns. Each admission has its own timer, so
 * a stopped replica fails every request at its own hand-off deadline, and a `WAIT` is never sent for
 * longer than `roundMs`, so admissions queued behind it on the connection are held at most that long.
 */
export function createReplicaAcks(options: ReplicaAcksOptions): ReplicaAcks {
  const { minReplicas, send, roundMs, slackMs } = options;
  const now = options.now ?? Date.now;
  let pending: Waiter[] = [];
  let waiting = false;

  function finish(waiter: Waiter, error?: unknown): void {
    if (waiter.done) return;
    waiter.done = true;
    clearTimeout(waiter.timer);
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }

  function missing(waiter: Waiter): ReplicasMissingError {
    return new ReplicasMissingError(
      `${waiter.acked} of ${minReplicas} replicas acknowledged the event within ${waiter.leftMs} ms; it is on the primary only`,
    );
  }

  /** Sends one `WAIT` for every admission pending now; then the next, while any is left. */
  function round(): void {
    const covered = pending.filter((waiter) => !waiter.done);
    pending = [];
    if (covered.length === 0) {
      waiting = false;
      return;
    }
    waiting = true;
    const latest = Math.max(...covered.map((waiter) => waiter.deadline));
    // WAIT with a timeout of 0 would block for ever.
    const waitMs = Math.max(1, Math.min(roundMs, latest - now()));
    send("WAIT", [String(minReplicas), String(waitMs)], waitMs + slackMs)
      .then(
        (reply) => {
          const acked = Number(reply);
          for (const waiter of covered) {
            waiter.acked = acked;
            if (acked >= minReplicas) finish(waiter);
            else if (!waiter.done) pending.push(waiter);
          }
        },
        (error: unknown) => {
          for (const waiter of covered) finish(waiter, error);
        },
      )
      .finally(round);
  }

  return {
    confirm(leftMs) {
      if (leftMs < 1) {
        return Promise.reject(new ReplicasMissingError(`no time left to wait for ${minReplicas} replicas`));
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { deadline: now() + leftMs, leftMs, resolve, reject, acked: 0, done: false };
        waiter.timer = setTimeout(() => finish(waiter, missing(waiter)), leftMs);
        pending.push(waiter);
        if (!waiting) round();
      });
    },
  };
}
