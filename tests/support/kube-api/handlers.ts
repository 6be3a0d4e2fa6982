import { PatchError } from "./json-patch.ts";
import { listResponse } from "./list.ts";
import type { ResourceInfo } from "./resources.ts";
import { compileSelectors } from "./selectors.ts";
import { badRequest, jsonResponse, notFound, statusResponse } from "./status.ts";
import { type KubeObject, type ObjectStore, StoreError } from "./store.ts";
import { applyPatch } from "./strategic-merge.ts";
import { validateWorkload } from "./validate.ts";
import { type WatchControl, WatchStream } from "./watch.ts";

/** Everything a resource handler needs to answer one request. */
export interface ResourceRequest {
  readonly store: ObjectStore;
  readonly info: ResourceInfo;
  readonly verb: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly url: URL;
  readonly body: string;
  readonly contentType: string | undefined;
}

/** Server-wide settings the handlers read. */
export interface HandlerSettings {
  readonly pageSizeMax: number | undefined;
  readonly bookmarkIntervalMs: number | undefined;
  readonly control: WatchControl;
  readonly openWatch: (stream: WatchStream) => void;
  readonly closeWatch: (stream: WatchStream) => void;
  /** A patch or update changed an object's spec (its generation went up): the rollout simulator starts. */
  readonly specChanged: (
    resource: ResourceInfo["resource"],
    namespace: string,
    name: string,
    generation: number,
  ) => void;
}

function isDryRun(url: URL): boolean {
  return url.searchParams.getAll("dryRun").includes("All");
}

function parseIntParam(url: URL, key: string): number | undefined {
  const raw = url.searchParams.get(key);
  if (raw === null || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new StoreError(400, "BadRequest", `invalid ${key}: ${raw}`);
  return value;
}

function parseBody(body: string): KubeObject {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as KubeObject;
  } catch {}
  throw new StoreError(400, "BadRequest", "the request body is not a JSON object");
}

function effectiveLimit(limit: number | undefined, cap: number | undefined): number {
  if (limit === undefined || limit === 0) return 0;
  return cap === undefined ? limit : Math.min(limit, cap);
}

function listOrWatch(req: ResourceRequest, settings: HandlerSettings): Response {
  const { url } = req;
  const filter = compileSelectors(
    url.searchParams.get("fieldSelector"),
    url.searchParams.get("labelSelector"),
  );
  if (req.verb === "list") {
    const limit = effectiveLimit(parseIntParam(url, "limit"), settings.pageSizeMax);
    const continueToken = url.searchParams.get("continue");
    return listResponse(req.store, req.info, { namespace: req.namespace, limit, continueToken, filter });
  }
  const bookmarks = url.searchParams.get("allowWatchBookmarks") === "true";
  const stream = new WatchStream(
    req.store,
    req.info,
    {
      namespace: req.namespace,
      resourceVersion: parseIntParam(url, "resourceVersion"),
      filter,
      bookmarkIntervalMs: bookmarks ? settings.bookmarkIntervalMs : undefined,
      timeoutSeconds: parseIntParam(url, "timeoutSeconds"),
      sendInitialEvents: url.searchParams.get("sendInitialEvents") === "true",
    },
    settings.control,
    settings.closeWatch,
  );
  settings.openWatch(stream);
  return stream.response;
}

function writeObject(
  req: ResourceRequest,
  namespace: string,
  name: string,
  settings: HandlerSettings,
): Response {
  const { store, info, url } = req;
  const dryRun = isDryRun(url);
  if (req.verb === "delete") {
    const deleted = JSON.parse(store.remove(info.resource, namespace, name, dryRun)) as KubeObject;
    const uid = deleted.metadata?.uid;
    return jsonResponse({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, group: info.group, kind: info.resource, uid },
    });
  }
  const currentJson = store.getJson(info.resource, namespace, name);
  if (currentJson === undefined) return notFound(info, name);
  let next: unknown;
  if (req.verb === "patch") {
    // A custom resource takes no strategic merge patch: the real server answers 415.
    if (info.group !== "apps" && req.contentType?.startsWith("application/strategic-merge-patch+json"))
      throw new PatchError(
        415,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
      );
    next = applyPatch(req.contentType, JSON.parse(currentJson), req.body);
  } else next = parseBody(req.body);
  validateWorkload(info, next);
  const committed = store.commit(info.resource, namespace, name, next as KubeObject, dryRun);
  const generationOf = (json: string) => Number((JSON.parse(json) as KubeObject).metadata?.generation ?? 0);
  if (committed.changed && generationOf(committed.json) > generationOf(currentJson))
    settings.specChanged(info.resource, namespace, name, generationOf(committed.json));
  return jsonResponse(committed.json);
}

function route(req: ResourceRequest, settings: HandlerSettings): Response {
  const { store, info, namespace, name, verb } = req;
  if (verb === "list" || verb === "watch") {
    if (name !== undefined) return badRequest("watch or list of a single object by name is not supported");
    return listOrWatch(req, settings);
  }
  if (namespace === undefined) return statusResponse({ code: 405, message: `${verb} needs a namespace` });
  if (verb === "create") {
    const obj = parseBody(req.body);
    obj.metadata = { ...(obj.metadata ?? {}), namespace };
    validateWorkload(info, obj);
    return jsonResponse(store.create(info.resource, obj, isDryRun(req.url)).json, 201);
  }
  if (name === undefined)
    return statusResponse({ code: 405, message: `${verb} of a collection is not supported` });
  if (verb === "get") {
    const json = store.getJson(info.resource, namespace, name);
    return json === undefined ? notFound(info, name) : jsonResponse(json);
  }
  return writeObject(req, namespace, name, settings);
}

/** Answers a request for a workload resource, turning store and patch failures into Status objects. */
export function handleResource(req: ResourceRequest, settings: HandlerSettings): Response {
  try {
    return route(req, settings);
  } catch (error) {
    if (error instanceof StoreError) {
      const notFoundName = error.code === 404 && req.name !== undefined;
      if (notFoundName) return notFound(req.info, req.name ?? "");
      return statusResponse({
        code: error.code,
        reason: error.reason,
        message: error.message,
        ...detailsOf(req),
      });
    }
    if (error instanceof PatchError) return statusResponse({ code: error.code, message: error.message });
    throw error;
  }
}

function detailsOf(req: ResourceRequest) {
  return {
    details: {
      ...(req.name !== undefined ? { name: req.name } : {}),
      group: req.info.group,
      kind: req.info.resource,
    },
  };
}
