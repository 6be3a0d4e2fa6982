import type { WorkloadResource } from "./workload-kind.ts";

/** Identifies one workload in the cluster. */
export interface WorkloadRef {
  readonly resource: WorkloadResource;
  readonly namespace: string;
  readonly name: string;
}

/** What the index keeps of a workload: only what matching needs. */
export interface IndexedWorkload extends WorkloadRef {
  /** Every image of the pod template's containers and init containers, distinct. */
  readonly images: readonly string[];
  /** True when annotated `kuberollouttrigger/skip: "true"`: matched but never restarted. */
  readonly skip: boolean;
}
