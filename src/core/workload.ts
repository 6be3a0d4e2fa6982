import type { WorkloadResource } from "./workload-kind.ts";

/** Identifies one workload in the cluster. */
export interface WorkloadRef {
  readonly resource: WorkloadResource;
  readonly namespace: string;
  readonly name: string;
}

/** What the index keeps of a workload: only what matching needs. */
export interface IndexedWorkload extends WorkloadRef {
  /**
   * Every image of the pod template's containers and init containers, distinct; the first `notPulled`
   * are run by a container whose effective `imagePullPolicy` is not `Always`.
   */
  readonly images: readonly string[];
  /** How many of the first `images` a restart does not pull again (a number, to keep the index small). */
  readonly notPulled: number;
  /** True when annotated `kuberollouttrigger/skip: "true"`: matched but never restarted. */
  readonly skip: boolean;
  /**
   * The repositories its `kuberollouttrigger.io/allowed-repositories` annotation names (globs); absent
   * when it carries none, as most workloads do, so the index pays nothing for them.
   */
  readonly allowedRepositories?: readonly string[];
}
