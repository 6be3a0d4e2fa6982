/** A compiled selector: `matches(namespace, name, json)`; `undefined` when the request has no usable one. */
export type ObjectFilter = (namespace: string, name: string, json: string) => boolean;

interface Term {
  readonly key: string;
  readonly op: "=" | "!=" | "exists" | "!exists";
  readonly value: string;
}

function parseTerms(selector: string | null): Term[] {
  if (selector === null || selector.trim() === "") return [];
  const terms: Term[] = [];
  for (const raw of selector.split(",")) {
    const part = raw.trim();
    const match = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (match !== null) {
      const [, key = "", op, value = ""] = match;
      terms.push({ key, op: op === "!=" ? "!=" : "=", value: value.trim() });
    } else if (/^![^\s]+$/.test(part)) terms.push({ key: part.slice(1), op: "!exists", value: "" });
    else if (/^[^\s()]+$/.test(part)) terms.push({ key: part, op: "exists", value: "" });
    // Set-based terms ("in", "notin") are not supported; they are ignored rather than refused.
  }
  return terms;
}

function termHolds(term: Term, actual: string | undefined): boolean {
  switch (term.op) {
    case "=":
      return actual === term.value;
    case "!=":
      return actual !== term.value;
    case "exists":
      return actual !== undefined;
    case "!exists":
      return actual === undefined;
  }
}

function fieldValue(key: string, namespace: string, name: string): string | undefined {
  if (key === "metadata.name") return name;
  if (key === "metadata.namespace") return namespace;
  return undefined;
}

/**
 * Compiles `fieldSelector` (only `metadata.name` and `metadata.namespace`; other fields are ignored) and
 * equality-based `labelSelector` terms into one filter.
 */
export function compileSelectors(
  fieldSelector: string | null,
  labelSelector: string | null,
): ObjectFilter | undefined {
  const fields = parseTerms(fieldSelector).filter(
    (t) => t.key === "metadata.name" || t.key === "metadata.namespace",
  );
  const labels = parseTerms(labelSelector);
  if (fields.length === 0 && labels.length === 0) return undefined;
  return (namespace, name, json) => {
    if (!fields.every((t) => termHolds(t, fieldValue(t.key, namespace, name)))) return false;
    if (labels.length === 0) return true;
    const parsed = JSON.parse(json) as { metadata?: { labels?: Record<string, string> } };
    const objLabels = parsed.metadata?.labels ?? {};
    return labels.every((t) => termHolds(t, objLabels[t.key]));
  };
}
