/** A listening or connecting address split into host and port; an empty host means every interface. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:8080`). */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
