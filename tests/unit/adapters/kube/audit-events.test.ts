import { expect, test } from "bun:test";
import { createAuditEvents, missingEventRule } from "../../../../src/adapters/kube/audit-events.ts";
import type { KubeResponse } from "../../../../src/adapters/kube/kube-client.ts";
import { createLogger } from "../../../../src/log.ts";

const REF = { resource: "deployments", namespace: "shop", name: "api" } as const;
const FACTS = {
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  restartedAt: "2025-01-01T00:00:00.000Z",
  claims: undefined,
  repository: undefined,
};
const forbidden: KubeResponse = {
  ok: false,
  status: {
    code: 403,
    reason: "Forbidden",
    message: "events.events.k8s.io is forbidden",
    retryAfterSeconds: undefined,
  },
};

function logged() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }) };
}

test("posts one Event per restart to the workload's namespace", async () => {
  const paths: string[] = [];
  const { log } = logged();
  const audit = createAuditEvents({
    client: {
      request: async (_method, path) => {
        paths.push(path);
        return { ok: true, status: 201, text: "{}" };
      },
    },
    log,
    reportingInstance: "w",
  });
  audit.restarted(REF, FACTS);
  await audit.settled();
  expect(paths).toEqual(["/apis/events.k8s.io/v1/namespaces/shop/events"]);
});

test("after the first 403 it warns once, naming the missing rule, and tries no more", async () => {
  let calls = 0;
  const { log, lines } = logged();
  const audit = createAuditEvents({
    client: {
      request: async () => {
        calls++;
        return forbidden;
      },
    },
    log,
    reportingInstance: "w",
  });
  audit.restarted(REF, FACTS);
  await audit.settled();
  audit.restarted(REF, FACTS);
  await audit.settled();
  expect(calls).toBe(1);
  const warnings = lines.filter((line) => line.level === "WARN");
  expect(warnings).toHaveLength(1);
  expect(warnings[0]?.missing_rule).toBe(missingEventRule("shop"));
  expect(missingEventRule("shop")).toBe('create events.events.k8s.io in namespace "shop"');
});

test("lets a write go when too many are in flight, and logs failures at debug only", async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  const { log, lines } = logged();
  const audit = createAuditEvents({
    client: {
      request: async () => {
        calls++;
        await gate;
        throw new Error("connection refused");
      },
    },
    log,
    reportingInstance: "w",
    maxInFlight: 1,
  });
  audit.restarted(REF, FACTS);
  audit.restarted(REF, FACTS);
  release();
  await audit.settled();
  expect(calls).toBe(1);
  expect(lines.filter((line) => line.level !== "DEBUG")).toEqual([]);
});
