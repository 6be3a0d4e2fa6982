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

/**
 * Collects a pod template's distinct images (containers and init containers) and whether every container
 * that runs each one pulls it always; `partition()` puts the others first. Two flat arrays per workload,
 * since list pages of thousands of workloads go through it.
 */
export class PullCollector {
  readonly #images: string[] = [];
  readonly #always: boolean[] = [];

  /** Adds one container. */
  add(image: string, pullPolicy: string | undefined): void {
    const always = effectivePullPolicy(image, pullPolicy) === "Always";
    const at = this.#images.indexOf(image);
    if (at < 0) {
      this.#images.push(image);
      this.#always.push(always);
    } else if (!always) this.#always[at] = false;
  }

  /**
   * The images, those that some container runs without `imagePullPolicy` `Always` first, each group in
   * the containers' order; and how many those are. A restart re-pulls an image only when every container
   * that runs it pulls always. Call it once, after the last `add`: the images may be the collector's own.
   */
  partition(): { readonly images: string[]; readonly notPulled: number } {
    const notPulled = this.#always.filter((always) => !always).length;
    if (notPulled === 0 || notPulled === this.#images.length) return { images: this.#images, notPulled };
    const images = [
      ...this.#images.filter((_, i) => !this.#always[i]),
      ...this.#images.filter((_, i) => this.#always[i]),
    ];
    return { images, notPulled };
  }
}

/** A workload's images, split as {@link PullCollector.partition} splits them. */
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
