/** The workload resources the worker can restart, by their API resource name. */
export type WorkloadResource = "deployments" | "statefulsets" | "daemonsets" | "rollouts";

/** The annotation `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

/** The content types of the restart patches. */
export const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";
export const MERGE_PATCH = "application/merge-patch+json";

/** What the worker needs to know of one workload kind, and how a restart of it reads. */
export interface WorkloadKindInfo {
  readonly resource: WorkloadResource;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  /** The patch body that restarts a workload of this kind at `restartedAt`. */
  readonly restartPatch: (restartedAt: string) => unknown;
  /** The content type the restart patch is sent with. */
  readonly patchContentType: string;
}

/** `kubectl rollout restart`: only the pod template's `restartedAt` annotation changes. */
const podTemplateAnnotation = (restartedAt: string) => ({
  spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } },
});

/**
 * `kubectl argo rollouts restart`: a merge patch of `spec.restartAt` (a custom resource takes no
 * strategic merge patch); the Argo controller then replaces the pods older than that time.
 */
const rolloutRestartAt = (restartedAt: string) => ({ spec: { restartAt: restartedAt } });

/** The default kinds (`WORKLOAD_KINDS`); `rollouts` joins them only when the cluster serves the CRD. */
export const DEFAULT_WORKLOAD_RESOURCES: readonly WorkloadResource[] = [
  "deployments",
  "statefulsets",
  "daemonsets",
];

/** Each restartable kind, in the order they are listed and synced. */
export const WORKLOAD_KINDS: Readonly<Record<WorkloadResource, WorkloadKindInfo>> = {
  deployments: {
    resource: "deployments",
    kind: "Deployment",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
    patchContentType: STRATEGIC_MERGE_PATCH,
  },
  statefulsets: {
    resource: "statefulsets",
    kind: "StatefulSet",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
    patchContentType: STRATEGIC_MERGE_PATCH,
  },
  daemonsets: {
    resource: "daemonsets",
    kind: "DaemonSet",
    group: "apps",
    version: "v1",
    restartPatch: podTemplateAnnotation,
    patchContentType: STRATEGIC_MERGE_PATCH,
  },
  rollouts: {
    resource: "rollouts",
    kind: "Rollout",
    group: "argoproj.io",
    version: "v1alpha1",
    restartPatch: rolloutRestartAt,
    patchContentType: MERGE_PATCH,
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
  rollout: "rollouts",
  rollouts: "rollouts",
  ro: "rollouts",
};

/**
 * Maps a kind, resource or short name (any case, with or without its group: `.apps`, `.argoproj.io`)
 * to its resource.
 */
export function resolveWorkloadResource(name: string): WorkloadResource | undefined {
  const lower = name.toLowerCase();
  const resource = ALIASES[lower.replace(/\.(apps|argoproj\.io)$/, "")];
  if (resource === undefined) return undefined;
  const group = /\.(apps|argoproj\.io)$/.exec(lower)?.[1];
  return group === undefined || group === WORKLOAD_KINDS[resource].group ? resource : undefined;
}

/** The JSON body of the patch that restarts `resource` at `restartedAt` (sent as its `patchContentType`). */
export function restartPatchBody(resource: WorkloadResource, restartedAt: string): string {
  return JSON.stringify(WORKLOAD_KINDS[resource].restartPatch(restartedAt));
}

/**
 * The kinds the worker indexes: exactly the configured ones when `WORKLOAD_KINDS` was given; else the
 * defaults, plus `rollouts` when discovery found the Argo Rollouts CRD (`rolloutsServed`).
 */
export function chooseWorkloadResources(
  configured: readonly WorkloadResource[],
  explicit: boolean,
  rolloutsServed: boolean | undefined,
): readonly WorkloadResource[] {
  if (explicit || rolloutsServed !== true || configured.includes("rollouts")) return configured;
  return [...configured, "rollouts"];
}
