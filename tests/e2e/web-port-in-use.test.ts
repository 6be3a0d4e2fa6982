import { describe, expect, test } from "bun:test";
import { baseUrlOf, requireBinary, runBinary, spawnBinary } from "../support/spawn-binary.ts";
import { webEnv } from "../support/web-fixtures.ts";

describe.skipIf(!requireBinary())("a web whose port is taken", () => {
  test("a second web on a port another one holds fails to start with exit 1 instead of sharing the port", async () => {
    await using first = spawnBinary(["web"], webEnv({ DEV_MODE: "true" }));
    const listening = await first.waitForLog((line) => line.msg === "web listening", 10_000);
    const port = new URL(baseUrlOf(listening)).port;
    const second = await runBinary(
      ["web"],
      webEnv({ DEV_MODE: "true", WEB_LISTEN_ADDR: `127.0.0.1:${port}` }),
    );
    expect(second.exitCode).toBe(1);
    expect(second.stdout).toContain("EADDRINUSE");
  });
});
