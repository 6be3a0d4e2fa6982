import { describe, expect, test } from "bun:test";
import { commandUsage, requirement } from "../../../src/cli/help.ts";
import { type Mode, SETTINGS, type Setting, settingsFor } from "../../../src/config/settings.ts";

/** The usage text of a mode, as `kuberollouttrigger <mode> --help` prints it. */
const usageOf = (mode: Mode) =>
  commandUsage(mode, settingsFor(mode), (s) => s.requiredIn?.includes(mode) === true);

const setting = (env: string): Setting => {
  const found = SETTINGS.find((s) => s.env === env);
  if (!found) throw new Error(`no setting ${env}`);
  return found;
};

describe("commandUsage", () => {
  test.each(["web", "worker"] as const)(
    "%s asks for VALKEY_ADDR or VALKEY_SENTINEL_ADDRS, not VALKEY_ADDR alone",
    (mode) => {
      expect(usageOf(mode)).toContain(
        "--valkey-addr (VALKEY_ADDR; required: VALKEY_ADDR or VALKEY_SENTINEL_ADDRS)",
      );
    },
  );

  test("says VALKEY_ADDR is optional, for an in-process queue, in standalone alone", () => {
    expect(usageOf("standalone")).toContain("--valkey-addr (VALKEY_ADDR; optional)");
    expect(usageOf("standalone")).toContain(
      "Without it (and without sentinels) standalone uses an in-process queue.",
    );
    expect(usageOf("web")).not.toContain("in-process queue");
    expect(usageOf("worker")).not.toContain("in-process queue");
  });

  test("quotes a word default so it reads as a value, and leaves numbers and durations bare", () => {
    expect(usageOf("worker")).toContain('--cluster-name (CLUSTER_NAME; default "default")');
    expect(usageOf("worker")).toContain("--valkey-group-stale-after (VALKEY_GROUP_STALE_AFTER; default 24h)");
    expect(usageOf("web")).toContain("--valkey-min-replicas-ack (VALKEY_MIN_REPLICAS_ACK; default 0)");
  });
});

describe("requirement", () => {
  test("names the setting that may replace a required one, and says optional for the rest", () => {
    expect(requirement(setting("VALKEY_ADDR"), true)).toBe("required: VALKEY_ADDR or VALKEY_SENTINEL_ADDRS");
    expect(requirement(setting("GITHUB_OIDC_AUDIENCE"), true)).toBe("required");
    expect(requirement(setting("VALKEY_SENTINEL_MASTER"), false)).toBe("optional");
  });
});
