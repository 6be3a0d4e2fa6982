import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BinaryPair, sendAndWait, startBinaryPair } from "../support/binary-pair.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary } from "../support/spawn-binary.ts";
import { TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// The compiled worker on a cluster that has Argo Rollouts: discovery adds the kind, a Rollout restarts
// through spec.restartAt and its rollout is followed to complete, and every restarted workload gets a
// RolloutTriggered Event naming the run that caused it.

describe.skipIf(!requireValkey() || !requireBinary())(
  "the worker binary with Argo Rollouts and audit Events",
  () => {
    let valkey: TestValkey;
    let server: KubeApiServer;
    let pair: BinaryPair;
    let url = "";

    beforeAll(async () => {
      valkey = await startValkey();
      server = await startKubeApiServer({ argoRollouts: true });
      server.setRolloutDelay(50);
      server.create(
        "rollouts",
        makeDeployment({ kind: "Rollout", namespace: "shop", name: "api", images: ["ghcr.io/acme/app:dev"] }),
      );
      server.create(
        "deployments",
        makeDeployment({ namespace: "shop", name: "web", images: ["ghcr.io/acme/app:dev"] }),
      );
      pair = await startBinaryPair({ valkeyAddr: valkey.addr, apiServerUrl: server.url });
      url = pair.eventUrl;
    });

    afterAll(async () => {
      await pair?.[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
    });

    test("restarts a Rollout through spec.restartAt and a Deployment beside it, follows both to complete, and records an Event on each", async () => {
      const claims = {
        run_id: "4242",
        sha: "feedbeef",
        actor: "octocat",
        job_workflow_ref: `${TEST_ORG}/app/.github/workflows/build.yml@refs/heads/main`,
      };
      const token = unsignedToken({ claims });
      const result = await sendAndWait(url, "ghcr.io/acme/app", token);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("Rollout shop/api: complete");
      expect(result.stdout).toContain("Deployment shop/web: complete");
      const rollout = server.get("rollouts", "shop", "api") as { spec: { restartAt?: string } };
      expect(rollout.spec.restartAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      await waitFor(() => server.events("shop").length === 2, "an Event on each restarted workload");
      const events = server.events("shop") as unknown as {
        reason: string;
        note: string;
        regarding: { kind: string };
      }[];
      expect(events.map((e) => e.regarding.kind).sort()).toEqual(["Deployment", "Rollout"]);
      for (const event of events) {
        expect(event.reason).toBe("RolloutTriggered");
        expect(event.note).toContain("run 4242");
        expect(event.note).toContain("sha feedbeef");
        expect(event.note).toContain("actor octocat");
      }
    }, 45_000);
  },
);
