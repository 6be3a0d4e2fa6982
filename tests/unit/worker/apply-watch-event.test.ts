import { describe, expect, test } from "bun:test";
import { WorkloadImageMap, workloadKey } from "../../../src/core/workload-image-map.ts";
import { applyWatchEvent } from "../../../src/worker/apply-watch-event.ts";
import type { ListedWorkload } from "../../../src/worker/ports.ts";

const listed = (namespace: string, name: string, images: string[], skip = false): ListedWorkload => ({
  namespace,
  name,
  resourceVersion: "1",
  images,
  notPulled: 0,
  skip,
});

describe("applyWatchEvent", () => {
  test("ADDED and MODIFIED upsert, DELETED removes, BOOKMARK only moves the resourceVersion", () => {
    const map = new WorkloadImageMap();
    expect(
      applyWatchEvent(map, "s", "statefulsets", { type: "ADDED", workload: listed("a", "db", ["pg:1"]) }),
    ).toBe("1");
    applyWatchEvent(map, "s", "statefulsets", {
      type: "MODIFIED",
      workload: listed("a", "db", ["pg:2"], true),
    });
    expect(map.find(["pg:2"])).toEqual([
      { resource: "statefulsets", namespace: "a", name: "db", images: ["pg:2"], notPulled: 0, skip: true },
    ]);
    expect(applyWatchEvent(map, "s", "statefulsets", { type: "BOOKMARK", resourceVersion: "99" })).toBe("99");
    applyWatchEvent(map, "s", "statefulsets", { type: "DELETED", workload: listed("a", "db", ["pg:2"]) });
    expect(map.size).toBe(0);
    expect(workloadKey("statefulsets", "a", "db")).toBe("statefulsets/a/db");
  });
});
