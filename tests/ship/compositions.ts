import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type K8sObject, OVERLAYS, ROOT, render, renderComponents } from "./rendered.ts";

/** The components the base itself includes (components/image), named by directory. */
const BASE_COMPONENTS: ReadonlySet<string> = new Set(
  (
    (Bun.YAML.parse(readFileSync(join(ROOT, "manifests/base/kustomization.yaml"), "utf8")) as K8sObject)
      .components ?? []
  ).map((path: string) => path.split("/").pop()),
);

/** Every directory under manifests/components that a user may list: all but those the base includes. */
export const OPTIONAL_COMPONENTS: readonly string[] = readdirSync(join(ROOT, "manifests/components"), {
  withFileTypes: true,
})
  .filter((entry) => entry.isDirectory() && !BASE_COMPONENTS.has(entry.name))
  .map((entry) => entry.name)
  .sort();

/** The heading of docs/deployment.md whose table lists the components. */
export const COMPONENTS_HEADING = "## Components";

/**
 * The rows of the components table of docs/deployment.md: for each component (a backticked name in the
 * first cell), the components its last cell names, with which it must not be combined.
 */
export function readComponentTable(markdown: string): Map<string, Set<string>> {
  const start = markdown.indexOf(`\n${COMPONENTS_HEADING}\n`);
  if (start === -1) throw new Error(`docs/deployment.md has no "${COMPONENTS_HEADING}" section`);
  const end = markdown.indexOf("\n## ", start + 1);
  const rows = new Map<string, Set<string>>();
  for (const line of markdown.slice(start, end === -1 ? undefined : end).split("\n")) {
    const cells = line.split(" | ").map((cell) => cell.replace(/^\|\s*|\s*\|$/g, "").trim());
    const name = /^`([a-z0-9-]+)`$/.exec(cells[0] ?? "")?.[1];
    if (!name || cells.length < 3) continue;
    rows.set(name, new Set([...(cells.at(-1) ?? "").matchAll(/`([a-z0-9-]+)`/g)].map(([, n]) => n ?? "")));
  }
  return rows;
}

const table = readComponentTable(readFileSync(join(ROOT, "docs/deployment.md"), "utf8"));

/** Whether docs/deployment.md marks the two components as not to be combined (in either row). */
export const exclusive = (a: string, b: string): boolean =>
  (table.get(a)?.has(b) ?? false) || (table.get(b)?.has(a) ?? false);

/** Every unordered pair of optional components that the docs do not mark as exclusive. */
export const COMPATIBLE_PAIRS: readonly (readonly [string, string])[] = OPTIONAL_COMPONENTS.flatMap((a, i) =>
  OPTIONAL_COMPONENTS.slice(i + 1)
    .filter((b) => !exclusive(a, b))
    .map((b) => [a, b] as const),
);

/** The largest sets of optional components without an exclusive pair: nothing compatible can be added. */
export function largestCompatibleSets(): string[][] {
  const sets: string[][] = [];
  for (let mask = 1; mask < 1 << OPTIONAL_COMPONENTS.length; mask++) {
    const set = OPTIONAL_COMPONENTS.filter((_, i) => mask & (1 << i));
    const fits = (other: string) => set.every((member) => member === other || !exclusive(member, other));
    if (!set.every(fits)) continue;
    if (OPTIONAL_COMPONENTS.every((other) => set.includes(other) || !fits(other))) sets.push(set);
  }
  return sets;
}

/** How tests name the base with components: `base + a + b`. */
export const compositionName = (components: readonly string[]): string => ["base", ...components].join(" + ");

/**
 * What the manifest tests render: the base, the base with each optional component, the base with each
 * largest compatible set, and every overlay (overlays/example: the docs' quick start).
 */
export const KUSTOMIZATIONS: readonly string[] = [
  "base",
  ...OPTIONAL_COMPONENTS.map((name) => compositionName([name])),
  ...largestCompatibleSets().map(compositionName),
  ...OVERLAYS,
];

/** Renders one of {@link KUSTOMIZATIONS}: a path under manifests/, or a `base + …` composition. */
export function renderKustomization(name: string): K8sObject[] {
  const [first, ...components] = name.split(" + ");
  return components.length > 0 && first === "base" ? renderComponents(components) : render(name);
}
