import { describe, expect, test } from "bun:test";
import {
  consumerGroupFor,
  expectedGroups,
  isClusterName,
  namesDifferingOnlyInCase,
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
