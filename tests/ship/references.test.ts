import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { misplacedObjects, unresolvedReferences } from "./references.ts";
import type { K8sObject } from "./rendered.ts";

// The composition tests pass only as long as these checks can fail: each broken reference of the
// fixture must be reported, or a component that removes what another one points at would go unnoticed.

const objects = async () =>
  Bun.YAML.parse(await Bun.file(join(import.meta.dir, "fixtures/broken-render.yaml")).text()) as K8sObject[];

describe("the render checks on a render with broken references", () => {
  test("report each object outside the install namespace", async () => {
    expect(misplacedObjects(await objects())).toEqual([
      "ConfigMap/without-namespace is not in the install namespace install",
    ]);
  });

  test("report each route, selector and binding that points at nothing in the render", async () => {
    expect(unresolvedReferences(await objects())).toEqual([
      "Service/install/orphan selects no pods of the render",
      "Ingress/install/to-a-removed-service: Service install/removed is not in the render",
      "HTTPRoute/install/to-a-wrong-port: Service install/web has no port 9090",
      "RoleBinding/install/to-a-missing-role: roleRef Role/missing is not in the render",
      "RoleBinding/install/to-a-missing-role: ServiceAccount install/nobody is not in the render",
      "PodDisruptionBudget/install/of-nothing selects no pods of the render",
      "PodMonitor/install/of-nothing selects no pods of the render",
    ]);
  });
});
