import { findResource, type ResourceInfo } from "./resources.ts";

/** What a request asks for, in the terms of Kubernetes authorization (verb, resource, namespace, name). */
export interface RequestTarget {
  readonly verb: string;
  readonly resource?: string;
  /** The API group of a resource request (`apps`, `argoproj.io`, `events.k8s.io`). */
  readonly group?: string;
  readonly info?: ResourceInfo;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** The group versions whose resource paths the server parses. */
const PREFIXES: readonly (readonly [string, string])[] = [
  ["/apis/apps/v1/", "apps"],
  ["/apis/argoproj.io/v1alpha1/", "argoproj.io"],
  ["/apis/events.k8s.io/v1/", "events.k8s.io"],
];

function isTrue(value: string | null): boolean {
  return value === "1" || value === "true";
}

function resourceVerb(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
      if (watch) return "watch";
      return hasName ? "get" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return hasName ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}

/**
 * Parses a request path like the API server's request-info resolver: `/apis/{group}/{version}/{resource}`
 * and `/apis/{group}/{version}/namespaces/{ns}/{resource}[/{name}[/{subresource}]]`, for `apps/v1`,
 * `argoproj.io/v1alpha1` and `events.k8s.io/v1`. Other paths are non-resource
 * requests whose verb is the lowercased method.
 */
export function resolveTarget(method: string, url: URL): RequestTarget {
  const path = url.pathname;
  if (path === "/api/v1/namespaces")
    return { verb: resourceVerb(method, false, false), resource: "namespaces" };
  const prefix = PREFIXES.find(([start]) => path.startsWith(start));
  if (prefix === undefined) return { verb: method.toLowerCase() };
  const [start, group] = prefix;
  const parts = path.slice(start.length).split("/").map(decodeURIComponent);
  let namespace: string | undefined;
  if (parts[0] === "namespaces" && parts.length >= 3) {
    namespace = parts[1];
    parts.splice(0, 2);
  }
  const [resource, name, subresource] = parts;
  if (resource === undefined || resource === "") return { verb: method.toLowerCase() };
  const watch = isTrue(url.searchParams.get("watch"));
  const target: RequestTarget = {
    verb: resourceVerb(method, name !== undefined, watch),
    resource,
    group,
    ...(findResource(resource, group) ? { info: findResource(resource, group) } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource !== undefined ? { subresource } : {}),
  };
  return target;
}
