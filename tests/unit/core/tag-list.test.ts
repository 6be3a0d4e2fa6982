import { describe, expect, test } from "bun:test";
import { expandVersions, parseTagList } from "../../../src/core/tag-list.ts";

describe("parseTagList", () => {
  test("splits on commas, trims each entry and drops the empty ones", () => {
    expect(parseTagList(" dev , ,latest,, v1.2.3 ")).toEqual(["dev", "latest", "v1.2.3"]);
  });

  test("gives no tags for a blank list, which the caller refuses", () => {
    expect(parseTagList(" , ")).toEqual([]);
  });
});

describe("expandVersions", () => {
  test("turns vMAJOR.MINOR.PATCH into vMAJOR, vMAJOR.MINOR and itself, in that order", () => {
    expect(expandVersions(["v1.2.3"])).toEqual(["v1", "v1.2", "v1.2.3"]);
  });

  test("passes other tags unchanged, a version without v and a pre-release included", () => {
    expect(expandVersions(["latest", "1.2.3", "v1.2.3-rc.1", "v1.2"])).toEqual([
      "latest",
      "1.2.3",
      "v1.2.3-rc.1",
      "v1.2",
    ]);
  });

  test("removes duplicates, keeping the first occurrence", () => {
    expect(expandVersions(["v1.2.3", "v1.2.4", "v1", "dev", "dev"])).toEqual([
      "v1",
      "v1.2",
      "v1.2.3",
      "v1.2.4",
      "dev",
    ]);
  });
});
