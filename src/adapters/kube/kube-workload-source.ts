import type { WorkloadSource } from "../../worker/ports.ts";
import type { KubeClient } from "./kube-client.ts";
import { KubeApiError } from "./kube-errors.ts";
import { statusFromWatchError } from "./kube-status.ts";
import { reduceWorkload } from "./reduce-workload.ts";

/**
 * The index's view of the cluster: LIST pages and WATCH events reduced to what matching needs, a watch
 * `ERROR` event turned into a {@link KubeApiError} (410 Expired, most often).
 */
export function createWorkloadSource(client: KubeClient): WorkloadSource {
  return {
    list: (resource, namespace, options) => client.listPage(resource, namespace, options, reduceWorkload),
    async *watch(resource, namespace, resourceVersion, options) {
      const events = client.watch(resource, namespace, resourceVersion, {
        allowWatchBookmarks: true,
        timeoutSeconds: options.timeoutSeconds,
        signal: options.signal,
      });
      for await (const event of events) {
        switch (event.type) {
          case "ADDED":
          case "MODIFIED":
          case "DELETED": {
            const workload = reduceWorkload(event.object);
            if (workload !== undefined) yield { type: event.type, workload };
            break;
          }
          case "BOOKMARK": {
            const metadata = (event.object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata;
            const rv = metadata?.resourceVersion;
            if (typeof rv === "string" && rv !== "") yield { type: "BOOKMARK", resourceVersion: rv };
            break;
          }
          case "ERROR":
            throw new KubeApiError(statusFromWatchError(event.object));
          default:
            break;
        }
      }
    },
  };
}
