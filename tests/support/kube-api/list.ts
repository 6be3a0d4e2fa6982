import type { ResourceInfo } from "./resources.ts";
import type { ObjectFilter } from "./selectors.ts";
import { badRequest, jsonResponse, statusResponse } from "./status.ts";
import { ObjectStore } from "./store.ts";

/** The parameters of one LIST request. */
export interface ListQuery {
  readonly namespace: string | undefined;
  readonly limit: number;
  readonly continueToken: string | null;
  readonly filter: ObjectFilter | undefined;
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

const INCONSISTENT =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/** Encodes a continue token the way the API server does: base64url of `{"v","rv","start"}`. */
export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64url");
}

function decodeContinue(token: string): ContinueToken | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as ContinueToken;
    const valid =
      parsed.v === "meta.k8s.io/v1" && Number.isInteger(parsed.rv) && typeof parsed.start === "string";
    return valid ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function lowerBound(keys: readonly string[], value: string, from = 0): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] ?? "") < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function keyRange(keys: readonly string[], namespace: string | undefined): [number, number] {
  if (namespace === undefined) return [0, keys.length];
  // "/" + 1 is "0": every key of the namespace sorts in [ns/, ns0).
  return [lowerBound(keys, `${namespace}/`), lowerBound(keys, `${namespace}0`)];
}

/** Answers a LIST: one page of items (without kind and apiVersion), with `continue` and `remainingItemCount`. */
export function listResponse(store: ObjectStore, info: ResourceInfo, query: ListQuery): Response {
  const keys = store.sortedKeys(info.resource);
  const [first, end] = keyRange(keys, query.namespace);
  let start = first;
  let listRv = store.currentRv;
  if (query.continueToken !== null && query.continueToken !== "") {
    const token = decodeContinue(query.continueToken);
    if (token === undefined) return badRequest(`continue key is not valid: ${query.continueToken}`);
    if (token.rv !== -1 && token.rv < store.compactedRv) {
      return statusResponse({
        code: 410,
        message: INCONSISTENT,
        continueToken: encodeContinue(-1, token.start),
      });
    }
    if (token.rv !== -1) listRv = token.rv;
    start = lowerBound(keys, token.start, first);
  }
  const items: string[] = [];
  let index = start;
  for (; index < end && (query.limit <= 0 || items.length < query.limit); index++) {
    const key = keys[index] ?? "";
    const json = store.jsonByKey(info.resource, key);
    const slash = key.indexOf("/");
    if (json === undefined) continue;
    if (query.filter !== undefined && !query.filter(key.slice(0, slash), key.slice(slash + 1), json))
      continue;
    items.push(ObjectStore.itemJson(info.resource, json));
  }
  const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
  if (index < end) {
    metadata.continue = encodeContinue(listRv, `${keys[index - 1] ?? ""}\u0000`);
    if (query.filter === undefined) metadata.remainingItemCount = end - index;
  }
  const head = JSON.stringify({ kind: info.listKind, apiVersion: info.apiVersion, metadata });
  return jsonResponse(`${head.slice(0, -1)},"items":[${items.join(",")}]}`);
}
