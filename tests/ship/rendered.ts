import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, relative, sep } from "node:path";
import type { LoadResult } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import type { Mode } from "../../src/config/settings.ts";

/** The repository root. */
export const ROOT = join(import.meta.dir, "../..");

/** Our image's repository; every container with this image runs the binary. */
export const OUR_IMAGE = "ghcr.io/unitvectory-labs/kuberollouttrigger";

/** Every overlay under manifests/overlays, relative to manifests/. */
export const OVERLAYS: readonly string[] = readdirSync(join(ROOT, "manifests/overlays"), {
  withFileTypes: true,
})
  .filter((entry) => entry.isDirectory())
  .map((entry) => `overlays/${entry.name}`)
  .sort();

/** A Valkey CA certificate (no key) that stands in for the one a manifest mounts from the cluster. */
const FIXTURE_CA_FILE = join(import.meta.dir, "fixtures", "valkey-ca.crt");

/** A rendered Kubernetes object, loosely typed: tests read it as data. */
// biome-ignore lint/suspicious/noExplicitAny: rendered YAML is untyped data, read by tests only
export type K8sObject = Record<string, any>;

/** Why `kubectl kustomize` cannot run here, or undefined when it can. */
export function kustomizeUnavailableReason(): string | undefined {
  if (Bun.which("kubectl") === null) return "kubectl is not on PATH";
  return undefined;
}

/** Renders `manifests/<path>` with `kubectl kustomize` and parses every document. */
export function render(path: string): K8sObject[] {
  return renderDirectory(join(ROOT, "manifests", path), path);
}

/**
 * What a user's overlay must set in the ConfigMap kuberollouttrigger with a component, as
 * docs/deployment.md says: the component sets no value of its own there (the overlay's would lose).
 */
export const SETTINGS_A_COMPONENT_NEEDS: Readonly<Record<string, readonly string[]>> = {
  "valkey-sentinel": ["VALKEY_SENTINEL_ADDRS=sentinel-0.valkey:26379", "VALKEY_SENTINEL_MASTER=myprimary"],
  "worker-only": ["VALKEY_ADDR=valkey.shared.example:6379", "CLUSTER_NAME=prod"],
};

/**
 * Renders the base with `components` (names of directories under manifests/components), as a user's
 * overlay that lists them under `components:` in this order would, with the settings those components
 * need ({@link SETTINGS_A_COMPONENT_NEEDS}) unless `withNeededSettings` is false.
 */
export function renderComponents(components: readonly string[], withNeededSettings = true): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), "krt-kustomize-"));
  try {
    // kustomize takes no absolute paths, so the overlay names the manifests relative to itself.
    const from = (path: string) =>
      relative(dir, join(ROOT, "manifests", path))
        .split(sep)
        .join(posix.sep);
    const kustomization = {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: [from("base")],
      components: components.map((name) => from(`components/${name}`)),
      ...overlaySettings(
        withNeededSettings ? components.flatMap((name) => SETTINGS_A_COMPONENT_NEEDS[name] ?? []) : [],
      ),
    };
    writeFileSync(join(dir, "kustomization.yaml"), JSON.stringify(kustomization));
    return renderDirectory(dir, `base + ${components.join(" + ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function overlaySettings(literals: readonly string[]) {
  if (literals.length === 0) return {};
  return { configMapGenerator: [{ name: "kuberollouttrigger", behavior: "merge", literals }] };
}

/**
 * Renders a kustomization given as text (an overlay copied from the docs), from a directory two levels
 * below manifests/ as manifests/overlays/<name> is, so that its `../../base` paths resolve.
 */
export function renderOverlayText(text: string): K8sObject[] {
  const parent = mkdtempSync(join(ROOT, "manifests", ".krt-overlay-"));
  try {
    const dir = join(parent, "overlay");
    mkdirSync(dir);
    writeFileSync(join(dir, "kustomization.yaml"), text);
    return renderDirectory(dir, "an overlay from the docs");
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}

function renderDirectory(dir: string, label: string): K8sObject[] {
  const result = Bun.spawnSync(["kubectl", "kustomize", dir], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0)
    throw new Error(`kubectl kustomize ${label} failed: ${result.stderr.toString()}`);
  const parsed: unknown = Bun.YAML.parse(result.stdout.toString());
  const documents = Array.isArray(parsed) ? parsed : [parsed];
  return documents.filter((doc): doc is K8sObject => typeof doc === "object" && doc !== null);
}

/** A container with the pod template and object it came from. */
export interface PlacedContainer {
  readonly owner: K8sObject;
  readonly pod: K8sObject;
  readonly container: K8sObject;
  readonly init: boolean;
  /** `Kind/name/container` for messages. */
  readonly where: string;
}

/** The pod spec of a workload object, or undefined for objects that run no pods. */
export function podSpecOf(object: K8sObject): K8sObject | undefined {
  switch (object.kind) {
    case "Pod":
      return object.spec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return object.spec?.template?.spec;
    case "CronJob":
      return object.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

/** The labels of the pods a workload object runs, or undefined for objects that run no pods. */
export function podLabelsOf(object: K8sObject): Record<string, string> | undefined {
  if (!podSpecOf(object)) return undefined;
  if (object.kind === "Pod") return object.metadata?.labels ?? {};
  const template =
    object.kind === "CronJob" ? object.spec?.jobTemplate?.spec?.template : object.spec?.template;
  return template?.metadata?.labels ?? {};
}

/** Every container and init container of every pod-running object. */
export function containersOf(objects: readonly K8sObject[]): PlacedContainer[] {
  const placed: PlacedContainer[] = [];
  for (const owner of objects) {
    const pod = podSpecOf(owner);
    if (!pod) continue;
    for (const [list, init] of [
      [pod.containers ?? [], false],
      [pod.initContainers ?? [], true],
    ] as const) {
      for (const container of list as K8sObject[])
        placed.push({
          owner,
          pod,
          container,
          init,
          where: `${owner.kind}/${owner.metadata.name}/${container.name}`,
        });
    }
  }
  return placed;
}

/** Whether a container runs our binary. */
export const isOurs = (placed: PlacedContainer): boolean =>
  String(placed.container.image ?? "").split(/[:@]/)[0] === OUR_IMAGE;

/** The mode a container of ours runs, from its first argument. */
export function modeOf(placed: PlacedContainer): Mode {
  const [first] = [...(placed.container.command ?? []).slice(1), ...(placed.container.args ?? [])];
  if (first === "web" || first === "worker" || first === "standalone") return first;
  throw new Error(`${placed.where}: the first argument must be web, worker or standalone, not ${first}`);
}

/** A stand-in for a value kept in a Secret the operator creates (not in the manifests). */
export const SECRET_PLACEHOLDER = "secret-from-the-cluster";

/** The environment a container of ours would see, with ConfigMap references resolved from `objects`. */
export function environmentOf(
  placed: PlacedContainer,
  objects: readonly K8sObject[],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of placed.container.env ?? []) {
    const ref = variable.valueFrom;
    if (ref?.configMapKeyRef) {
      const map = objects.find(
        (o) =>
          o.kind === "ConfigMap" &&
          o.metadata.name === ref.configMapKeyRef.name &&
          o.metadata.namespace === placed.owner.metadata.namespace,
      );
      const value = map?.data?.[ref.configMapKeyRef.key];
      if (value === undefined && ref.configMapKeyRef.optional === true) continue;
      if (value === undefined)
        throw new Error(
          `${placed.where}: ${variable.name} refers to a missing ConfigMap key ${ref.configMapKeyRef.key}`,
        );
      env[variable.name] = value;
    } else if (ref?.secretKeyRef) {
      env[variable.name] = SECRET_PLACEHOLDER;
    } else if (ref) {
      throw new Error(`${placed.where}: ${variable.name} uses an unsupported valueFrom`);
    } else {
      env[variable.name] = String(variable.value ?? "");
    }
  }
  return env;
}

/**
 * Why the file at `path` would not be there in the container, or undefined when a volume of the pod
 * mounts it: a Secret's or ConfigMap's key (a ConfigMap of `objects` must hold it).
 */
function unmountedFileReason(
  placed: PlacedContainer,
  path: string,
  objects: readonly K8sObject[],
): string | undefined {
  const mount = (placed.container.volumeMounts ?? []).find((m: K8sObject) =>
    path.startsWith(`${String(m.mountPath).replace(/\/$/, "")}/`),
  );
  if (!mount) return `nothing is mounted at ${path}`;
  const file = path.slice(String(mount.mountPath).replace(/\/$/, "").length + 1);
  const volume = (placed.pod.volumes ?? []).find((v: K8sObject) => v.name === mount.name);
  const source = volume?.secret ?? volume?.configMap;
  if (!source) return `volume ${mount.name} of ${path} is not a Secret or ConfigMap`;
  const items: K8sObject[] | undefined = source.items;
  const key = items ? items.find((item) => item.path === file)?.key : file;
  if (key === undefined) return `volume ${mount.name} has no item at ${file}`;
  if (volume?.configMap) {
    const map = objects.find(
      (o) =>
        o.kind === "ConfigMap" &&
        o.metadata.name === source.name &&
        o.metadata.namespace === placed.owner.metadata.namespace,
    );
    if (map?.data?.[key] === undefined) return `ConfigMap ${source.name} has no key ${key} for ${path}`;
  }
  return undefined;
}

/**
 * Loads a container's configuration exactly as the binary would at startup. A CA file it names must be
 * mounted ({@link unmountedFileReason}); a test certificate stands in for its content.
 */
export function configOf(placed: PlacedContainer, objects: readonly K8sObject[]): LoadResult {
  const args = [...(placed.container.command ?? []).slice(1), ...(placed.container.args ?? [])];
  const env = environmentOf(placed, objects);
  const caFile = env.VALKEY_TLS_CA_FILE;
  if (caFile) {
    const unmounted = unmountedFileReason(placed, caFile, objects);
    if (unmounted) return { ok: false, message: `VALKEY_TLS_CA_FILE: ${unmounted}`, badFlags: false };
    env.VALKEY_TLS_CA_FILE = FIXTURE_CA_FILE;
  }
  return loadConfig(modeOf(placed), args.slice(1), env);
}

/** The number behind a probe's port, resolving a named container port. */
export function probePort(placed: PlacedContainer, port: number | string): number | undefined {
  if (typeof port === "number") return port;
  const named = (placed.container.ports ?? []).find((p: K8sObject) => p.name === port);
  return named?.containerPort;
}
