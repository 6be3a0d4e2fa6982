/** The workload resources the worker can restart, by their API resource name. */
export type WorkloadResource = "deployments" | "statefulsets" | "daemonsets";

/** The annotation `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

/** What the worker needs to know of one workload kind, and how a restart of it reads. */
export interface WorkloadKindInfo {
  readonly resource: WorkloadResource;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  /** The strategic merge patch body that restarts a workload of this kind at `restartedAt`. */
  readonly restartPatch: (restartedAt: string) => unknown;
}

/** `kubectl rollout restart`: only the pod template's `restartedAt` annotation changes. */
const podTemplateAnnotation = (restartedAt: string) => ({
  spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } },
});

/** Each restartable kind, in the order they are listed and synced. */
export const WORKLOAD_KINDS: Readonly<Record<WorkloadResource, WorkloadKindInfo>> = {
  deployments: {
    resource: "deployments",
    kind: "Deployment",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
  },
  statefulsets: {
    resource: "statefulsets",
    kind: "StatefulSet",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
  },
  daemonsets: {
    resource: "daemonsets",
    kind: "DaemonSet",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
  },
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

/** The JSON body of the strategic merge patch that restarts `resource` at `restartedAt`. */
export function restartPatchBody(resource: WorkloadResource, restartedAt: string): string {
  return JSON.stringify(WORKLOAD_KINDS[resource].restartPatch(restartedAt));
}
