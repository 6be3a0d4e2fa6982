import type { Address } from "../core/address.ts";

/** The probe URL for a listen address: loopback on the same port. */
export function healthUrlFor(listen: Address): string {
  return `http://127.0.0.1:${listen.port}/healthz`;
}

/** Fetches `url` with a short timeout; true when it answers 200. */
export async function probeHealth(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}
