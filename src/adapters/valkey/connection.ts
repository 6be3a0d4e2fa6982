import { RedisClient } from "bun";
import { type Address, formatHostPort } from "../../core/address.ts";
import { backoffDelay } from "../../core/backoff.ts";
import type { Logger } from "../../log.ts";
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

/** Options of a {@link ValkeyConnection}. */
export interface ValkeyConnectionOptions {
  readonly url: string;
  readonly tls: ValkeyTlsOptions;
  readonly log: Logger;
  /** Names the connection in log lines (`publisher`, `consumer`, …). */
  readonly name: string;
  readonly connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts. */
  readonly maxBackoffMs?: number;
  /** Runs after each successful (re)connect, before the connection counts as up (e.g. create a group). */
  readonly onConnect?: (client: RedisClient) => Promise<void>;
  /**
   * How often an idle connection is checked with `PING` (0: never); default 5 s. A connection that
   * stops answering (half-open: no FIN, no RST) is dropped and made again, here or when any command
   * times out, instead of looking connected for as long as the kernel keeps the socket.
   */
  readonly pingIntervalMs?: number;
}

const PING_TIMEOUT_MS = 2000;

/** A command waiting for the end of the turn, then for its answer. */
interface QueuedCommand {
  readonly command: string;
  readonly args: string[];
  readonly timeoutMs: number;
  readonly resolve: (value: unknown) => void;
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
  private inFlight = 0;
  private queued: QueuedCommand[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: ValkeyConnectionOptions) {}

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
    if (!this.client || !this.connected) return Promise.reject(notConnected());
    return new Promise((resolve, reject) => {
      this.queued.push({ command, args, timeoutMs, resolve, reject });
      this.inFlight += 1;
      if (this.queued.length === 1) setImmediate(this.flushQueued);
    });
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
    for (const [timeoutMs, group] of byTimeout) this.sendGroup(client, group, timeoutMs);
  };

  private sendGroup(client: RedisClient, group: QueuedCommand[], timeoutMs: number): void {
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
        (value) => done(queued, () => queued.resolve(value)),
        (error: unknown) => done(queued, () => queued.reject(error)),
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
    if (this.closed || this.client !== client || !this.up) return;
    this.options.log.warn("valkey connection unresponsive; reconnecting", {
      connection: this.options.name,
      command,
      timeout_ms: timeoutMs,
    });
    client.onclose = null;
    client.close();
    this.scheduleReconnect(client);
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
    this.up = false;
    this.client?.close();
    this.client = undefined;
    for (const waiter of [...this.waiters]) waiter();
  }

  private async connectOnce(): Promise<void> {
    if (this.closed) return;
    const { url, tls, connectTimeoutMs = 2000, log, name } = this.options;
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
    this.tries += 1;
    const attempt = this.tries;
    try {
      await client.connect();
      await this.options.onConnect?.(client);
      if (this.closed || this.client !== client) return;
      if (this.attempt > 0) log.info("valkey reconnected", { connection: name, attempts: this.tries });
      this.attempt = 0;
      this.tries = 0;
      this.up = true;
      this.startPinging();
      for (const waiter of [...this.waiters]) waiter();
    } catch (error) {
      if (this.closed) return;
      client.onclose = null;
      client.close();
      const tlsError = tls === false ? undefined : await this.diagnose(error, tls);
      if (this.closed) return;
      log.warn("valkey connection failed", {
        connection: name,
        attempt,
        error,
        ...(tlsError !== undefined ? { tls_error: tlsError } : {}),
      });
      this.scheduleReconnect(client);
    }
  }

  /** The TLS handshake's reason for a connection Bun reports only as closed; undefined otherwise. */
  private async diagnose(error: unknown, tls: Exclude<ValkeyTlsOptions, false>): Promise<string | undefined> {
    const { url, connectTimeoutMs = 2000 } = this.options;
    const closed = (error as { code?: unknown } | null)?.code === "ERR_REDIS_CONNECTION_CLOSED";
    return closed ? diagnoseTls(url, tls, connectTimeoutMs) : undefined;
  }

  private handleClose(client: RedisClient): void {
    if (this.closed || this.client !== client) return;
    if (this.up) this.options.log.warn("valkey connection lost", { connection: this.options.name });
    this.scheduleReconnect(client);
  }

  private scheduleReconnect(client: RedisClient): void {
    if (this.closed || this.client !== client || this.timer !== undefined) return;
    this.up = false;
    const delay = backoffDelay(this.attempt + 1, { baseMs: 100, maxMs: this.options.maxBackoffMs ?? 5000 });
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connectOnce();
    }, delay);
  }
}
