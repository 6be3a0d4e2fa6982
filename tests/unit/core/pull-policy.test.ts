import { describe, expect, test } from "bun:test";
import {
  effectivePullPolicy,
  imageTag,
  PullCollector,
  restartsWithoutPull,
} from "../../../src/core/pull-policy.ts";

describe("imageTag", () => {
  const cases: [string, string][] = [
    ["ghcr.io/acme/app:dev", "dev"],
    ["ghcr.io/acme/app", "latest"],
    ["nginx", "latest"],
    ["localhost:5000/app", "latest"],
    ["localhost:5000/app:1.2", "1.2"],
    ["ghcr.io/acme/app@sha256:abc", ""],
    ["ghcr.io/acme/app:latest@sha256:abc", "latest"],
    ["ghcr.io/acme/app:dev@sha256:abc", "dev"],
  ];
  for (const [image, tag] of cases)
    test(`reads the tag of ${image} as "${tag}", as Kubernetes does.`, () => {
      expect(imageTag(image)).toBe(tag);
    });
});

describe("effectivePullPolicy", () => {
  test("a policy that is set is the policy, whatever the tag", () => {
    expect(effectivePullPolicy("ghcr.io/acme/app:latest", "IfNotPresent")).toBe("IfNotPresent");
    expect(effectivePullPolicy("ghcr.io/acme/app:dev", "Never")).toBe("Never");
    expect(effectivePullPolicy("ghcr.io/acme/app:dev", "Always")).toBe("Always");
  });

  test("an empty policy on a latest tag, written or implied, is Always", () => {
    expect(effectivePullPolicy("ghcr.io/acme/app:latest", undefined)).toBe("Always");
    expect(effectivePullPolicy("ghcr.io/acme/app", "")).toBe("Always");
    expect(effectivePullPolicy("ghcr.io/acme/app:latest@sha256:abc", undefined)).toBe("Always");
  });

  test("an empty policy on any other tag, or on a digest alone, is IfNotPresent", () => {
    expect(effectivePullPolicy("ghcr.io/acme/app:dev", undefined)).toBe("IfNotPresent");
    expect(effectivePullPolicy("ghcr.io/acme/app:Latest", undefined)).toBe("IfNotPresent");
    expect(effectivePullPolicy("ghcr.io/acme/app@sha256:abc", undefined)).toBe("IfNotPresent");
  });

  test("a value Kubernetes does not know counts as IfNotPresent", () => {
    expect(effectivePullPolicy("ghcr.io/acme/app:latest", "always")).toBe("IfNotPresent");
  });
});

/** The partition of `containers` as {@link PullCollector} makes it. */
function partitionByPull(containers: [string, string | undefined][]) {
  const collector = new PullCollector();
  for (const [image, policy] of containers) collector.add(image, policy);
  return collector.partition();
}

describe("PullCollector", () => {
  test("puts the images some container does not always pull first, each group in container order", () => {
    expect(
      partitionByPull([
        ["a:1", "Always"],
        ["b:1", undefined],
        ["c:latest", undefined],
        ["d:1", "Never"],
      ]),
    ).toEqual({ images: ["b:1", "d:1", "a:1", "c:latest"], notPulled: 2 });
  });

  test("an image counts as not pulled when any one of the containers running it does not pull always", () => {
    expect(
      partitionByPull([
        ["a:1", "Always"],
        ["a:1", "IfNotPresent"],
      ]),
    ).toEqual({ images: ["a:1"], notPulled: 1 });
  });

  test("lists each image once and yields nothing for no containers", () => {
    expect(partitionByPull([])).toEqual({ images: [], notPulled: 0 });
    expect(
      partitionByPull([
        ["a:1", "Always"],
        ["a:1", "Always"],
      ]),
    ).toEqual({ images: ["a:1"], notPulled: 0 });
  });

  test("keeps the containers' order when every image is pulled, or none is", () => {
    expect(
      partitionByPull([
        ["b:1", "Always"],
        ["a:1", "Always"],
      ]),
    ).toEqual({ images: ["b:1", "a:1"], notPulled: 0 });
    expect(
      partitionByPull([
        ["b:1", "Never"],
        ["a:1", undefined],
      ]),
    ).toEqual({ images: ["b:1", "a:1"], notPulled: 2 });
  });
});

describe("restartsWithoutPull", () => {
  const workload = { images: ["app:dev", "sidecar:1", "app:main"], notPulled: 2 };

  test("is true when a matched image is among those not pulled", () => {
    expect(restartsWithoutPull(workload, ["app:dev"])).toBe(true);
  });

  test("is false when every matched image is pulled always, even if another image is not", () => {
    expect(restartsWithoutPull(workload, ["app:main"])).toBe(false);
    expect(restartsWithoutPull(workload, ["other:dev"])).toBe(false);
  });
});
