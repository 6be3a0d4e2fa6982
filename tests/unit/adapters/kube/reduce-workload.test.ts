import { describe, expect, test } from "bun:test";
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
    rollout: {
      generation: 0,
      observedGeneration: 0,
      desired: 1,
      current: 0,
      updated: 0,
      ready: 0,
      available: 0,
    },
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

test("the restartedAt of the pod template or a Rollout's spec.restartAt is read in ms, the later of the two", () => {
  const at = (value: string) => ({ "kubectl.kubernetes.io/restartedAt": value });
  const deployment = makeDeployment({
    namespace: "a",
    name: "d",
    images: ["i:1"],
    templateAnnotations: at("2026-11-28T10:00:00.250Z"),
  });
  expect(reduceWorkload(deployment)?.restartedAtMs).toBe(Date.parse("2026-11-28T10:00:00.250Z"));
  const rollout = makeDeployment({ kind: "Rollout", namespace: "a", name: "r", images: ["i:1"] });
  const spec = (rollout as { spec: Record<string, unknown> }).spec;
  expect(
    reduceWorkload({ ...rollout, spec: { ...spec, restartAt: "2026-11-28T11:00:00Z" } })?.restartedAtMs,
  ).toBe(Date.parse("2026-11-28T11:00:00Z"));
  const both = makeDeployment({
    kind: "Rollout",
    namespace: "a",
    name: "r",
    images: ["i:1"],
    templateAnnotations: at("2026-11-28T12:00:00Z"),
  });
  const bothSpec = (both as { spec: Record<string, unknown> }).spec;
  expect(
    reduceWorkload({ ...both, spec: { ...bothSpec, restartAt: "2026-11-28T11:00:00Z" } })?.restartedAtMs,
  ).toBe(Date.parse("2026-11-28T12:00:00Z"));
  const unreadable = makeDeployment({
    namespace: "a",
    name: "x",
    images: ["i:1"],
    templateAnnotations: at("soon"),
  });
  expect(reduceWorkload(unreadable)).not.toHaveProperty("restartedAtMs");
  expect(reduceWorkload(makeDeployment({ namespace: "a", name: "n", images: ["i:1"] }))).not.toHaveProperty(
    "restartedAtMs",
  );
});

test("a Deployment's rollout summary carries its generations, replica counts and Progressing reason", () => {
  const reduced = reduceWorkload({
    metadata: { namespace: "a", name: "b", generation: 4 },
    spec: { replicas: 3 },
    status: {
      observedGeneration: 3,
      replicas: 4,
      updatedReplicas: 1,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
        { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" },
      ],
    },
  });
  expect(reduced?.rollout).toEqual({
    generation: 4,
    observedGeneration: 3,
    desired: 3,
    current: 4,
    updated: 1,
    ready: 3,
    available: 3,
    progressingReason: "ProgressDeadlineExceeded",
  });
});

test("a StatefulSet's rollout summary carries its revisions, partition and an OnDelete strategy", () => {
  const reduced = reduceWorkload({
    metadata: { namespace: "a", name: "db", generation: 2 },
    spec: { replicas: 2, updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } },
    status: {
      observedGeneration: 2,
      replicas: 2,
      updatedReplicas: 1,
      readyReplicas: 2,
      currentRevision: "db-1",
      updateRevision: "db-2",
    },
  });
  expect(reduced?.rollout).toMatchObject({
    desired: 2,
    updated: 1,
    ready: 2,
    currentRevision: "db-1",
    updateRevision: "db-2",
    partition: 1,
  });
  const onDelete = reduceWorkload({
    metadata: { namespace: "a", name: "db" },
    spec: { replicas: 1, updateStrategy: { type: "OnDelete" } },
  });
  expect(onDelete?.rollout?.onDelete).toBe(true);
});

test("a DaemonSet's rollout summary reads the scheduled-node counts as its replicas", () => {
  const reduced = reduceWorkload({
    metadata: { namespace: "kube-system", name: "agent", generation: 5 },
    spec: { updateStrategy: { type: "RollingUpdate" } },
    status: {
      observedGeneration: 5,
      desiredNumberScheduled: 3,
      currentNumberScheduled: 3,
      updatedNumberScheduled: 2,
      numberReady: 3,
      numberAvailable: 2,
    },
  });
  expect(reduced?.rollout).toEqual({
    generation: 5,
    observedGeneration: 5,
    desired: 3,
    current: 3,
    updated: 2,
    ready: 3,
    available: 2,
  });
});

describe("an Argo Rollout", () => {
  const rollout = (spec: object, status: object) => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { namespace: "shop", name: "api", generation: 4, resourceVersion: "9" },
    spec: {
      replicas: 2,
      template: { spec: { containers: [{ name: "api", image: "ghcr.io/acme/api:dev" }] } },
      ...spec,
    },
    status,
  });

  test("is indexed by its pod template's images, as a Deployment", () => {
    expect(reduceWorkload(rollout({}, {}))?.images).toEqual(["ghcr.io/acme/api:dev"]);
  });

  test("reads its string observedGeneration, phase and message", () => {
    const reduced = reduceWorkload(
      rollout({}, { observedGeneration: "4", phase: "Degraded", message: "bad" }),
    );
    expect(reduced?.rollout).toMatchObject({
      generation: 4,
      observedGeneration: 4,
      phase: "Degraded",
      message: "bad",
    });
  });

  test("has its restart pending until status.restartedAt reaches spec.restartAt, to the second", () => {
    const spec = { restartAt: "2025-01-01T00:00:10.250Z" };
    const pending = reduceWorkload(rollout(spec, { phase: "Healthy", restartedAt: "2025-01-01T00:00:09Z" }));
    expect(pending?.rollout?.restartPending).toBe(true);
    expect(reduceWorkload(rollout(spec, { phase: "Healthy" }))?.rollout?.restartPending).toBe(true);
    const done = reduceWorkload(rollout(spec, { phase: "Healthy", restartedAt: "2025-01-01T00:00:10Z" }));
    expect(done?.rollout?.restartPending).toBeUndefined();
  });
});
