import { describe, expect, test } from "bun:test";
import {
  consumerGroupFor,
  expectedGroups,
  isClusterName,
  isEntryId,
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

describe("namesDifferingOnlyInCase", () => {
  test("groups the names that are the same but for case, each once", () => {
    expect(namesDifferingOnlyInCase(["dev", "prod", "Dev", "DEV", "dev"])).toEqual([["dev", "Dev", "DEV"]]);
  });

  test("finds nothing among names that differ otherwise", () => {
    expect(namesDifferingOnlyInCase(["dev", "dev-1", "prod"])).toEqual([]);
  });
});

describe("previousEntryId", () => {
  test("steps the sequence down, or to the previous millisecond's last sequence, in 64-bit", () => {
    expect(previousEntryId("5-3")).toBe("5-2");
    expect(previousEntryId("5-0")).toBe("4-18446744073709551615");
    expect(previousEntryId("18446744073709551615-0")).toBe("18446744073709551614-18446744073709551615");
    expect(previousEntryId("1732800000000-18446744073709551615")).toBe("1732800000000-18446744073709551614");
    expect(previousEntryId("0-1")).toBe("0-0");
    expect(previousEntryId("0-0")).toBe("0-0");
  });
});

describe("isEntryId", () => {
  test("takes full <ms>-<seq> IDs whose parts fit 64 bits, nothing else", () => {
    expect(isEntryId("1732800000000-0")).toBe(true);
    expect(isEntryId("18446744073709551615-18446744073709551615")).toBe(true);
    expect(isEntryId("18446744073709551616-0")).toBe(false);
    for (const bad of ["", "0", "5", "5-", "-5", "5-x", "$", ">", "5-1-2", " 5-1"])
      expect(isEntryId(bad)).toBe(false);
  });
});

describe("recreateGroupFrom", () => {
  test("starts just below the low-water mark, so the mark's entry itself is delivered again", () => {
    expect(recreateGroupFrom("1732800000000-7")).toBe("1732800000000-6");
    expect(recreateGroupFrom("1732800000000-0")).toBe("1732799999999-18446744073709551615");
  });

  test("reads the mark of a group a trim found gone, which carries when it was found so", () => {
    expect(recreateGroupFrom("1732800000000-7@1732800005000")).toBe("1732800000000-6");
    expect(recreateGroupFrom("garbage@1732800005000")).toBe("0");
  });

  test("is 0 without a mark (never trimmed, or its record gone) or with one that is no entry ID", () => {
    expect(recreateGroupFrom(undefined)).toBe("0");
    expect(recreateGroupFrom("")).toBe("0");
    expect(recreateGroupFrom("garbage")).toBe("0");
  });
});
