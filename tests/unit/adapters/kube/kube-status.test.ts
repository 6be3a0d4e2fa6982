import { describe, expect, test } from "bun:test";
import {
  parseKubeStatus,
  parseRetryAfter,
  statusFromWatchError,
} from "../../../../src/adapters/kube/kube-status.ts";

describe("parseKubeStatus", () => {
  test("it reads code, reason, message and retryAfterSeconds of a Status body", () => {
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      code: 429,
      reason: "TooManyRequests",
      message: "slow down",
      details: { retryAfterSeconds: 3 },
    });
    expect(parseKubeStatus(429, body, null)).toEqual({
      code: 429,
      reason: "TooManyRequests",
      message: "slow down",
      retryAfterSeconds: 3,
    });
  });

  test("the Retry-After header wins over the Status details", () => {
    const body = JSON.stringify({ kind: "Status", code: 429, details: { retryAfterSeconds: 3 } });
    expect(parseKubeStatus(429, body, "7").retryAfterSeconds).toBe(7);
  });

  test("a body that is not a Status yields the HTTP status and the start of the body", () => {
    expect(parseKubeStatus(502, "<html>bad gateway</html>", null)).toEqual({
      code: 502,
      reason: "Unknown",
      message: "<html>bad gateway</html>",
      retryAfterSeconds: undefined,
    });
    expect(parseKubeStatus(503, "", null).message).toBe("HTTP 503");
  });

  test("a Retry-After that is not a number of seconds is ignored", () => {
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT")).toBeUndefined();
    expect(parseRetryAfter(" 2 ")).toBe(2);
  });

  test("a watch ERROR object becomes a status", () => {
    expect(
      statusFromWatchError({ kind: "Status", code: 410, reason: "Expired", message: "too old" }),
    ).toEqual({
      code: 410,
      reason: "Expired",
      message: "too old",
      retryAfterSeconds: undefined,
    });
  });
});
