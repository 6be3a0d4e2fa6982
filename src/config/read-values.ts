import type { Address } from "../core/address.ts";
import { parseDuration } from "../core/duration.ts";

/** A value, or the reason the raw text is not one. */
export type Read<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Read<T> => ({ ok: true, value });
const fail = (reason: string): Read<never> => ({ ok: false, reason });

/** Reads `true`/`false`/`1`/`0`, case-insensitively. */
export function readBoolean(text: string): Read<boolean> {
  const lower = text.toLowerCase();
  if (lower === "true" || lower === "1") return ok(true);
  if (lower === "false" || lower === "0") return ok(false);
  return fail(`"${text}" is not a boolean (true, false, 1 or 0)`);
}

/**
 * Reads a Go-style duration into milliseconds; zero is refused where a wait must be positive, naming
 * `atLeast` (a duration's text) when the setting has a minimum.
 */
export function readDuration(text: string, atLeast?: string): Read<number> {
  const ms = parseDuration(text);
  if (ms === undefined)
    return fail(
      `"${text}" is not a duration such as 500ms, 30s, 5m or 24h (units ms, s, m, h; there is no d)`,
    );
  if (ms <= 0) return fail(`"${text}" must be ${atLeast ? `at least ${atLeast}` : "longer than zero"}`);
  return ok(ms);
}

/** Reads a positive whole number. */
export function readCount(text: string): Read<number> {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    return fail(`"${text}" is not a whole number of at least 1`);
  }
  return ok(Number(text));
}

/** Reads a whole number, zero included. */
export function readWhole(text: string): Read<number> {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    return fail(`"${text}" is not a whole number, 0 or more`);
  return ok(Number(text));
}

/** Reads `host:port`, `:port` or `[v6]:port`. */
export function readAddress(text: string): Read<Address> {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) return fail(`"${text}" is not an address of the form host:port`);
  return ok({ host: match[1] ?? match[2] ?? "", port });
}

/** Reads a comma-separated list of `host:port` (at least one); each entry as {@link readAddress}. */
export function readAddressList(text: string): Read<Address[]> {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) return fail(`"${text}" names no address of the form host:port`);
  const addrs: Address[] = [];
  for (const entry of entries) {
    const read = readAddress(entry);
    if (!read.ok) return read;
    addrs.push(read.value);
  }
  return ok(addrs);
}

/** Reads a comma-separated list, trimming entries and dropping empty ones. */
export function readList(text: string): Read<string[]> {
  return ok(
    text
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ""),
  );
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Reads an https URL, or an http URL on a loopback host (local tests and the demo only). */
export function readSecureUrl(text: string): Read<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`"${text}" is not a URL`);
  }
  if (url.protocol === "https:") return ok(url.href);
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return ok(url.href);
  return fail(`"${text}" must be an https URL (http is accepted only on a loopback host)`);
}
