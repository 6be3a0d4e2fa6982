/** The workload resources the test API server serves, all in the `apps/v1` group. */
export type WorkloadResource = "deployments" | "statefulsets" | "daemonsets";

/** What the server knows about one resource: names for discovery, Status details and list bodies. */
export interface ResourceInfo {
  readonly resource: WorkloadResource;
  readonly kind: string;
  readonly listKind: string;
  readonly singular: string;
  readonly shortName: string;
}

/** The resource table, in discovery order. */
export const RESOURCES: readonly ResourceInfo[] = [
  {
    resource: "daemonsets",
    kind: "DaemonSet",
    listKind: "DaemonSetList",
    singular: "daemonset",
    shortName: "ds",
  },
  {
    resource: "deployments",
    kind: "Deployment",
    listKind: "DeploymentList",
    singular: "deployment",
    shortName: "deploy",
  },
  {
    resource: "statefulsets",
    kind: "StatefulSet",
    listKind: "StatefulSetList",
    singular: "statefulset",
    shortName: "sts",
  },
];

/** The API group and version of every served resource. */
export const GROUP = "apps";
export const API_VERSION = "apps/v1";

/** Looks up a resource by its plural name; `undefined` when the server does not serve it. */
export function findResource(name: string): ResourceInfo | undefined {
  return RESOURCES.find((info) => info.resource === name);
}

/** Looks up a resource, throwing for a name the server does not serve (programming error in a test). */
export function requireResource(name: string): ResourceInfo {
  const info = findResource(name);
  if (info === undefined) throw new Error(`unknown resource ${name}`);
  return info;
}

/** The JSON text every full object of this resource starts with, so list items can drop it cheaply. */
export function typePrefix(info: ResourceInfo): string {
  return `{"kind":"${info.kind}","apiVersion":"${API_VERSION}",`;
}
