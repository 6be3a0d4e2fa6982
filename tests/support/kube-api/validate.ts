import { isObject } from "./json-patch.ts";
import type { ResourceInfo } from "./resources.ts";
import { StoreError } from "./store.ts";

function checkStringMap(value: unknown, field: string, causes: string[]): void {
  if (value === undefined) return;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
    causes.push(`${field}: Invalid value: must be a map of strings`);
  }
}

function checkContainers(value: unknown, field: string, required: boolean, causes: string[]): void {
  if (value === undefined) {
    if (required) causes.push(`${field}: Required value`);
    return;
  }
  if (!Array.isArray(value)) {
    causes.push(`${field}: Invalid value: must be a list`);
    return;
  }
  value.forEach((container, i) => {
    if (!isObject(container)) causes.push(`${field}[${i}]: Invalid value: must be an object`);
    else {
      if (typeof container.name !== "string" || container.name === "")
        causes.push(`${field}[${i}].name: Required value`);
      if (typeof container.image !== "string" || container.image === "") {
        causes.push(`${field}[${i}].image: Required value`);
      }
    }
  });
}

/**
 * The few validations of the real API server that matter to restarts: string-valued labels and annotations
 * and containers with a name and an image. Throws a 422 Invalid StoreError listing every cause.
 */
export function validateWorkload(info: ResourceInfo, obj: unknown): void {
  const causes: string[] = [];
  const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : undefined;
  if (meta === undefined) causes.push("metadata: Required value");
  checkStringMap(meta?.labels, "metadata.labels", causes);
  checkStringMap(meta?.annotations, "metadata.annotations", causes);
  const spec = isObject(obj) && isObject(obj.spec) ? obj.spec : undefined;
  const template = spec !== undefined && isObject(spec.template) ? spec.template : undefined;
  if (template !== undefined) {
    const templateMeta = isObject(template.metadata) ? template.metadata : undefined;
    checkStringMap(templateMeta?.labels, "spec.template.metadata.labels", causes);
    checkStringMap(templateMeta?.annotations, "spec.template.metadata.annotations", causes);
    const podSpec = isObject(template.spec) ? template.spec : {};
    checkContainers(podSpec.containers, "spec.template.spec.containers", true, causes);
    checkContainers(podSpec.initContainers, "spec.template.spec.initContainers", false, causes);
  }
  if (causes.length > 0) {
    const name = meta !== undefined && typeof meta.name === "string" ? meta.name : "";
    throw new StoreError(
      422,
      "Invalid",
      `${info.kind}.${info.group} "${name}" is invalid: ${causes.join(", ")}`,
    );
  }
}
