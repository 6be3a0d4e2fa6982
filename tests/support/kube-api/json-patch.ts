/** A failure applying a patch, with the HTTP status the API server answers (400 bad patch, 422 not applicable). */
export class PatchError extends Error {
  constructor(
    readonly code: 400 | 415 | 422,
    message: string,
  ) {
    super(message);
  }
}

type Container = Record<string, unknown> | unknown[];

/** True for a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

/** Deep equality of JSON values (object key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== "string" || (pointer !== "" && !pointer.startsWith("/"))) {
    throw new PatchError(400, `invalid JSON pointer: ${String(pointer)}`);
  }
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function arrayIndex(arr: unknown[], token: string, forAdd: boolean): number {
  if (forAdd && token === "-") return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(422, `invalid array index: ${token}`);
  const index = Number(token);
  if (index > arr.length || (!forAdd && index === arr.length)) {
    throw new PatchError(422, `array index out of bounds: ${token}`);
  }
  return index;
}

function resolveParent(doc: unknown, path: string[]): { parent: Container; key: string } {
  let node: unknown = doc;
  for (const token of path.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, token, false)];
    else if (isObject(node) && token in node) node = node[token];
    else throw new PatchError(422, `doc is missing path: /${path.join("/")}`);
  }
  const key = path[path.length - 1];
  if (!isContainer(node) || key === undefined) throw new PatchError(422, `invalid path: /${path.join("/")}`);
  return { parent: node, key };
}

function getValue(doc: unknown, path: string[]): unknown {
  if (path.length === 0) return doc;
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, key, false)];
  if (!(key in parent)) throw new PatchError(422, `doc is missing key: /${path.join("/")}`);
  return parent[key];
}

function addValue(doc: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else parent[key] = value;
  return doc;
}

function removeValue(doc: unknown, path: string[]): unknown {
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false), 1);
  else if (key in parent) delete parent[key];
  else throw new PatchError(422, `doc is missing key: /${path.join("/")}`);
  return doc;
}

function applyOperation(doc: unknown, op: Record<string, unknown>): unknown {
  const path = parsePointer(op.path);
  const copy = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
  switch (op.op) {
    case "add":
      if (!("value" in op)) throw new PatchError(400, "add operation does not have a value");
      return addValue(doc, path, copy(op.value));
    case "remove":
      return removeValue(doc, path);
    case "replace":
      if (!("value" in op)) throw new PatchError(400, "replace operation does not have a value");
      getValue(doc, path);
      return addValue(path.length === 0 ? doc : removeValue(doc, path), path, copy(op.value));
    case "move": {
      const from = parsePointer(op.from);
      const value = getValue(doc, from);
      return addValue(removeValue(doc, from), path, value);
    }
    case "copy":
      return addValue(doc, path, copy(getValue(doc, parsePointer(op.from))));
    case "test":
      if (!jsonEqual(getValue(doc, path), op.value)) {
        throw new PatchError(422, `testing value ${String(op.path)} failed: test failed`);
      }
      return doc;
    default:
      throw new PatchError(400, `unexpected kind: ${String(op.op)}`);
  }
}

/** Applies an RFC 6902 JSON Patch (add, remove, replace, move, copy, test) to `doc`, which it may modify. */
export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError(400, "json patch must be an array of operations");
  let result = doc;
  for (const op of patch) {
    if (!isObject(op)) throw new PatchError(400, "json patch operation must be an object");
    result = applyOperation(result, op);
  }
  return result;
}

/** Applies an RFC 7386 JSON Merge Patch to `target`. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}
