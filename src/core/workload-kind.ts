/** The workload resources the worker can restart, by their API resource name. */
export type WorkloadResource = "deployments" | "statefulsets" | "daemonsets";

/** What the worker needs to know of one workload kind. */
export interface WorkloadKindInfo {
  readonly resource: WorkloadResource;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
}

/** Each restartable kind, in the order they are listed and synced. */
export const WORKLOAD_KINDS: Readonly<Record<WorkloadResource, WorkloadKindInfo>> = {
  deployments: { resource: "deployments", kind: "Deployment", group: "apps", version: "v1" },
  statefulsets: { resource: "statefulsets", kind: "StatefulSet", group: "apps", version: "v1" },
  daemonsets: { resource: "daemonsets", kind: "DaemonSet", group: "apps", version: "v1" },
};

const ALIASES: Readonly<Record<string, WorkloadResource>> = {
  deployment: "deployments",
  deployments: "deployments",
  deploy: "deployments",
  statefulset: "statefulsets",
  statefulsets: "statefulsets",
  sts: "statefulsets",
  daemonset: "daemonsets",
  daemonsets: "daemonsets",
  ds: "daemonsets",
};

/** Maps a kind, resource or short name (any case, with or without `.apps`) to its resource. */
export function resolveWorkloadResource(name: string): WorkloadResource | undefined {
  return ALIASES[name.toLowerCase().replace(/\.apps$/, "")];
}
