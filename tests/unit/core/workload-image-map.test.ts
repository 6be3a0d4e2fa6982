import { describe, expect, test } from "bun:test";
import { WorkloadImageMap } from "../../../src/core/workload-image-map.ts";

describe("WorkloadImageMap", () => {
  test("a workload is found by any of its images, once, even when several images match", () => {
    const map = new WorkloadImageMap();
    map.upsert("s", {
      resource: "deployments",
      namespace: "a",
      name: "api",
      images: ["img:1", "side:1"],
      notPulled: 0,
      skip: false,
    });
    expect(map.find(["img:1", "side:1", "img:1"]).map((w) => w.name)).toEqual(["api"]);
    expect(map.find(["other:1"])).toEqual([]);
  });

  test("results are ordered by kind, then namespace, then name", () => {
    const map = new WorkloadImageMap();
    const add = (resource: "deployments" | "statefulsets" | "daemonsets", namespace: string, name: string) =>
      map.upsert(`${resource}/*`, { resource, namespace, name, images: ["i:1"], notPulled: 0, skip: false });
    add("daemonsets", "a", "z");
    add("statefulsets", "b", "y");
    add("deployments", "b", "x");
    add("deployments", "a", "w");
    expect(map.find(["i:1"]).map((w) => `${w.resource}/${w.namespace}/${w.name}`)).toEqual([
      "deployments/a/w",
      "deployments/b/x",
      "statefulsets/b/y",
      "daemonsets/a/z",
    ]);
  });

  test("replacing a workload drops its old images", () => {
    const map = new WorkloadImageMap();
    map.upsert("s", {
      resource: "deployments",
      namespace: "a",
      name: "api",
      images: ["img:1"],
      notPulled: 0,
      skip: false,
    });
    map.upsert("s", {
      resource: "deployments",
      namespace: "a",
      name: "api",
      images: ["img:2"],
      notPulled: 0,
      skip: false,
    });
    expect(map.find(["img:1"])).toEqual([]);
    expect(map.find(["img:2"])).toHaveLength(1);
    expect(map.size).toBe(1);
    expect(map.sizeOf("deployments")).toBe(1);
  });

  test("retainOnly removes only the stream's workloads that were not seen", () => {
    const map = new WorkloadImageMap();
    const kept = map.upsert("d/a", {
      resource: "deployments",
      namespace: "a",
      name: "kept",
      images: ["i:1"],
      notPulled: 0,
      skip: false,
    });
    map.upsert("d/a", {
      resource: "deployments",
      namespace: "a",
      name: "gone",
      images: ["i:1"],
      notPulled: 0,
      skip: false,
    });
    map.upsert("d/b", {
      resource: "deployments",
      namespace: "b",
      name: "other",
      images: ["i:1"],
      notPulled: 0,
      skip: false,
    });
    expect(map.retainOnly("d/a", new Set([kept]))).toBe(1);
    expect(map.find(["i:1"]).map((w) => w.name)).toEqual(["kept", "other"]);
    expect(map.sizeOf("deployments")).toBe(2);
  });
});
