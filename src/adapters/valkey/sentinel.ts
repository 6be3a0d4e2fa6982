import { RedisClient } from "bun";
import { type Address, formatHostPort } from "../../core/address.ts";
import { withTimeout } from "../../timers.ts";
import { bunTlsOption, type ValkeyPrimaryResolver, type ValkeyTlsOptions, valkeyUrl } from "./connection.ts";
import { replyText } from "./stream-replies.ts";

/** Raised when no sentinel named a primary for the master name. */
export class SentinelUnavailableError extends Error {
  readonly code = "ERR_SENTINEL_UNAVAILABLE";
}

/** Options of {@link createSentinelResolver}. */
export interface SentinelResolverOptions {
  /** `VALKEY_SENTINEL_ADDRS`, asked in turn. */
  readonly sentinels: readonly Address[];
  /** `VALKEY_SENTINEL_MASTER`: the name the sentinels monitor the primary under. */
  readonly master: string;
  /** The sentinels' own ACL user and password (`VALKEY_SENTINEL_USERNAME` / `_PASSWORD`). */
  readonly sentinelUsername: string | undefined;
  readonly sentinelPassword: string | undefined;
  /** The data nodes' user and password (`VALKEY_USERNAME` / `_PASSWORD`), put into the primary's URL. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** TLS to the sentinels and to the data nodes alike. */
  readonly tls: ValkeyTlsOptions;
  /** Bound on connecting to one sentinel and on its answer; default 1 s. */
  readonly timeoutMs?: number;
}

/** Reads `SENTINEL GET-MASTER-ADDR-BY-NAME`'s reply: `[host, port]`, or nil for an unknown name. */
export function readMasterAddr(reply: unknown): Address | undefined {
  if (!Array.isArray(reply) || reply.length !== 2) return undefined;
  const host = replyText(reply[0]);
  const port = Number(replyText(reply[1]));
  if (host === "" || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host, port };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** How long a sentinel's client stays open after its last answer (the checks ask every second). */
const SENTINEL_IDLE_MS = 5000;

/** Open clients to the sentinels, one per sentinel, reused across questions and closed when idle or failing. */
function sentinelClients(options: SentinelResolverOptions) {
  const { timeoutMs = 1000 } = options;
  const open = new Map<number, { client: RedisClient; idle?: ReturnType<typeof setTimeout> }>();

  function forget(index: number): void {
    const entry = open.get(index);
    if (!entry) return;
    open.delete(index);
    clearTimeout(entry.idle);
    entry.client.onclose = null;
    entry.client.close();
  }

  async function clientOf(index: number): Promise<RedisClient> {
    const entry = open.get(index);
    if (entry?.client.connected) return entry.client;
    forget(index);
    const url = valkeyUrl({
      addr: options.sentinels[index] as Address,
      username: options.sentinelUsername,
      password: options.sentinelPassword,
      tls: options.tls !== false,
    });
    const client = new RedisClient(url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: timeoutMs,
      tls: bunTlsOption(options.tls),
    });
    open.set(index, { client });
    client.onclose = () => {
      if (open.get(index)?.client === client) forget(index);
    };
    await client.connect();
    return client;
  }

  /** Asks sentinel `index` for the primary of `master`; undefined when it does not know the name. */
  async function ask(index: number): Promise<Address | undefined> {
    try {
      const client = await clientOf(index);
      const reply = await withTimeout(
        client.send("SENTINEL", ["GET-MASTER-ADDR-BY-NAME", options.master]),
        timeoutMs,
        `sentinel did not answer within ${timeoutMs} ms`,
      );
      const entry = open.get(index);
      if (entry) {
        clearTimeout(entry.idle);
        entry.idle = setTimeout(() => forget(index), SENTINEL_IDLE_MS);
        entry.idle.unref();
      }
      return readMasterAddr(reply);
    } catch (error) {
      forget(index);
      throw error;
    }
  }

  return { ask };
}

/**
 * A {@link ValkeyPrimaryResolver} that asks the sentinels, one after the other, which node is the
 * primary of `master` (`SENTINEL GET-MASTER-ADDR-BY-NAME`), starting with the one that answered last.
 * The connection then checks that the node says `ROLE` master: a sentinel can still name a primary
 * that was just demoted, and when the node is not the primary ({@link ValkeyPrimaryResolver.notPrimary})
 * the next question starts with the next sentinel, so one stale sentinel is not asked again and again.
 * Each sentinel's client stays open between questions (closed on any error and after 5 s idle).
 */
export function createSentinelResolver(options: SentinelResolverOptions): ValkeyPrimaryResolver {
  if (options.sentinels.length === 0) throw new Error("no sentinel addresses");
  let first = 0;
  /** The last answer: which sentinel named which primary. */
  let last: { index: number; addr: string } | undefined;
  const sentinels = options.sentinels;
  const clients = sentinelClients(options);
  let asking: Promise<{ url: string; addr: string }> | undefined;
  // Every connection of the process asks through one resolver: questions asked while one is under
  // way share its answer, so the sentinels see one question at a time.
  return {
    resolve() {
      asking ??= ask().finally(() => {
        asking = undefined;
      });
      return asking;
    },
    notPrimary(addr) {
      if (last?.addr !== addr) return;
      first = (last.index + 1) % sentinels.length;
      last = undefined;
    },
  };

  async function ask(): Promise<{ url: string; addr: string }> {
    const reasons: string[] = [];
    for (let i = 0; i < sentinels.length; i++) {
      const index = (first + i) % sentinels.length;
      const sentinel = sentinels[index] as Address;
      const where = formatHostPort(sentinel.host, sentinel.port);
      try {
        const primary = await clients.ask(index);
        if (primary === undefined) {
          reasons.push(`${where}: no primary named ${JSON.stringify(options.master)}`);
          continue;
        }
        first = index;
        const addr = formatHostPort(primary.host, primary.port);
        last = { index, addr };
        const url = valkeyUrl({ ...options, addr: primary, tls: options.tls !== false });
        return { url, addr };
      } catch (error) {
        reasons.push(`${where}: ${errorText(error)}`);
      }
    }
    throw new SentinelUnavailableError(`no sentinel named the primary (${reasons.join("; ")})`);
  }
}
