/** Raised when fewer replicas than `VALKEY_MIN_REPLICAS_ACK` acknowledged an admitted event in time. */
export class ReplicasMissingError extends Error {
  readonly code = "ERR_VALKEY_REPLICAS_MISSING";
}

/**
 * Raised when the `WAIT` ran on another connection than the admission's write (the admitting connection
 * was closed and made again in between): a `WAIT` counts only its own connection's writes, so it says
 * nothing of that write. A retry with the same token is safe: its replay writes on the new connection.
 */
export class AdmittingConnectionChangedError extends Error {
  readonly code = "ERR_VALKEY_ADMITTING_CONNECTION_CHANGED";
}

/** Options of {@link createReplicaAcks}. */
export interface ReplicaAcksOptions {
  /** `VALKEY_MIN_REPLICAS_ACK`: at least 1. */
  readonly minReplicas: number;
  /**
   * Sends one command on the admitting connection (the one the admissions' writes were made on); the
   * reply comes with the generation of the connection it was written on (see `ValkeyConnection`).
   */
  readonly send: (
    command: string,
    args: string[],
    timeoutMs: number,
  ) => Promise<{ readonly reply: unknown; readonly generation: number }>;
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
   * admission's write) on the connection of `generation`, the one the admission's write was made on;
   * rejects with {@link ReplicasMissingError} after `leftMs`, or with
   * {@link AdmittingConnectionChangedError} when the `WAIT` ran on a later connection.
   */
  confirm(leftMs: number, generation: number): Promise<void>;
}

interface Waiter {
  readonly deadline: number;
  readonly leftMs: number;
  readonly generation: number;
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

  const connectionChanged = () =>
    new AdmittingConnectionChangedError(
      "the connection that stored the event was closed and made again before WAIT, which counts only its own connection's writes",
    );

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
        ({ reply, generation }) => {
          const acked = Number(reply);
          for (const waiter of covered) {
            waiter.acked = acked;
            if (waiter.generation !== generation) finish(waiter, connectionChanged());
            else if (acked >= minReplicas) finish(waiter);
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
    confirm(leftMs, generation) {
      if (leftMs < 1) {
        return Promise.reject(new ReplicasMissingError(`no time left to wait for ${minReplicas} replicas`));
      }
      return new Promise<void>((resolve, reject) => {
        const deadline = now() + leftMs;
        const waiter: Waiter = { deadline, leftMs, generation, resolve, reject, acked: 0, done: false };
        waiter.timer = setTimeout(() => finish(waiter, missing(waiter)), leftMs);
        pending.push(waiter);
        if (!waiting) round();
      });
    },
  };
}
