import { isIP } from "node:net";
import { connect } from "node:tls";

/**
 * Finds out why a TLS connection to Valkey failed. Bun's client reports every failed handshake as
 * "Connection closed", so this repeats the handshake with `node:tls`, trusting the same CA and checking
 * the same host name, and returns its reason (`unable to verify the first certificate
 * (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`, …), or undefined when the handshake succeeds.
 */
export function diagnoseTls(
  url: string,
  tls: { readonly ca: string | undefined },
  timeoutMs: number,
): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port: Number(port) || 6379,
      // Node forbids an IP address as SNI name; the certificate check still covers IP addresses.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    });
    const finish = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => finish(`no TLS handshake within ${timeoutMs} ms`), timeoutMs);
    socket.once("secureConnect", () => finish(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      finish(error.code ? `${error.message} (${error.code})` : error.message),
    );
  });
}
