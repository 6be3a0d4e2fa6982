/** A container's `imagePullPolicy`, as Kubernetes spells it. */
export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/**
 * The tag of an image reference as Kubernetes reads it when it defaults `imagePullPolicy`: the part
 * after the last `:` of the last path component, ignoring a digest; `latest` when there is neither tag
 * nor digest; empty when there is only a digest.
 */
export function imageTag(image: string): string {
  const at = image.indexOf("@");
  const name = at >= 0 ? image.slice(0, at) : image;
  const last = name.slice(name.lastIndexOf("/") + 1);
  const colon = last.lastIndexOf(":");
  if (colon >= 0) return last.slice(colon + 1);
  return at >= 0 ? "" : "latest";
}

/**
 * The pull policy a container runs with: its `imagePullPolicy` when set, else the one the API server
 * defaults it to: `Always` when the image's tag is `latest` (written or implied), else `IfNotPresent`.
 * A value Kubernetes does not know counts as `IfNotPresent`, the weakest that still may pull.
 */
export function effectivePullPolicy(image: string, field: string | undefined): PullPolicy {
  if (field === "Always" || field === "IfNotPresent" || field === "Never") return field;
  if (field !== undefined && field !== "") return "IfNotPresent";
  return imageTag(image) === "latest" ? "Always" : "IfNotPresent";
}

/** One container of a pod template, as far as pulling goes. */
export interface ContainerImage {
  readonly image: string;
  readonly pullPolicy: string | undefined;
}

/**
 * The distinct images of a pod template's containers (init containers included), those that some
 * container runs without `imagePullPolicy` `Always` first, each group in the containers' order; and how
 * many those are. A restart re-pulls an image only when every container that runs it pulls always.
 */
export function partitionByPull(containers: readonly ContainerImage[]): {
  readonly images: string[];
  readonly notPulled: number;
} {
  const pulls = new Map<string, boolean>();
  for (const { image, pullPolicy } of containers) {
    const always = effectivePullPolicy(image, pullPolicy) === "Always";
    pulls.set(image, (pulls.get(image) ?? true) && always);
  }
  const notPulled: string[] = [];
  const pulled: string[] = [];
  for (const [image, always] of pulls) (always ? pulled : notPulled).push(image);
  return { images: [...notPulled, ...pulled], notPulled: notPulled.length };
}

/** A workload's images, split as {@link partitionByPull} splits them. */
export interface PulledImages {
  /** Distinct images; the first `notPulled` are run by a container that does not always pull. */
  readonly images: readonly string[];
  readonly notPulled: number;
}

/**
 * Whether restarting the workload leaves a container on a node's cached copy of one of `refs`: some
 * container that runs a matched image does not pull it always.
 */
export function restartsWithoutPull(workload: PulledImages, refs: readonly string[]): boolean {
  for (let i = 0; i < workload.notPulled; i++) {
    const image = workload.images[i];
    if (image !== undefined && refs.includes(image)) return true;
  }
  return false;
}
