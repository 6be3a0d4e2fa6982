import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkRules, requirePromtool, testRules } from "../support/promtool.ts";
import { type K8sObject, ROOT } from "./rendered.ts";

// The PrometheusRule of components/monitoring and the alerts of docs/operations.md are one set of
// alerts written twice (the docs' block is the rule file for a Prometheus without the Operator): a
// change to one without the other, or a rule Prometheus would refuse, fails here.

const read = (path: string) => Bun.file(join(ROOT, path)).text();

async function ruleGroups(): Promise<K8sObject[]> {
  const rule = Bun.YAML.parse(
    await read("manifests/components/monitoring/prometheus-rule.yaml"),
  ) as K8sObject;
  expect(rule.kind).toBe("PrometheusRule");
  return rule.spec.groups;
}

async function documentedGroups(): Promise<K8sObject[]> {
  const text = await read("docs/operations.md");
  const section = text.slice(text.indexOf("\n## Alerts\n"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/operations.md has no YAML block under "## Alerts"');
  return (Bun.YAML.parse(block) as K8sObject).groups;
}

const alertsOf = (groups: readonly K8sObject[]) =>
  groups.flatMap((group) => (group.rules ?? []).map((rule: K8sObject) => rule.alert));

describe("the alerts", () => {
  test("of the PrometheusRule are exactly those of docs/operations.md, expressions and all", async () => {
    expect(await ruleGroups()).toEqual(await documentedGroups());
  });

  test("name each alert once, with a severity and a summary", async () => {
    const groups = await ruleGroups();
    const names = alertsOf(groups);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of groups.flatMap((group) => group.rules)) {
      expect(["warning", "critical"], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeString();
    }
  });
});

describe.skipIf(!requirePromtool())("promtool on the alerts", () => {
  test("check rules accepts the groups of the PrometheusRule", async () => {
    const result = checkRules(await ruleGroups());
    expect(result.output).toContain(`SUCCESS: ${alertsOf(await ruleGroups()).length} rules found`);
    expect(result.exitCode, result.output).toBe(0);
  });

  test("test rules fires the Valkey-down alert for a pod whose gauge reads 0, never for a standalone pod without the gauge", async () => {
    const tests = await Bun.file(join(import.meta.dir, "fixtures/valkey-down.promtool-test.yaml")).text();
    const result = testRules(await ruleGroups(), tests);
    expect(result.exitCode, result.output).toBe(0);
  });
});
