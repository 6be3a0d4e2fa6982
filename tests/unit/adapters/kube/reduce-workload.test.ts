import { expect, test } from "bun:test";
import { reduceWorkload } from "../../../../src/adapters/kube/reduce-workload.ts";
import { makeDeployment } from "../../../support/kube-api-server.ts";

test("containers and init containers are both kept, each image once, in order", () => {
  const object = makeDeployment({
    namespace: "shop",
    name: "api",
    images: ["ghcr.io/acme/api:v1", "ghcr.io/acme/sidecar:v2", "ghcr.io/acme/api:v1"],
    initImages: ["ghcr.io/acme/migrate:v1"],
  });
  const reduced = reduceWorkload({
    ...object,
    metadata: { ...(object as { metadata: object }).metadata, resourceVersion: "12" },
  });
  expect(reduced).toEqual({
    namespace: "shop",
    name: "api",
    resourceVersion: "12",
    images: ["ghcr.io/acme/api:v1", "ghcr.io/acme/sidecar:v2", "ghcr.io/acme/migrate:v1"],
    notPulled: 3,
    skip: false,
  });
});

test('the skip annotation is read only when exactly "true"', () => {
  const make = (value: string) =>
    reduceWorkload(
      makeDeployment({
        namespace: "a",
        name: "b",
        images: ["x/y:1"],
        annotations: { "kuberollouttrigger/skip": value },
      }),
    );
  expect(make("true")?.skip).toBe(true);
  expect(make("True")?.skip).toBe(false);
  expect(make("false")?.skip).toBe(false);
});

test("a skip annotation on the pod template does not count", () => {
  const reduced = reduceWorkload(
    makeDeployment({
      namespace: "a",
      name: "b",
      images: ["x/y:1"],
      templateAnnotations: { "kuberollouttrigger/skip": "true" },
    }),
  );
  expect(reduced?.skip).toBe(false);
});

test("an object without namespace or name is dropped, and one without a template has no images", () => {
  expect(reduceWorkload({ metadata: { name: "x" } })).toBeUndefined();
  expect(reduceWorkload(null)).toBeUndefined();
  expect(reduceWorkload({ metadata: { namespace: "a", name: "b" } })?.images).toEqual([]);
});

test("images that some container does not always pull come first, counted in notPulled", () => {
  const reduced = reduceWorkload(
    makeDeployment({
      namespace: "a",
      name: "b",
      images: ["x/always:dev", "x/if-not-present:dev", "x/never:dev", "x/implied:latest", "x/implied:dev"],
      pullPolicies: ["Always", "IfNotPresent", "Never", undefined, undefined],
      initImages: ["x/init:dev", "x/always:dev"],
      initPullPolicies: [undefined, "IfNotPresent"],
    }),
  );
  // x/always:dev runs in an init container that does not pull always, so it does not count as pulled.
  expect(reduced?.images).toEqual([
    "x/always:dev",
    "x/if-not-present:dev",
    "x/never:dev",
    "x/implied:dev",
    "x/init:dev",
    "x/implied:latest",
  ]);
  expect(reduced?.notPulled).toBe(5);
});

test("a workload whose every container pulls always has nothing not pulled", () => {
  const reduced = reduceWorkload(
    makeDeployment({
      namespace: "a",
      name: "b",
      images: ["x/a:dev", "x/b"],
      pullPolicies: ["Always", undefined],
    }),
  );
  expect(reduced?.notPulled).toBe(0);
});

test("keeps the allowed-repositories annotation's globs, and nothing for a workload without it", () => {
  const object = makeDeployment({ namespace: "shop", name: "api", images: ["ghcr.io/acme/api:v1"] }) as {
    metadata: Record<string, unknown>;
  };
  const annotated = {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { "kuberollouttrigger.io/allowed-repositories": "acme/api, acme/tools-* ," },
    },
  };
  expect(reduceWorkload(annotated)?.allowedRepositories).toEqual(["acme/api", "acme/tools-*"]);
  expect(reduceWorkload(object)).not.toHaveProperty("allowedRepositories");
});
