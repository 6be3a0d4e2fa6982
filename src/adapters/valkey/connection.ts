import { RedisClient } from "bun";
import { type Address, formatHostPort } from "../../core/address.ts";
import { backoffDelay } from "../../core/backoff.ts";
import type { Logger } from "../../log.ts";
import { withTimeout } from "../../timers.ts";
import { replyText } from "./stream-replies.ts";
import { diagnoseTls } from "./tls-diagnosis.ts";

/** TLS to Valkey: `false` for plain TCP; else TLS that always verifies the certificate, against `ca` when given. */
export type ValkeyTlsOptions = false | { readonly ca: string | undefined };

/** Bun's `tls` option of a RedisClient for these options: off, the system roots, or the given CA. */
export function bunTlsOption(tls: ValkeyTlsOptions): boolean | { ca: string } {
  return tls === false ? false : tls.ca !== undefined ? { ca: tls.ca } : true;
}

/** Raised when Valkey cannot take a command now: not connected, or no answer within the timeout. */
export class ValkeyUnavailableError extends Error {
  readonly code = "ERR_VALKEY_UNAVAILABLE";
}

/** Where and as whom to connect to Valkey. */
export interface ValkeyEndpoint {
  readonly addr: Address;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
}

/** Builds the client URL; the password goes only into the URL, never into logs. */
export function valkeyUrl(endpoint: ValkeyEndpoint): string {
  const { addr, username, password } = endpoint;
  const auth =
    username || password
      ? `${encodeURIComponent(username ?? "")}:${encodeURIComponent(password ?? "")}@`
      : "";
  return `${endpoint.tls ? "rediss" : "redis"}://${auth}${formatHostPort(addr.host, addr.port)}`;
}

/**
 * Names the primary anew on every (re)connect (Sentinel): its client URL, and its `host:port` for logs.
 * A connection made through it checks that the node says `ROLE` master before it counts as up.
 */
export interface ValkeyPrimaryResolver {
  resolve(): Promise<{ readonly url: string; readonly addr: string }>;
  /**
   * Told that the node `addr` it named does not say `ROLE` master (or answered `READONLY`): the next
   * question goes to another source first (Sentinel: the next sentinel, not the one that named it).
   */
  notPrimary?(addr: string): void;
}

/** Told the primary's `host:port` on each check, or why the check failed. */
export interface PrimaryListener {
  named(addr: string): void;
  failed(error: unknown): void;
}

interface PrimaryWatch {
  readonly timer: ReturnType<typeof setInterval>;
  readonly listeners: Set<PrimaryListener>;
}

/** The running checks of each resolver, by interval. */
const primaryWatches = new WeakMap<ValkeyPrimaryResolver, Map<number, PrimaryWatch>>();

/**
 * Asks `resolver` every `intervalMs` which node is the primary and tells each listener. Every connection
 * through one resolver shares one check (one question a second, not one per connection); it stops with
 * its last listener. Returns the function that removes `listener`.
 */
export function watchPrimary(
  resolver: ValkeyPrimaryResolver,
  intervalMs: number,
  listener: PrimaryListener,
): () => void {
  let byInterval = primaryWatches.get(resolver);
  if (!byInterval) {
    byInterval = new Map();
    primaryWatches.set(resolver, byInterval);
  }
  let watch = byInterval.get(intervalMs);
  if (!watch) {
    const listeners = new Set<PrimaryListener>();
    const timer = setInterval(() => {
      resolver.resolve().then(
        ({ addr }) => {
          for (const each of [...listeners]) each.named(addr);
        },
        (error: unknown) => {
          for (const each of [...listeners]) each.failed(error);
        },
      );
    }, intervalMs);
    timer.unref();
    watch = { timer, listeners };
    byInterval.set(intervalMs, watch);
  }
  watch.listeners.add(listener);
  const { listeners, timer } = watch;
  const watches = byInterval;
  return () => {
    listeners.delete(listener);
    if (listeners.size > 0 || watches.get(intervalMs)?.timer !== timer) return;
    clearInterval(timer);
    watches.delete(intervalMs);
  };
}

/** Where a connection goes: one fixed client URL (`valkeyUrl`), or the primary a resolver names. */
export type ValkeyEndpointSource = string | ValkeyPrimaryResolver;

/** Raised when the node a sentinel named is not (or no longer) the primary. */
export class ValkeyNotPrimaryError extends Error {
  readonly code = "ERR_VALKEY_NOT_PRIMARY";
}

/** Whether a reply error says the node is a replica now (`READONLY You can't write against a read only replica`). */
export function isReadOnlyReply(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("READONLY");
}

/**
 * Checks that the node a sentinel named says `ROLE` master: a sentinel can name a primary that was just
 * demoted, or that it has not yet noticed is gone. Rejects with {@link ValkeyNotPrimaryError} otherwise.
 */
export async function checkPrimaryRole(client: RedisClient, addr: string, timeoutMs: number): Promise<void> {
  const role = await withTimeout(client.send("ROLE", []), timeoutMs, `${addr} did not answer ROLE`);
  const kind = Array.isArray(role) ? replyText(role[0]) : "";
  if (kind !== "master") throw new ValkeyNotPrimaryError(`${addr} is not the primary (ROLE ${kind})`);
}

/** Options of a {@link ValkeyConnection}. */
export interface ValkeyConnectionOptions {
  /** The client URL (`valkeyUrl`), or under Sentinel the resolver of the primary's, asked on every connect. */
  readonly url: ValkeyEndpointSource;
  readonly tls: ValkeyTlsOptions;
  readonly log: Logger;
  /** Names the connection in log lines (`publisher`, `consumer`, …). */
  readonly name: string;
  readonly connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts; default 5 s, 1 s under Sentinel. */
  readonly maxBackoffMs?: number;
  /** Runs after each successful (re)connect, before the connection counts as up (e.g. create a group). */
  readonly onConnect?: (client: RedisClient) => Promise<void>;
  /**
   * How often an idle connection is checked with `PING` (0: never); default 5 s. A connection that
   * stops answering (half-open: no FIN, no RST) is dropped and made again, here or when any command
   * times out, instead of looking connected for as long as the kernel keeps the socket.
   */
  readonly pingIntervalMs?: number;
  /**
   * Under Sentinel, how often the resolver is asked whether the primary moved (default 1 s; 0: never).
   * A demoted primary keeps its clients until a sentinel reconfigures it, up to ~10 s later, and takes
   * writes meanwhile that the new primary never sees: this leaves it as soon as the sentinels name another.
   */
  readonly primaryCheckIntervalMs?: number;
}

const PING_TIMEOUT_MS = 2000;

/** A reply, with the {@link ValkeyConnection.generation} of the connection the command was written on. */
export interface TrackedReply {
  readonly reply: unknown;
  readonly generation: number;
}

/** A command waiting for the end of the turn, then for its answer. */
interface QueuedCommand {
  readonly command: string;
  readonly args: string[];
  readonly timeoutMs: number;
  readonly resolve: (value: unknown, generation: number) => void;
  readonly reject: (error: unknown) => void;
  settled?: boolean;
}

const notConnected = () => new ValkeyUnavailableError("Valkey is not connected");

/**
 * One Valkey connection that never gives up: Bun's client stops reconnecting after about 20 tries,
 * so this keeps its own loop with capped exponential backoff and makes a fresh client each time.
 * Commands fail at once while it is down (no offline queue) and after a timeout when Valkey is silent.
 */
export class ValkeyConnection {
  private client: RedisClient | undefined;
  private up = false;
  private closed = false;
  private attempt = 0;
  private tries = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pinger: ReturnType<typeof setInterval> | undefined;
  private unwatchPrimary: (() => void) | undefined;
  private inFlight = 0;
  private queued: QueuedCommand[] = [];
  private readonly waiters = new Set<() => void>();
  /** The URL of the current or last attempt, for the TLS diagnosis. */
  private url = "";
  /** The primary of the last successful connect (Sentinel), to log a change. */
  private primaryAddr: string | undefined;
  private connects = 0;

  constructor(private readonly options: ValkeyConnectionOptions) {}

  /**
   * Counts successful connects: 1 after the first, one more after each reconnect. Two replies of one
   * generation came on one connection (its writes are one ordered stream, e.g. for `WAIT`).
   */
  get generation(): number {
    return this.connects;
  }

  /** Whether the connection is up now. */
  get connected(): boolean {
    return this.up && this.client?.connected === true;
  }

  /** Starts connecting in the background; resolves once the first attempt has finished either way. */
  async start(): Promise<void> {
    await this.connectOnce();
  }

  /** Resolves when the connection is up, or after `timeoutMs`; returns whether it is up. */
  async waitUntilConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return true;
    return new Promise<boolean>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.connected);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /**
   * Sends one command; rejects with {@link ValkeyUnavailableError} when down or silent past `timeoutMs`.
   * Commands sent during one turn of the event loop go out together at its end: Bun's client writes
   * commands issued in one go as one socket write, where it would otherwise write each on its own.
   */
  send(command: string, args: string[], timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => this.enqueue(command, args, timeoutMs, resolve, reject));
  }

  /** As {@link send}, with the {@link generation} of the connection the command was written on. */
  sendTracked(command: string, args: string[], timeoutMs: number): Promise<TrackedReply> {
    return new Promise((resolve, reject) =>
      this.enqueue(command, args, timeoutMs, (reply, generation) => resolve({ reply, generation }), reject),
    );
  }

  private enqueue(
    command: string,
    args: string[],
    timeoutMs: number,
    resolve: QueuedCommand["resolve"],
    reject: QueuedCommand["reject"],
  ): void {
    if (!this.client || !this.connected) {
      reject(notConnected());
      return;
    }
    this.queued.push({ command, args, timeoutMs, resolve, reject });
    this.inFlight += 1;
    if (this.queued.length === 1) setImmediate(this.flushQueued);
  }

  /** Writes the commands queued this turn, one timer for all those that share a timeout. */
  private readonly flushQueued = (): void => {
    const batch = this.queued;
    this.queued = [];
    const client = this.client;
    if (!client || !this.connected) {
      for (const queued of batch) this.settle(queued, () => queued.reject(notConnected()));
      return;
    }
    const byTimeout = new Map<number, QueuedCommand[]>();
    for (const queued of batch) {
      const group = byTimeout.get(queued.timeoutMs);
      if (group) group.push(queued);
      else byTimeout.set(queued.timeoutMs, [queued]);
    }
    for (const [timeoutMs, group] of byTimeout) this.sendGroup(client, this.connects, group, timeoutMs);
  };

  private sendGroup(
    client: RedisClient,
    generation: number,
    group: QueuedCommand[],
    timeoutMs: number,
  ): void {
    let open = group.length;
    const timer = setTimeout(() => {
      const late = group.filter((queued) => !queued.settled);
      for (const queued of late) {
        const error = new ValkeyUnavailableError(
          `Valkey did not answer ${queued.command} within ${timeoutMs} ms`,
        );
        this.settle(queued, () => queued.reject(error));
      }
      if (late[0]) this.abandon(client, late[0].command, timeoutMs);
    }, timeoutMs);
    const done = (queued: QueuedCommand, answer: () => void) => {
      this.settle(queued, answer);
      open -= 1;
      if (open === 0) clearTimeout(timer);
    };
    for (const queued of group) {
      client.send(queued.command, queued.args).then(
        (value) => done(queued, () => queued.resolve(value, generation)),
        (error: unknown) => {
          done(queued, () => queued.reject(error));
          if (isReadOnlyReply(error)) this.leaveReplica(client, queued.command);
        },
      );
    }
  }

  /** Answers a queued command once: a late answer after its timeout is dropped. */
  private settle(queued: QueuedCommand, answer: () => void): void {
    if (queued.settled) return;
    queued.settled = true;
    this.inFlight -= 1;
    answer();
  }

  /** Drops a client that stopped answering and starts making a new one. */
  private abandon(client: RedisClient, command: string, timeoutMs: number): void {
    this.drop(client, "valkey connection unresponsive; reconnecting", { command, timeout_ms: timeoutMs });
  }

  /** Closes the client in use, saying why, and makes a new one (under Sentinel to the primary named then). */
  private drop(client: RedisClient, message: string, fields: Record<string, unknown>): void {
    if (this.closed || this.client !== client || !this.up) return;
    this.options.log.warn(message, { connection: this.options.name, ...fields });
    client.onclose = null;
    client.close();
    this.scheduleReconnect(client);
  }

  /** Drops a client whose node was demoted under it: a new connect asks the resolver for the primary. */
  private leaveReplica(client: RedisClient, command: string): void {
    const { url } = this.options;
    if (typeof url !== "string" && this.primaryAddr !== undefined) url.notPrimary?.(this.primaryAddr);
    this.drop(client, "valkey node is a replica now; reconnecting to the primary", { command });
  }

  /**
   * Under Sentinel: leaves a primary that the resolver no longer names. The check is the resolver's,
   * shared by every connection through it ({@link watchPrimary}).
   */
  private startWatchingPrimary(): void {
    const { url, primaryCheckIntervalMs = 1000, log, name } = this.options;
    if (typeof url === "string" || primaryCheckIntervalMs <= 0 || this.unwatchPrimary !== undefined) return;
    this.unwatchPrimary = watchPrimary(url, primaryCheckIntervalMs, {
      named: (addr) => {
        const client = this.client;
        const current = this.primaryAddr;
        if (!client || !this.connected || addr === current) return;
        this.drop(client, "valkey primary moved; reconnecting", { from: current, to: addr });
      },
      failed: (error) => log.debug("valkey primary not checked", { connection: name, error }),
    });
  }

  /** Checks an idle connection now and then; a busy one is checked by its own commands' timeouts. */
  private startPinging(): void {
    const interval = this.options.pingIntervalMs ?? 5000;
    if (interval <= 0 || this.pinger !== undefined) return;
    this.pinger = setInterval(() => {
      if (!this.connected || this.inFlight > 0) return;
      this.send("PING", [], Math.min(PING_TIMEOUT_MS, interval)).catch(() => {
        // A timeout has already dropped the connection; a closed one reconnects on its own.
      });
    }, interval);
    this.pinger.unref();
  }

  /** The current client, for subscriptions; undefined while down. */
  get current(): RedisClient | undefined {
    return this.connected ? this.client : undefined;
  }

  /** Closes the connection and stops reconnecting. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.unwatchPrimary?.();
    this.unwatchPrimary = undefined;
    this.up = false;
    this.client?.close();
    this.client = undefined;
    for (const waiter of [...this.waiters]) waiter();
  }

  /** The URL to connect to now: the fixed one, or the primary the resolver names. */
  private async resolveUrl(): Promise<{ url: string; addr: string | undefined }> {
    const { url } = this.options;
    if (typeof url === "string") return { url, addr: undefined };
    return url.resolve();
  }

  private async connectOnce(): Promise<void> {
    if (this.closed) return;
    const { tls, connectTimeoutMs = 2000, log, name } = this.options;
    this.tries += 1;
    let target: { url: string; addr: string | undefined };
    try {
      target = await this.resolveUrl();
    } catch (error) {
      if (this.closed) return;
      log.warn("valkey primary not resolved", { connection: name, attempt: this.tries, error });
      this.scheduleRetry();
      return;
    }
    if (this.closed) return;
    const { url, addr } = target;
    this.url = url;
    const client = new RedisClient(url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: connectTimeoutMs,
      tls: bunTlsOption(tls),
    });
    this.client = client;
    client.onclose = () => this.handleClose(client);
    // Counted from the last success, so the first try after a drop is attempt 1 (a close event during
    // the try already moves the backoff counter on).
    const attempt = this.tries;
    try {
      await client.connect();
      if (addr !== undefined) await checkPrimaryRole(client, addr, connectTimeoutMs);
      await this.options.onConnect?.(client);
      if (this.closed || this.client !== client) return;
      if (this.attempt > 0) log.info("valkey reconnected", { connection: name, attempts: this.tries });
      if (addr !== undefined && addr !== this.primaryAddr) {
        log.info("valkey primary resolved", { connection: name, primary: addr, previous: this.primaryAddr });
      }
      this.primaryAddr = addr;
      this.attempt = 0;
      this.tries = 0;
      this.connects += 1;
      this.up = true;
      this.startPinging();
      this.startWatchingPrimary();
      for (const waiter of [...this.waiters]) waiter();
    } catch (error) {
      if (this.closed) return;
      client.onclose = null;
      client.close();
      const { url: source } = this.options;
      if (error instanceof ValkeyNotPrimaryError && typeof source !== "string" && addr !== undefined) {
        source.notPrimary?.(addr);
      }
      const tlsError = tls === false ? undefined : await this.diagnose(error, tls);
      if (this.closed) return;
      log.warn("valkey connection failed", {
        connection: name,
        attempt,
        ...(addr !== undefined ? { primary: addr } : {}),
        error,
        ...(tlsError !== undefined ? { tls_error: tlsError } : {}),
      });
      this.scheduleReconnect(client);
    }
  }

  /** The TLS handshake's reason for a connection Bun reports only as closed; undefined otherwise. */
  private async diagnose(error: unknown, tls: Exclude<ValkeyTlsOptions, false>): Promise<string | undefined> {
    const { connectTimeoutMs = 2000 } = this.options;
    const closed = (error as { code?: unknown } | null)?.code === "ERR_REDIS_CONNECTION_CLOSED";
    return closed ? diagnoseTls(this.url, tls, connectTimeoutMs) : undefined;
  }

  private handleClose(client: RedisClient): void {
    if (this.closed || this.client !== client) return;
    if (this.up) this.options.log.warn("valkey connection lost", { connection: this.options.name });
    this.scheduleReconnect(client);
  }

  private scheduleReconnect(client: RedisClient): void {
    if (this.closed || this.client !== client) return;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.timer !== undefined) return;
    this.up = false;
    // Under Sentinel a retry asks for the primary anew, and a failover takes seconds: retry sooner.
    const maxMs = this.options.maxBackoffMs ?? (typeof this.options.url === "string" ? 5000 : 1000);
    const delay = backoffDelay(this.attempt + 1, { baseMs: 100, maxMs });
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connectOnce();
    }, delay);
  }
}
