import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type BinaryPair, startBinaryPair } from "../support/binary-pair.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { requireBinary, type SpawnedBinary } from "../support/spawn-binary.ts";
import { TEST_ORG, unsignedToken } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";

// The web and the worker decide with the same policy: the web on the token's claims and the event, the
// worker again on the claims the stream entry carries, for every matched workload (its annotation, the
// namespaces the policy file allows). Runs the compiled binaries on a real Valkey and API test server.

const ALLOW = "kuberollouttrigger.io/allowed-repositories";
const POLICY = `rules:
  - repository: ${TEST_ORG}/app
    images: ["ghcr.io/acme/app"]
    namespaces: ["app-*"]
`;

describe.skipIf(!requireValkey() || !requireBinary())(
  "the claim policy across web and worker binaries",
  () => {
    let valkey: TestValkey;
    let server: KubeApiServer;
    let pair: BinaryPair;
    let worker: SpawnedBinary;

    beforeAll(async () => {
      valkey = await startValkey();
      server = await startKubeApiServer();
      const app = (namespace: string, name: string, annotations: Record<string, string> = {}) =>
        server.create(
          "deployments",
          makeDeployment({ namespace, name, images: ["ghcr.io/acme/app:dev"], annotations }),
        );
      app("app-dev", "open");
      app("app-dev", "mine", { [ALLOW]: `${TEST_ORG}/app` });
      app("app-dev", "theirs", { [ALLOW]: `${TEST_ORG}/tools-*` });
      app("kube-system", "elsewhere");
      pair = await startBinaryPair({
        valkeyAddr: valkey.addr,
        apiServerUrl: server.url,
        files: { "policy.yaml": POLICY },
        common: (dir) => ({ POLICY_FILE: join(dir, "policy.yaml") }),
        worker: { LOG_LEVEL: "debug" },
      });
      worker = pair.worker;
    });

    afterAll(async () => {
      await pair?.[Symbol.asyncDispose]();
      await server.close();
      await valkey[Symbol.asyncDispose]();
    });

    const post = (image: string, claims: Record<string, unknown> = {}) =>
      fetch(pair.eventUrl, {
        method: "POST",
        headers: { authorization: `Bearer ${unsignedToken({ claims })}`, "content-type": "application/json" },
        body: JSON.stringify({ image, tags: ["dev"] }),
      });

    test("the web refuses an image no rule of the sender allows, and a repository no rule names, with 403 and nothing queued", async () => {
      const image = await post("ghcr.io/acme/other");
      expect(image.status).toBe(403);
      expect(((await image.json()) as { reason: string }).reason).toBe("policy_image");
      const stranger = await post("ghcr.io/acme/app", { repository: `${TEST_ORG}/stranger` });
      expect(stranger.status).toBe(403);
      expect(((await stranger.json()) as { reason: string }).reason).toBe("policy_repository");
      const client = await valkey.client();
      expect(Number(await client.send("XLEN", ["kuberollouttrigger"]))).toBe(0);
    });

    test("the worker restarts only the workloads in allowed namespaces whose annotation, if any, names the sender", async () => {
      const response = await post("ghcr.io/acme/app");
      expect(response.status).toBe(202);
      const { request_id: requestId } = (await response.json()) as { request_id: string };
      const line = await worker.waitForLog(
        (l) => l.msg === "event processed" && l.request_id === requestId,
        20_000,
      );
      expect(line.restarted).toEqual(["Deployment/app-dev/mine", "Deployment/app-dev/open"]);
      expect(line.refused).toEqual(["Deployment/app-dev/theirs", "Deployment/kube-system/elsewhere"]);
      const patched = server.requests
        .filter((r) => r.method === "PATCH")
        .map((r) => `${r.namespace}/${r.name}`);
      expect(patched.sort()).toEqual(["app-dev/mine", "app-dev/open"]);
      const reasons = worker.lines
        .filter((l) => l.msg === "workload left alone by policy" && l.request_id === requestId)
        .map((l) => `${l.name}:${l.reason}`)
        .sort();
      expect(reasons).toEqual(["elsewhere:namespace", "theirs:annotation"]);
    });
  },
);
