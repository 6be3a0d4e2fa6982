import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createWorkloadPatcher } from "../../src/adapters/kube/workload-patcher.ts";
import { SETTINGS, type Setting } from "../../src/config/settings.ts";
import type { MetricDescription } from "../../src/core/metrics.ts";
import { WORKLOAD_KINDS } from "../../src/core/workload-kind.ts";
import { createLogger } from "../../src/log.ts";
import { createWebMetrics } from "../../src/web/web-metrics.ts";
import { createMetricsRegistry } from "../../src/wiring/metrics-registry.ts";
import { registerIndexMetrics } from "../../src/worker/index-metrics.ts";
import { registerStreamGroupMetrics } from "../../src/worker/stream-group-metrics.ts";
import { registerStreamMetrics } from "../../src/worker/stream-metrics.ts";
import { createValkeyConnectedGauge, createWorkerMetrics } from "../../src/worker/worker-metrics.ts";
import { type DocumentedMetric, documentedMetrics } from "../support/prometheus-text.ts";
import { type K8sObject, ROOT } from "./rendered.ts";

// Holds docs/ to the code: a default, flag or metric name that changes in src/ without the docs (or
// the other way round) fails here.

const read = (path: string) => Bun.file(join(ROOT, path)).text();

/** The rows of every Markdown table in `text` whose first cell is a backticked name, by that name. */
function tableRows(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const cells = line
      .slice(1, line.endsWith("|") ? -1 : undefined)
      .split(" | ")
      .map((cell) => cell.trim());
    const name = /^`([^`]+)`$/.exec(cells[0] ?? "")?.[1];
    if (name) rows.set(name, cells);
  }
  return rows;
}

/** How docs/configuration.md writes a setting's default. */
function documentedDefault(setting: Setting): string {
  if (setting.default !== undefined && setting.default !== "") return `\`${setting.default}\``;
  if (setting.default === "") return "empty";
  if (setting.derivedDefault !== undefined)
    return setting.derivedDefault.startsWith("<") ? `\`${setting.derivedDefault}\`` : setting.derivedDefault;
  if (setting.requiredIn && setting.requiredIn.length > 0) {
    const what = setting.requiredOr ? `\`${setting.env}\` or \`${setting.requiredOr}\` required` : "required";
    return setting.requiredIn.length === setting.modes.length
      ? what
      : `${what} in ${setting.requiredIn.join(", ")}`;
  }
  return "none";
}

const METRIC = /\bkuberollouttrigger_[a-z0-9_]*[a-z0-9]\b/g;
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

async function sourceFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const path of new Bun.Glob("src/**/*.ts").scan({ cwd: ROOT }))
    files.set(path, await Bun.file(join(ROOT, path)).text());
  return files;
}

/** What every process declares, then what the web and the worker declare on top, as the wiring does. */
function declaredMetrics(): Record<"every" | "web" | "worker", MetricDescription[]> {
  const every = createMetricsRegistry().describe();
  const web = createMetricsRegistry();
  createWebMetrics(web);
  const worker = createMetricsRegistry();
  createWorkerMetrics(worker);
  createValkeyConnectedGauge(worker);
  registerIndexMetrics(worker);
  const request = async () => ({ ok: true as const, status: 200, text: "{}" });
  createWorkloadPatcher({ client: { request }, log: createLogger({ write: () => {} }), registry: worker });
  registerStreamMetrics(worker);
  registerStreamGroupMetrics(worker);
  const own = (registry: typeof web) => registry.describe().slice(every.length);
  return { every, web: own(web), worker: own(worker) };
}

const asRows = (metrics: readonly (MetricDescription | DocumentedMetric)[]) =>
  metrics
    .map(({ name, type, labelNames, help }) => ({ name, type, labelNames: [...labelNames], help }))
    .sort((a, b) => a.name.localeCompare(b.name));

describe("docs/configuration.md", () => {
  test("lists every setting of the settings table with its flag, default and modes", async () => {
    const rows = tableRows(await read("docs/configuration.md"));
    const problems: string[] = [];
    for (const setting of SETTINGS) {
      const row = rows.get(setting.env);
      if (!row) {
        problems.push(`${setting.env}: no row`);
        continue;
      }
      const [, flag, fallback, modes, description] = row;
      if (flag !== `\`--${setting.flag}\``)
        problems.push(`${setting.env}: flag ${flag}, expected --${setting.flag}`);
      if (fallback !== documentedDefault(setting))
        problems.push(`${setting.env}: default ${fallback}, expected ${documentedDefault(setting)}`);
      if (modes !== setting.modes.join(", ")) problems.push(`${setting.env}: modes ${modes}`);
      if (!description) problems.push(`${setting.env}: no description`);
    }
    expect(problems).toEqual([]);
  });

  test("lists no variable that is not a setting", async () => {
    const rows = tableRows(await read("docs/configuration.md"));
    const known = new Set(SETTINGS.map((s) => s.env));
    expect([...rows.keys()].filter((name) => /^[A-Z_]+$/.test(name) && !known.has(name))).toEqual([]);
  });
});

describe("docs/operations.md", () => {
  test("names only metrics that the source code defines", async () => {
    const documented = new Set(
      [...(await read("docs/operations.md")).matchAll(METRIC)].map(([name]) =>
        name.replace(HISTOGRAM_SERIES, ""),
      ),
    );
    expect(documented.size).toBeGreaterThan(0);
    const sources = [...(await sourceFiles()).values()].join("\n");
    const missing = [...documented].filter((name) => !new RegExp(`["'\`]${name}["'\`]`).test(sources));
    expect(missing).toEqual([]);
  });

  test("documents every metric name that the source code defines", async () => {
    const operations = await read("docs/operations.md");
    const defined = new Set<string>();
    for (const text of (await sourceFiles()).values())
      for (const [, name] of text.matchAll(/["'`](kuberollouttrigger_[a-z0-9_]*[a-z0-9])["'`]/g))
        if (name) defined.add(name);
    expect([...defined].filter((name) => !operations.includes(`\`${name}\``))).toEqual([]);
  });

  test("lists each process's metrics with the type, label names and help text they are declared with", async () => {
    const tables = documentedMetrics(await read("docs/operations.md"));
    const declared = declaredMetrics();
    expect(asRows(tables.get("Every process (web, worker, standalone)") ?? [])).toEqual(
      asRows(declared.every),
    );
    expect(asRows(tables.get("Web (and standalone)") ?? [])).toEqual(asRows(declared.web));
    expect(asRows(tables.get("Worker (and standalone)") ?? [])).toEqual(asRows(declared.worker));
  });

  test("says that the kind label carries the Kinds, spelled as the API spells them", async () => {
    const operations = await read("docs/operations.md");
    const line = operations.split("\n").find((l) => l.startsWith("- `kind`:")) ?? "";
    const paragraph = operations.slice(operations.indexOf(line)).split("\n- ")[0] ?? "";
    for (const { kind } of Object.values(WORKLOAD_KINDS)) expect(paragraph).toContain(`\`${kind}\``);
  });

  test("describes a troubleshooting section for every status code the web answers", async () => {
    const operations = await read("docs/operations.md");
    for (const status of [400, 401, 403, 404, 405, 413, 502, 503])
      expect(operations).toMatch(new RegExp(`^### .*\\b${status}\\b`, "m"));
  });

  test("quotes the log messages that the source code writes", async () => {
    const operations = await read("docs/operations.md");
    const quoted = [...operations.matchAll(/^\| `([a-z][^`]*)` \| (?:web|worker|all)/gm)].map(
      ([, msg]) => msg,
    );
    expect(quoted.length).toBeGreaterThan(0);
    const sources = [...(await sourceFiles()).values()].join("\n");
    expect(quoted.filter((msg) => !sources.includes(`"${msg}"`))).toEqual([]);
  });
});

describe("the documentation set", () => {
  test("has every page the README links to", () => {
    for (const page of [
      "architecture",
      "configuration",
      "deployment",
      "github-actions",
      "security",
      "operations",
    ])
      expect(existsSync(join(ROOT, `docs/${page}.md`)), page).toBe(true);
  });

  test("links only to files and headings that exist", async () => {
    const broken: string[] = [];
    for await (const page of new Bun.Glob("docs/**/*.md").scan({ cwd: ROOT })) {
      const text = await read(page);
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split("#");
        const path = file ? join(dirname(join(ROOT, page)), file) : join(ROOT, page);
        if (!existsSync(path)) broken.push(`${page}: ${target}`);
        else if (anchor && path.endsWith(".md")) {
          const slugs = [...(await Bun.file(path).text()).matchAll(/^#+ (.+)$/gm)].map(([, title]) =>
            (title ?? "")
              .toLowerCase()
              .replace(/[^a-z0-9 -]/g, "")
              .replace(/ /g, "-"),
          );
          if (!slugs.includes(anchor)) broken.push(`${page}: ${target}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("docs/examples/build-and-trigger.yml", () => {
  const load = async () => Bun.YAML.parse(await read("docs/examples/build-and-trigger.yml")) as K8sObject;
  const stepsOf = (workflow: K8sObject): K8sObject[] =>
    Object.values(workflow.jobs ?? {}).flatMap((job) => (job as K8sObject).steps ?? []);
  const LOWERCASE_NAME = "$" + "{GITHUB_REPOSITORY,,}";

  test("grants id-token: write, packages: write and contents: read", async () => {
    const workflow = await load();
    for (const job of Object.values(workflow.jobs ?? {}) as K8sObject[]) {
      const permissions = { ...workflow.permissions, ...job.permissions };
      expect(permissions).toEqual({ "id-token": "write", packages: "write", contents: "read" });
    }
  });

  test("calls the published action with url, audience, image and tags, pinned, never webhook-url", async () => {
    const trigger = stepsOf(await load()).find((step) =>
      String(step.uses).startsWith("UnitVectorY-Labs/kuberollouttrigger-action@"),
    );
    expect(trigger).toBeDefined();
    expect(trigger?.uses).not.toMatch(/@(main|master)$/);
    expect(Object.keys(trigger?.with ?? {}).sort()).toEqual(["audience", "image", "tags", "url"]);
  });

  test("lowercases the image name once and uses it to push and to trigger", async () => {
    const steps = stepsOf(await load());
    const naming = steps.find((step) => String(step.run ?? "").includes(LOWERCASE_NAME));
    expect(naming?.id).toBeDefined();
    const output = `${"$"}{{ steps.${naming?.id}.outputs.name }}`;
    const trigger = steps.find((step) => String(step.uses).includes("kuberollouttrigger-action"));
    expect(trigger?.with.image).toBe(output);
    const build = steps.find((step) => String(step.uses).startsWith("docker/build-push-action@"));
    expect(build?.with.tags).toBe(`${output}:${trigger?.with.tags}`);
    const text = await read("docs/examples/build-and-trigger.yml");
    expect(text).not.toMatch(/ghcr\.io\/\$\{\{\s*github\.repository\s*\}\}/);
  });
});
