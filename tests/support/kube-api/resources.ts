/** The workload resources the test API server serves: `apps/v1` ones, and Argo's `rollouts` when enabled. */
export type WorkloadResource = "deployments" | "statefulsets" | "daemonsets" | "rollouts";

/** What the server knows about one resource: names for discovery, Status details and list bodies. */
export interface ResourceInfo {
  readonly resource: WorkloadResource;
  readonly kind: string;
  readonly listKind: string;
  readonly singular: string;
  readonly shortName: string;
  readonly group: string;
  readonly version: string;
  /** `group/version`, as objects and lists carry it. */
  readonly apiVersion: string;
}

/** The `apps` group of the built-in workloads. */
export const GROUP = "apps";
export const API_VERSION = "apps/v1";
/** Argo Rollouts' group and version (a CRD: served only when the server is started with it). */
export const ARGO_GROUP = "argoproj.io";
export const ARGO_API_VERSION = "argoproj.io/v1alpha1";

const apps = (
  resource: WorkloadResource,
  kind: string,
  singular: string,
  shortName: string,
): ResourceInfo => ({
  resource,
  kind,
  listKind: `${kind}List`,
  singular,
  shortName,
  group: GROUP,
  version: "v1",
  apiVersion: API_VERSION,
});

/** The resource table, in discovery order. */
export const RESOURCES: readonly ResourceInfo[] = [
  apps("daemonsets", "DaemonSet", "daemonset", "ds"),
  apps("deployments", "Deployment", "deployment", "deploy"),
  apps("statefulsets", "StatefulSet", "statefulset", "sts"),
  {
    resource: "rollouts",
    kind: "Rollout",
    listKind: "RolloutList",
    singular: "rollout",
    shortName: "ro",
    group: ARGO_GROUP,
    version: "v1alpha1",
    apiVersion: ARGO_API_VERSION,
  },
];

/** Looks up a resource by its plural name (and group, when given); `undefined` when the server does not serve it. */
export function findResource(name: string, group?: string): ResourceInfo | undefined {
  return RESOURCES.find((info) => info.resource === name && (group === undefined || info.group === group));
}

/** Looks up a resource, throwing for a name the server does not serve (programming error in a test). */
export function requireResource(name: string): ResourceInfo {
  const info = findResource(name);
  if (info === undefined) throw new Error(`unknown resource ${name}`);
  return info;
}

/** The JSON text every full object of this resource starts with, so list items can drop it cheaply. */
export function typePrefix(info: ResourceInfo): string {
  return `{"kind":"${info.kind}","apiVersion":"${info.apiVersion}",`;
}
