/**
 * The tags of an event as CI steps give them: a comma-separated list, as the published action
 * (`UnitVectorY-Labs/kuberollouttrigger-action` v0.2.0 and later) reads its `tags` input.
 */

const SEMVER = /^v(\d+)\.(\d+)\.(\d+)$/;

/** The entries of a comma-separated list, each trimmed, empty ones dropped (possibly none). */
export function parseTagList(text: string): string[] {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter((tag) => tag !== "");
}

/**
 * The published action's `expand-versions`: every `vMAJOR.MINOR.PATCH` becomes `vMAJOR`,
 * `vMAJOR.MINOR`, `vMAJOR.MINOR.PATCH`, in that order; other tags pass unchanged; duplicates are
 * removed, the first occurrence kept.
 */
export function expandVersions(tags: readonly string[]): string[] {
  const expanded = tags.flatMap((tag) => {
    const match = SEMVER.exec(tag);
    if (!match) return [tag];
    const [, major, minor] = match;
    return [`v${major}`, `v${major}.${minor}`, tag];
  });
  return [...new Set(expanded)];
}
