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

  test("dropUnlisted removes only the stream's workloads its current list did not add", () => {
    const map = new WorkloadImageMap();
    const add = (stream: string, namespace: string, name: string) =>
      map.upsert(stream, {
        resource: "deployments",
        namespace,
        name,
        images: ["i:1"],
        notPulled: 0,
        skip: false,
      });
    add("d/a", "a", "kept");
    add("d/a", "a", "gone");
    add("d/b", "b", "other");
    map.beginList("d/a");
    add("d/a", "a", "kept");
    expect(map.dropUnlisted("d/a")).toBe(1);
    expect(map.find(["i:1"]).map((w) => w.name)).toEqual(["kept", "other"]);
    expect(map.sizeOf("deployments")).toBe(2);
    expect(map.dropUnlisted("d/b", true)).toBe(1);
    expect(map.find(["i:1"]).map((w) => w.name)).toEqual(["kept"]);
  });

  test("an image shared by several workloads keeps finding the rest as they go and come back", () => {
    const map = new WorkloadImageMap();
    const ref = (name: string) => ({ resource: "deployments" as const, namespace: "a", name });
    const add = (name: string, images: string[]) =>
      map.upsert("s", { ...ref(name), images, notPulled: 0, skip: false });
    add("one", ["side:1", "one:1"]);
    add("two", ["side:1"]);
    add("three", ["side:1"]);
    map.remove(ref("two"));
    expect(map.find(["side:1"]).map((w) => w.name)).toEqual(["one", "three"]);
    map.remove(ref("one"));
    expect(map.find(["side:1"]).map((w) => w.name)).toEqual(["three"]);
    expect(map.find(["one:1"])).toEqual([]);
    add("two", ["side:1"]);
    add("four", ["four:1"]);
    expect(map.find(["side:1", "four:1"]).map((w) => w.name)).toEqual(["four", "three", "two"]);
    expect(map.size).toBe(3);
  });

  test("a workload keeps the latest restartedAt seen on it, until it is removed", () => {
    const map = new WorkloadImageMap();
    const ref = { resource: "rollouts" as const, namespace: "a", name: "api" };
    const workload = { ...ref, images: ["i:1"], notPulled: 0, skip: false };
    map.upsert("s", workload);
    expect(map.restartedAtOf(ref)).toBeUndefined();
    map.upsert("s", workload, 2000);
    map.noteRestartedAt(ref, 1000);
    map.upsert("s", workload, 1500);
    expect(map.restartedAtOf(ref)).toBe(2000);
    map.noteRestartedAt(ref, 3000);
    expect(map.restartedAtOf(ref)).toBe(3000);
    map.remove(ref);
    map.upsert("s", workload);
    expect(map.restartedAtOf(ref)).toBeUndefined();
  });
});
