import { describe, expect, test } from "bun:test";
import { createSentinelResolver, readMasterAddr } from "../../../../src/adapters/valkey/sentinel.ts";

describe("the sentinels' answer", () => {
  test("names the primary as host and port, and an unknown master name as nothing", () => {
    expect(readMasterAddr(["10.0.0.5", "6379"])).toEqual({ host: "10.0.0.5", port: 6379 });
    expect(readMasterAddr(null)).toBeUndefined();
    expect(readMasterAddr(["10.0.0.5"])).toBeUndefined();
    expect(readMasterAddr(["10.0.0.5", "0"])).toBeUndefined();
    expect(readMasterAddr(["", "6379"])).toBeUndefined();
  });

  test("a resolver needs at least one sentinel", () => {
    expect(() =>
      createSentinelResolver({
        sentinels: [],
        master: "primary",
        sentinelUsername: undefined,
        sentinelPassword: undefined,
        username: undefined,
        password: undefined,
        tls: false,
      }),
    ).toThrow("no sentinel addresses");
  });
});
