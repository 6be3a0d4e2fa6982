import { applyJsonPatch, applyMergePatch, isObject, PatchError } from "./json-patch.ts";

/**
 * Merge keys of the lists in a workload that Kubernetes merges instead of replacing (from the `patchMergeKey`
 * tags of the core/v1 and apps/v1 Go types). Lists not named here are replaced, as for `patchStrategy` unset.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  ports: "containerPort",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
  resourceClaims: "name",
  conditions: "type",
  ownerReferences: "uid",
};

/** Lists of scalars that merge as a set union. */
const MERGED_SCALAR_LISTS = new Set(["finalizers"]);

function rejectDirective(key: string): void {
  if (key.startsWith("$")) {
    throw new PatchError(
      400,
      `strategic merge patch directive ${key} is not supported by the test API server`,
    );
  }
}

function mergeList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const mergeKey = MERGE_KEYS[field];
  if (MERGED_SCALAR_LISTS.has(field) && Array.isArray(target)) {
    return [...target, ...patch.filter((item) => !target.includes(item))];
  }
  if (mergeKey === undefined || !Array.isArray(target)) {
    for (const item of patch) if (isObject(item)) Object.keys(item).forEach(rejectDirective);
    return patch;
  }
  const result = [...target];
  for (const item of patch) {
    if (!isObject(item) || !(mergeKey in item)) {
      throw new PatchError(
        400,
        `map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`,
      );
    }
    const index = result.findIndex((existing) => isObject(existing) && existing[mergeKey] === item[mergeKey]);
    if (index === -1) result.push(mergeMaps({}, item));
    else result[index] = mergeMaps(result[index], item);
  }
  return result;
}

function mergeMaps(target: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = isObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    rejectDirective(key);
    if (value === null) delete result[key];
    else if (isObject(value)) result[key] = mergeMaps(result[key], value);
    else if (Array.isArray(value)) result[key] = mergeList(key, result[key], value);
    else result[key] = value;
  }
  return result;
}

/**
 * Applies a strategic merge patch: maps merge recursively, `null` deletes a key, the lists of
 * {@link MERGE_KEYS} merge element-wise by their key. `$patch` and other directives are refused (400).
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw new PatchError(400, "strategic merge patch must be a JSON object");
  return mergeMaps(target, patch);
}

/** The patch media types the server accepts, each with its function. */
const PATCHERS: Record<string, (target: unknown, patch: unknown) => unknown> = {
  "application/strategic-merge-patch+json": applyStrategicMergePatch,
  "application/merge-patch+json": (target, patch) => {
    if (!isObject(patch)) throw new PatchError(400, "merge patch must be a JSON object");
    return applyMergePatch(target, patch);
  },
  "application/json-patch+json": applyJsonPatch,
};

/** Applies a patch body of the given media type to `target` (which it may modify), as the API server does. */
export function applyPatch(contentType: string | undefined, target: unknown, body: string): unknown {
  const mediaType = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const patcher = PATCHERS[mediaType];
  if (patcher === undefined) {
    throw new PatchError(
      415,
      `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCHERS).join(", ")}`,
    );
  }
  let patch: unknown;
  try {
    patch = JSON.parse(body);
  } catch (error) {
    throw new PatchError(400, `error decoding patch: ${(error as Error).message}`);
  }
  return patcher(target, patch);
}
