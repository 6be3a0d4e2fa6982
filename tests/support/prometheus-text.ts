/** One sample line of the text exposition format. */
export interface ExposedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family of a scrape: its `# HELP` and `# TYPE`, and its samples. */
export interface ExposedFamily {
  readonly name: string;
  type: string | undefined;
  help: string | undefined;
  readonly samples: ExposedSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

const unescapeText = (value: string) => value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

/**
 * Reads a Prometheus text scrape (version 0.0.4) into its families, by name; the `_bucket`, `_sum` and
 * `_count` samples of a histogram belong to the histogram's family. Throws on a line it cannot read.
 */
export function parseExposition(text: string): Map<string, ExposedFamily> {
  const families = new Map<string, ExposedFamily>();
  const family = (name: string) => {
    let found = families.get(name);
    if (!found) {
      found = { name, type: undefined, help: undefined, samples: [] };
      families.set(name, found);
    }
    return found;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, what, name = "", rest = ""] = meta;
      if (what === "HELP") family(name).help = unescapeText(rest);
      else family(name).type = rest;
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const [, name = "", labelText = "", value = ""] = sample;
    const labels: Record<string, string> = {};
    for (const [, key = "", raw = ""] of labelText.matchAll(LABEL)) labels[key] = unescapeText(raw);
    const base = name.replace(HISTOGRAM_SUFFIX, "");
    const owner = families.get(base)?.type === "histogram" ? base : name;
    family(owner).samples.push({ name, labels, value: Number(value) });
  }
  return families;
}

/** A metric as a table of docs/operations.md lists it. */
export interface DocumentedMetric {
  readonly name: string;
  readonly type: string;
  readonly labelNames: readonly string[];
  readonly help: string;
}

/**
 * The metric tables of the "Metrics" section of docs/operations.md, by the `###` heading above each
 * ("Every process (web, worker, standalone)", "Web (and standalone)", "Worker (and standalone)").
 */
export function documentedMetrics(operations: string): Map<string, DocumentedMetric[]> {
  const start = operations.indexOf("\n## Metrics\n");
  const end = operations.indexOf("\n## ", start + 1);
  const tables = new Map<string, DocumentedMetric[]>();
  let heading = "";
  for (const line of operations.slice(start, end).split("\n")) {
    if (line.startsWith("### ")) heading = line.slice(4);
    if (!line.startsWith("| `")) continue;
    const [name = "", type = "", labels = "", help = ""] = line
      .slice(1, -1)
      .split("|")
      .map((cell) => cell.trim());
    const rows = tables.get(heading) ?? [];
    rows.push({
      name: name.replace(/`/g, ""),
      type,
      labelNames: [...labels.matchAll(/`([^`]+)`/g)].map(([, label]) => label ?? ""),
      help,
    });
    tables.set(heading, rows);
  }
  return tables;
}
