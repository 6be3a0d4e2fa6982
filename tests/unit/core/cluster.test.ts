import { describe, expect, test } from "bun:test";
import {
  compareEntryIds,
  consumerGroupFor,
  expectedGroups,
  isClusterName,
  namesDifferingOnlyInCase,
  previousEntryId,
  recreateGroupFrom,
} from "../../../src/core/cluster.ts";

describe("consumerGroupFor", () => {
  test("keeps VALKEY_CONSUMER_GROUP itself for the cluster default, so an upgraded single cluster keeps its group", () => {
    expect(consumerGroupFor("kuberollouttrigger", "default")).toBe("kuberollouttrigger");
    expect(consumerGroupFor("team-x", "default")).toBe("team-x");
  });

  test("gives every other cluster a group of its own, <group>:<cluster>", () => {
    expect(consumerGroupFor("kuberollouttrigger", "prod")).toBe("kuberollouttrigger:prod");
    expect(consumerGroupFor("kuberollouttrigger", "Default")).toBe("kuberollouttrigger:Default");
  });

  test("never names two clusters' groups alike, since a cluster name holds no ':'", () => {
    expect(isClusterName("a:b")).toBe(false);
    const names = ["a", "b", "a.b", "a_b", "a-b", "default"];
    const groups = new Set(names.map((name) => consumerGroupFor("g", name)));
    expect(groups.size).toBe(names.length);
  });
});

describe("expectedGroups", () => {
  test("is the base group alone when no cluster is expected, as before there were many", () => {
    expect(expectedGroups("g", [])).toEqual(["g"]);
  });

  test("is one group per expected cluster, each once", () => {
    expect(expectedGroups("g", ["a", "default", "b", "a"])).toEqual(["g:a", "g", "g:b"]);
  });
});

describe("isClusterName", () => {
  test("admits 1 to 63 letters, digits, '.', '_' and '-' starting with a letter or digit", () => {
    expect(["a", "prod-eu.1", "A_b", "x".repeat(63)].every(isClusterName)).toBe(true);
    expect(["", "-a", ".a", "a b", "a,b", "x".repeat(64)].some(isClusterName)).toBe(false);
  });
});

describe("entry IDs", () => {
  test("are ordered by time, then sequence, as 64-bit numbers beyond a double's precision", () => {
    expect(compareEntryIds("2-0", "10-0")).toBe(-1);
    expect(compareEntryIds("5-10", "5-9")).toBe(1);
    expect(compareEntryIds("18446744073709551615-1", "18446744073709551615-1")).toBe(0);
    expect(compareEntryIds("9007199254740993-0", "9007199254740992-0")).toBe(1);
  });

  test("the ID just below one steps back a sequence, or to the previous millisecond's last", () => {
    expect(previousEntryId("5-3")).toBe("5-2");
    expect(previousEntryId("5-0")).toBe("4-18446744073709551615");
    expect(previousEntryId("0-0")).toBe("0-0");
  });
});

describe("recreateGroupFrom", () => {
  test("is 0 for a worker that handled nothing yet, which cannot tell how far the lost group had read", () => {
    expect(recreateGroupFrom(undefined, [])).toBe("0");
  });

  test("starts after the last entry acknowledged, so nothing after it is lost and nothing before replayed", () => {
    expect(recreateGroupFrom("7-1", [])).toBe("7-1");
  });

  test("starts just below the oldest entry still pending, whose pending list went with the group", () => {
    expect(recreateGroupFrom("9-0", ["8-2", "5-1"])).toBe("5-0");
    expect(recreateGroupFrom(undefined, ["5-0"])).toBe("4-18446744073709551615");
    expect(recreateGroupFrom("3-0", ["5-1"])).toBe("3-0");
  });
});

describe("namesDifferingOnlyInCase", () => {
  test("groups the names that are the same but for case, each once", () => {
    expect(namesDifferingOnlyInCase(["dev", "prod", "Dev", "DEV", "dev"])).toEqual([["dev", "Dev", "DEV"]]);
  });

  test("finds nothing among names that differ otherwise", () => {
    expect(namesDifferingOnlyInCase(["dev", "dev-1", "prod"])).toEqual([]);
  });
});
