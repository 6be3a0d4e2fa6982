/** The longest image repository reference accepted, as in the distribution reference grammar. */
export const MAX_IMAGE_LENGTH = 255;

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Whether the first part of a reference names a registry host (it has a dot, a port, or is localhost). */
function isRegistryHost(part: string): boolean {
  return part.includes(".") || part.includes(":") || part === "localhost";
}

/**
 * Says what is wrong with an image repository reference (registry host optional, lowercase path,
 * at least one `/`, no tag, no digest), or returns undefined when it is valid.
 */
export function describeImageProblem(image: string): string | undefined {
  if (image === "") return "image must not be empty";
  if (image.length > MAX_IMAGE_LENGTH) return `image must be at most ${MAX_IMAGE_LENGTH} characters`;
  if (image.includes("@")) return "image must not include a digest (@sha256:…): give the repository only";
  const parts = image.split("/");
  if (parts.length < 2) return `image "${image}" must contain at least one "/", such as ghcr.io/org/app`;
  const [first = "", ...rest] = parts;
  const last = parts.at(-1) ?? "";
  const tagAt = last.indexOf(":");
  if (tagAt >= 0) {
    const repository = image.slice(0, image.length - last.length + tagAt);
    return `image must not include a tag: send "${repository}" and put "${last.slice(tagAt + 1)}" in tags`;
  }
  const hasHost = isRegistryHost(first);
  if (hasHost && !DOMAIN.test(first)) return `image registry host "${first}" is not a valid host[:port]`;
  const path = hasHost ? rest : parts;
  const bad = path.find((part) => !PATH_COMPONENT.test(part));
  if (bad !== undefined) {
    return `image path component "${bad}" is not valid: use lowercase letters, digits and single separators (. _ __ -)`;
  }
  return undefined;
}

/**
 * Whether `image` is under `prefix`. A prefix ending in `/` is a plain string prefix; any other prefix
 * matches only at a path boundary, so `ghcr.io/acme` admits `ghcr.io/acme/app`, never `ghcr.io/acme-evil/app`.
 */
export function imageHasPrefix(image: string, prefix: string): boolean {
  if (prefix.endsWith("/")) return image.startsWith(prefix);
  return image === prefix || image.startsWith(`${prefix}/`);
}

/** Whether `tag` is a valid OCI tag. */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}
