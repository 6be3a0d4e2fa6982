import { describe, expect, test } from "bun:test";
import {
  ValkeyConnection,
  type ValkeyConnectionOptions,
  ValkeyUnavailableError,
} from "../../src/adapters/valkey/connection.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { startFreezingProxy } from "../support/freezing-proxy.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/** A started connection that `using` closes: no PING and reconnects within 100 ms unless `options` say else. */
async function openConnection(
  url: string,
  log: Logger,
  options: Partial<ValkeyConnectionOptions> = {},
): Promise<ValkeyConnection & Disposable> {
  const connection = new ValkeyConnection({
    url,
    tls: false,
    log,
    name: "test",
    pingIntervalMs: 0,
    maxBackoffMs: 100,
    ...options,
  });
  await connection.start();
  return Object.assign(connection, { [Symbol.dispose]: () => connection.close() });
}

const proxyUrl = (proxy: { readonly port: number }) => `redis://127.0.0.1:${proxy.port}`;

describe.skipIf(!requireValkey())("a Valkey connection that goes half-open", () => {
  test("an idle connection that stops answering is found by its PING, dropped and made again", async () => {
    await using valkey = await startValkey();
    using proxy = startFreezingProxy(valkey.port);
    const { log, lines } = capture();
    using connection = await openConnection(proxyUrl(proxy), log, { pingIntervalMs: 100 });
    expect(await connection.send("PING", [], 1000)).toBe("PONG");
    proxy.freezeOpenConnections();
    // Without the PING the frozen socket would look connected until the kernel gave up on it.
    await waitFor(
      () => lines.some((l) => l.msg === "valkey connection unresponsive; reconnecting"),
      "the drop",
    );
    await waitFor(() => connection.connected && proxy.accepted >= 2, "a new connection");
    expect(await connection.send("SET", ["k", "v"], 1000)).toBe("OK");
  });

  test("a command that times out on a silent connection drops it, so the next command goes through a new one", async () => {
    await using valkey = await startValkey();
    using proxy = startFreezingProxy(valkey.port);
    using connection = await openConnection(proxyUrl(proxy), capture().log);
    proxy.freezeOpenConnections();
    await expect(connection.send("PING", [], 200)).rejects.toBeInstanceOf(ValkeyUnavailableError);
    await waitFor(() => connection.connected && proxy.accepted >= 2, "a new connection");
    expect(await connection.send("PING", [], 1000)).toBe("PONG");
  });
});

/** How many read events Valkey has processed so far (every client's), from `INFO stats`. */
async function readsProcessed(connection: ValkeyConnection): Promise<number> {
  const stats = String(await connection.send("INFO", ["stats"], 1000));
  return Number(/total_reads_processed:(\d+)/.exec(stats)?.[1]);
}

describe.skipIf(!requireValkey())("commands sent in one turn of the event loop", () => {
  test("reach Valkey in one write, and each caller gets its own answer in order", async () => {
    await using valkey = await startValkey();
    using connection = await openConnection(valkey.url, capture().log);
    const before = await readsProcessed(connection);
    // Each command from its own task, as requests finishing in one turn send them.
    const answers = await new Promise<Promise<unknown>[]>((resolve) => {
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        setImmediate(() => {
          sent.push(connection.send("INCR", ["counter"], 1000));
          if (sent.length === 50) resolve(sent);
        });
      }
    });
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // One read for the 50 commands and one for INFO itself; sent one by one they take dozens.
    expect((await readsProcessed(connection)) - before).toBeLessThanOrEqual(3);
  });

  test("time out each by its own timeout, and a command sent while down fails at once", async () => {
    await using valkey = await startValkey();
    using proxy = startFreezingProxy(valkey.port);
    // No reconnect during the test: the last send must find the connection down.
    using connection = await openConnection(proxyUrl(proxy), capture().log, { maxBackoffMs: 60_000 });
    proxy.freezeOpenConnections();
    const started = performance.now();
    const short = connection.send("PING", [], 150);
    const long = connection.send("PING", [], 10_000);
    await expect(short).rejects.toThrow("Valkey did not answer PING within 150 ms");
    expect(performance.now() - started).toBeLessThan(5000);
    // The silent connection is dropped with the first timeout; what it still carried fails with it.
    await expect(long).rejects.toBeDefined();
    expect(connection.connected).toBe(false);
    await expect(connection.send("PING", [], 1000)).rejects.toBeInstanceOf(ValkeyUnavailableError);
  });
});

describe.skipIf(!requireValkey())("a connection's generation", () => {
  test("counts successful connects, and a tracked reply names the connection its command was written on", async () => {
    await using valkey = await startValkey();
    const { log, lines } = capture();
    using connection = await openConnection(`redis://${valkey.addr}`, log);
    expect(connection.generation).toBe(1);
    expect(await connection.sendTracked("PING", [], 1000)).toEqual({ reply: "PONG", generation: 1 });
    const admin = await valkey.client();
    await admin.send("CLIENT", ["KILL", "TYPE", "normal", "SKIPME", "yes"]);
    await waitFor(() => lines.some((l) => l.msg === "valkey reconnected"), "the reconnect");
    expect(connection.generation).toBe(2);
    expect(await connection.sendTracked("PING", [], 1000)).toEqual({ reply: "PONG", generation: 2 });
  });
});
