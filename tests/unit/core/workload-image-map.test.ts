import { describe, expect, test } from "bun:test";
import fc from "fast-check";
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

describe("WorkloadImageMap against a plain model", () => {
  type Op =
    | { op: "upsert"; stream: number; ns: number; name: number; images: number[] }
    | { op: "remove"; ns: number; name: number }
    | { op: "list"; stream: number }
    | { op: "drop"; stream: number; all: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("upsert" as const),
      stream: fc.nat(1),
      ns: fc.nat(2),
      name: fc.nat(4),
      images: fc.uniqueArray(fc.nat(3), { maxLength: 3 }),
    }),
    fc.record({ op: fc.constant("remove" as const), ns: fc.nat(2), name: fc.nat(4) }),
    fc.record({ op: fc.constant("list" as const), stream: fc.nat(1) }),
    fc.record({ op: fc.constant("drop" as const), stream: fc.nat(1), all: fc.boolean() }),
  );

  test("finds, counts and drops what a map of keys to workloads would, after any sequence of changes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const map = new WorkloadImageMap();
        // The model: key → workload, its stream and whether the stream's current list saw it.
        const model = new Map<string, { images: string[]; stream: number; listed: boolean }>();
        for (const o of ops) {
          const key = `n${"ns" in o ? o.ns : 0}/w${"name" in o ? o.name : 0}`;
          const ref = {
            resource: "deployments" as const,
            namespace: `n${"ns" in o ? o.ns : 0}`,
            name: `w${"name" in o ? o.name : 0}`,
          };
          if (o.op === "upsert") {
            const images = o.images.map((i) => `img${i}:1`);
            map.upsert(`s${o.stream}`, { ...ref, images, notPulled: 0, skip: false });
            model.set(key, { images, stream: o.stream, listed: true });
          } else if (o.op === "remove") {
            map.remove(ref);
            model.delete(key);
          } else if (o.op === "list") {
            map.beginList(`s${o.stream}`);
            for (const entry of model.values()) if (entry.stream === o.stream) entry.listed = false;
          } else {
            const doomed = [...model].filter(([, e]) => e.stream === o.stream && (o.all || !e.listed));
            expect(map.dropUnlisted(`s${o.stream}`, o.all)).toBe(doomed.length);
            for (const [k] of doomed) model.delete(k);
          }
          expect(map.size).toBe(model.size);
        }
        for (let i = 0; i < 4; i++) {
          const expected = [...model]
            .filter(([, e]) => e.images.includes(`img${i}:1`))
            .map(([k]) => k)
            .sort();
          expect(map.find([`img${i}:1`]).map((w) => `${w.namespace}/${w.name}`)).toEqual(expected);
        }
      }),
    );
  });
});
