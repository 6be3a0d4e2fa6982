import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import {
  COMPATIBLE_PAIRS,
  COMPONENTS_HEADING,
  OPTIONAL_COMPONENTS,
  readComponentTable,
} from "./compositions.ts";
import { bindsWatchedNamespace, misplacedObjects, unresolvedReferences } from "./references.ts";
import {
  configOf,
  containersOf,
  environmentOf,
  isOurs,
  type K8sObject,
  kustomizeUnavailableReason,
  ROOT,
  renderComponents,
  renderOverlayText,
} from "./rendered.ts";

// Components are meant to be listed together in a user's overlay. Each pair the docs allow must render
// the same in either order, keep every object in the install namespace, and leave no Service, route,
// binding or selector pointing at an object that another component removed.

const inCi = process.env.CI === "true";
const unavailable = kustomizeUnavailableReason();
const skip = unavailable !== undefined && !inCi;
if (skip) console.warn(`skipping the component pairs: ${unavailable} (they never skip with CI=true)`);

const read = (path: string) => Bun.file(join(ROOT, path)).text();
const REPOSITORY = "https://github.com/UnitVectorY-Labs/kuberollouttrigger//manifests/";

/** Objects in a stable order, so two renders compare equal whatever order kustomize wrote them in. */
const sorted = (objects: readonly K8sObject[]) =>
  [...objects].sort((a, b) =>
    `${a.kind}/${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
      `${b.kind}/${b.metadata.namespace}/${b.metadata.name}`,
    ),
  );

describe("the components table of docs/deployment.md", () => {
  test("lists every component under manifests/components that the base does not include, and no other", async () => {
    const table = readComponentTable(await read("docs/deployment.md"));
    expect([...table.keys()].sort()).toEqual([...OPTIONAL_COMPONENTS]);
  });

  test("marks every exclusive pair in both components' rows", async () => {
    const table = readComponentTable(await read("docs/deployment.md"));
    const oneSided = [...table].flatMap(([name, excluded]) =>
      [...excluded].filter((other) => !table.get(other)?.has(name)).map((other) => `${name} → ${other}`),
    );
    expect(oneSided).toEqual([]);
  });

  test(`is under the heading "${COMPONENTS_HEADING}"`, async () => {
    expect(await read("docs/deployment.md")).toContain(`\n${COMPONENTS_HEADING}\n`);
  });
});

describe("the quick start of docs/deployment.md", () => {
  const quickStart = async (): Promise<K8sObject> => {
    const text = await read("docs/deployment.md");
    const section = text.slice(text.indexOf("\n## Quick start\n"));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    if (!block) throw new Error("no YAML block in the quick start");
    return Bun.YAML.parse(block) as K8sObject;
  };

  test("is manifests/overlays/example with the repository's URLs in place of the relative paths", async () => {
    const documented = JSON.stringify(await quickStart())
      .replaceAll(REPOSITORY, "../../")
      .replaceAll(`?ref=v${packageJson.version}`, "");
    const example = Bun.YAML.parse(await read("manifests/overlays/example/kustomization.yaml"));
    expect(JSON.parse(documented)).toEqual(example);
  });

  test("takes the base and the components from this repository, pinned to the release of package.json's version", async () => {
    const overlay = await quickStart();
    const urls: string[] = [...(overlay.resources ?? []), ...(overlay.components ?? [])];
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toStartWith(REPOSITORY);
    for (const url of urls) expect(url).toEndWith(`?ref=v${packageJson.version}`);
  });
});

describe.skipIf(skip)("every pair of components that the docs allow together", () => {
  test("includes at least one pair", () => {
    expect(COMPATIBLE_PAIRS.length).toBeGreaterThan(0);
  });

  test.each(COMPATIBLE_PAIRS.map(([a, b]) => [a, b]))(
    "%s with %s renders the same in either order, in the install namespace, with every reference resolved",
    (a, b) => {
      if (unavailable) throw new Error(`cannot render the manifests: ${unavailable}`);
      const objects = renderComponents([a, b]);
      expect(sorted(renderComponents([b, a]))).toEqual(sorted(objects));
      expect(misplacedObjects(objects, bindsWatchedNamespace(objects))).toEqual([]);
      expect(unresolvedReferences(objects)).toEqual([]);
    },
  );
});

/** The first YAML block of docs/deployment.md after the line that contains `marker`. */
async function overlayAfter(marker: string): Promise<string> {
  const text = await read("docs/deployment.md");
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`docs/deployment.md no longer says "${marker}"`);
  const block = /```yaml\n([\s\S]*?)```/.exec(text.slice(at))?.[1];
  if (!block) throw new Error(`no YAML block after "${marker}"`);
  return block;
}

/** The data of the rendered ConfigMap kuberollouttrigger. */
const settingsOf = (objects: readonly K8sObject[]): Record<string, string> =>
  objects.find(
    (o) =>
      o.kind === "ConfigMap" &&
      String(o.metadata.name).startsWith("kuberollouttrigger-") &&
      o.data?.LOG_LEVEL !== undefined,
  )?.data ?? {};

// A component's ConfigMap merge lands after the overlay's: a component that set these keys itself would
// silently replace the values a user's overlay gives, as the Sentinel placeholders once did.
describe.skipIf(skip)("the overlays docs/deployment.md shows", () => {
  test("the Sentinel overlay renders the sentinels, primary name, username and replica count it sets", async () => {
    const overlay = Bun.YAML.parse(await overlayAfter("### Valkey with Sentinel")) as K8sObject;
    const given = Object.fromEntries(
      (overlay.configMapGenerator[0].literals as string[]).map((l) => [
        l.slice(0, l.indexOf("=")),
        l.slice(l.indexOf("=") + 1),
      ]),
    );
    expect(Object.keys(given).sort()).toEqual([
      "VALKEY_MIN_REPLICAS_ACK",
      "VALKEY_SENTINEL_ADDRS",
      "VALKEY_SENTINEL_MASTER",
      "VALKEY_SENTINEL_USERNAME",
    ]);
    const objects = renderOverlayText(await overlayAfter("### Valkey with Sentinel"));
    expect(settingsOf(objects)).toMatchObject(given);
    const web = containersOf(objects).find(
      (p) => isOurs(p) && p.owner.metadata.name === "kuberollouttrigger-web",
    );
    if (!web) throw new Error("no web container");
    expect(environmentOf(web, objects)).toMatchObject(given);
  });

  test("the valkey-sentinel component without the sentinels leaves the web's reference to them unresolved, so the pods do not start", () => {
    const objects = renderComponents(["valkey-sentinel"], false);
    const web = containersOf(objects).find(
      (p) => isOurs(p) && p.owner.metadata.name === "kuberollouttrigger-web",
    );
    if (!web) throw new Error("no web container");
    expect(() => environmentOf(web, objects)).toThrow("missing ConfigMap key VALKEY_SENTINEL_ADDRS");
  });

  test("the worker-only overlay runs the worker alone, on the shared Valkey, user, CA and cluster name it sets", async () => {
    const objects = renderOverlayText(await overlayAfter("### A cluster with the worker alone"));
    const ours = containersOf(objects).filter(isOurs);
    expect(ours.map((p) => p.owner.metadata.name)).toEqual(["kuberollouttrigger-worker"]);
    const [worker] = ours;
    if (!worker) throw new Error("no worker");
    const loaded = configOf(worker, objects);
    if (!loaded.ok) throw new Error(loaded.message);
    expect(loaded.config.valkey.addr).toEqual({ host: "valkey.rollout.acme.example", port: 6379 });
    expect(loaded.config.valkey.username).toBe("worker-prod");
    expect(loaded.config.valkey.tls).not.toBe(false);
    expect(loaded.config.worker.clusterName).toBe("prod");
  });

  test("the argo-rollouts overlay with a patch renders the WORKLOAD_KINDS it sets", async () => {
    const objects = renderOverlayText(await overlayAfter("To narrow `WORKLOAD_KINDS` with"));
    expect(settingsOf(objects).WORKLOAD_KINDS).toBe("deployments,rollouts");
  });
});
