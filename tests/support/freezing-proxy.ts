import type { Socket, TCPSocketListener } from "bun";

/** A loopback TCP proxy whose existing connections can be frozen: half-open, as after a silent network cut. */
export interface FreezingProxy extends Disposable {
  readonly port: number;
  /** Stops forwarding on every connection open now, in both directions, without closing any of them. */
  freezeOpenConnections(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
}

interface Link {
  upstream: Socket<Link> | undefined;
  pending: Uint8Array[];
  frozen: boolean;
}

/** Starts a proxy on 127.0.0.1 (free port) to `targetPort`; connections made after a freeze work normally. */
export function startFreezingProxy(targetPort: number): FreezingProxy {
  const links = new Set<Link>();
  let accepted = 0;
  const listener: TCPSocketListener<Link> = Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        accepted += 1;
        const link: Link = { upstream: undefined, pending: [], frozen: false };
        client.data = link;
        links.add(link);
        void Bun.connect<Link>({
          hostname: "127.0.0.1",
          port: targetPort,
          socket: {
            open(upstream) {
              upstream.data = link;
              link.upstream = upstream;
              for (const chunk of link.pending) upstream.write(chunk);
              link.pending = [];
            },
            data(_upstream, chunk) {
              if (!link.frozen) client.write(chunk);
            },
            close() {
              if (!link.frozen) client.end();
            },
          },
        });
      },
      data(client, chunk) {
        const link = client.data;
        if (link.frozen) return;
        if (link.upstream) link.upstream.write(chunk);
        else link.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        const link = client.data;
        links.delete(link);
        if (!link.frozen) link.upstream?.end();
      },
    },
  });
  return {
    port: listener.port,
    get accepted() {
      return accepted;
    },
    freezeOpenConnections() {
      for (const link of links) link.frozen = true;
    },
    [Symbol.dispose]() {
      listener.stop(true);
    },
  };
}
