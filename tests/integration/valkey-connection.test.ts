import { describe, expect, test } from "bun:test";
import { ValkeyConnection, ValkeyUnavailableError } from "../../src/adapters/valkey-connection.ts";
import { createLogger } from "../../src/log.ts";
import { startFreezingProxy } from "../support/freezing-proxy.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe.skipIf(!requireValkey())("a Valkey connection that goes half-open", () => {
  test("an idle connection that stops answering is found by its PING, dropped and made again", async () => {
    await using valkey = await startValkey();
    using proxy = startFreezingProxy(valkey.port);
    const { log, lines } = capture();
    const connection = new ValkeyConnection({
      url: `redis://127.0.0.1:${proxy.port}`,
      tls: false,
      log,
      name: "test",
      pingIntervalMs: 100,
      maxBackoffMs: 100,
    });
    try {
      await connection.start();
      expect(await connection.send("PING", [], 1000)).toBe("PONG");
      proxy.freezeOpenConnections();
      // Without the PING the frozen socket would look connected until the kernel gave up on it.
      await waitFor(
        () => lines.some((l) => l.msg === "valkey connection unresponsive; reconnecting"),
        "the drop",
      );
      await waitFor(() => connection.connected && proxy.accepted >= 2, "a new connection");
      expect(await connection.send("SET", ["k", "v"], 1000)).toBe("OK");
    } finally {
      connection.close();
    }
  });

  test("a command that times out on a silent connection drops it, so the next command goes through a new one", async () => {
    await using valkey = await startValkey();
    using proxy = startFreezingProxy(valkey.port);
    const { log } = capture();
    const connection = new ValkeyConnection({
      url: `redis://127.0.0.1:${proxy.port}`,
      tls: false,
      log,
      name: "test",
      pingIntervalMs: 0,
      maxBackoffMs: 100,
    });
    try {
      await connection.start();
      proxy.freezeOpenConnections();
      await expect(connection.send("PING", [], 200)).rejects.toBeInstanceOf(ValkeyUnavailableError);
      await waitFor(() => connection.connected && proxy.accepted >= 2, "a new connection");
      expect(await connection.send("PING", [], 1000)).toBe("PONG");
    } finally {
      connection.close();
    }
  });
});
