import { API_VERSION, ARGO_API_VERSION, ARGO_GROUP, GROUP, RESOURCES } from "./resources.ts";
import { jsonResponse } from "./status.ts";

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const GROUP_VERSION = { groupVersion: API_VERSION, version: "v1" };
const APPS_GROUP = { name: GROUP, versions: [GROUP_VERSION], preferredVersion: GROUP_VERSION };
const ARGO_VERSION = { groupVersion: ARGO_API_VERSION, version: "v1alpha1" };
const ARGO = { name: ARGO_GROUP, versions: [ARGO_VERSION], preferredVersion: ARGO_VERSION };
const EVENTS_VERSION = { groupVersion: "events.k8s.io/v1", version: "v1" };
const EVENTS_GROUP = { name: "events.k8s.io", versions: [EVENTS_VERSION], preferredVersion: EVENTS_VERSION };
const EVENTS_RESOURCES = [
  {
    name: "events",
    singularName: "event",
    namespaced: true,
    kind: "Event",
    verbs: ["create", "list"],
    shortNames: ["ev"],
  },
];

function groupResources(group: string) {
  return RESOURCES.filter((info) => info.group === group).map((info) => ({
    name: info.resource,
    singularName: info.singular,
    namespaced: true,
    kind: info.kind,
    verbs: VERBS,
    shortNames: [info.shortName],
    categories: ["all"],
  }));
}

const CORE_RESOURCES = [
  {
    name: "namespaces",
    singularName: "namespace",
    namespaced: false,
    kind: "Namespace",
    verbs: ["get", "list"],
    shortNames: ["ns"],
  },
];

/** The version the server claims, as `GET /version` answers. */
export const VERSION_INFO = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2024-12-11T00:00:00Z",
  goVersion: "go1.23.3",
  compiler: "gc",
  platform: "linux/amd64",
};

/**
 * Answers the discovery paths (legacy, non-aggregated discovery; kubectl falls back to it) and `/version`;
 * `undefined` for any other path. `argoRollouts`: the Argo Rollouts CRD is installed.
 */
export function discoveryResponse(
  path: string,
  hostPort: string,
  argoRollouts = false,
): Response | undefined {
  switch (path) {
    case "/version":
      return jsonResponse(VERSION_INFO);
    case "/api":
      return jsonResponse({
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: hostPort }],
      });
    case "/api/v1":
      return jsonResponse({ kind: "APIResourceList", groupVersion: "v1", resources: CORE_RESOURCES });
    case "/apis":
      return jsonResponse({
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [APPS_GROUP, EVENTS_GROUP, ...(argoRollouts ? [ARGO] : [])],
      });
    case "/apis/events.k8s.io":
      return jsonResponse({ kind: "APIGroup", apiVersion: "v1", ...EVENTS_GROUP });
    case "/apis/events.k8s.io/v1":
      return jsonResponse({
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: "events.k8s.io/v1",
        resources: EVENTS_RESOURCES,
      });
    case "/apis/argoproj.io":
      return argoRollouts ? jsonResponse({ kind: "APIGroup", apiVersion: "v1", ...ARGO }) : undefined;
    case "/apis/argoproj.io/v1alpha1":
      return argoRollouts
        ? jsonResponse({
            kind: "APIResourceList",
            apiVersion: "v1",
            groupVersion: ARGO_API_VERSION,
            resources: groupResources(ARGO_GROUP),
          })
        : undefined;
    case "/apis/apps":
      return jsonResponse({ kind: "APIGroup", apiVersion: "v1", ...APPS_GROUP });
    case "/apis/apps/v1":
      return jsonResponse({
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: API_VERSION,
        resources: groupResources(GROUP),
      });
    default:
      return undefined;
  }
}

/** `GET /api/v1/namespaces`: the namespaces that hold objects, plus `default` and `kube-system`. */
export function namespaceListResponse(names: Set<string>, resourceVersion: number): Response {
  const all = [...new Set(["default", "kube-system", ...names])].sort();
  return jsonResponse({
    kind: "NamespaceList",
    apiVersion: "v1",
    metadata: { resourceVersion: String(resourceVersion) },
    items: all.map((name) => ({
      metadata: { name, labels: { "kubernetes.io/metadata.name": name } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    })),
  });
}
