import { describe, expect, test } from "bun:test";
import { chooseRequestId } from "../../../src/web/request-id.ts";

describe("chooseRequestId", () => {
  const fresh = () => "fresh";
  test("it keeps 1 to 64 characters of [A-Za-z0-9._:-] and replaces anything else", () => {
    expect(chooseRequestId("A-z_0.9:x", fresh)).toBe("A-z_0.9:x");
    expect(chooseRequestId("x".repeat(64), fresh)).toBe("x".repeat(64));
    expect(chooseRequestId("x".repeat(65), fresh)).toBe("fresh");
    expect(chooseRequestId("", fresh)).toBe("fresh");
    expect(chooseRequestId(null, fresh)).toBe("fresh");
    expect(chooseRequestId("a\nb", fresh)).toBe("fresh");
    expect(chooseRequestId("a/b", fresh)).toBe("fresh");
  });
});
