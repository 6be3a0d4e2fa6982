import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import {
  type LogLine,
  requireBinary,
  type SpawnedBinary,
  spawnBinary,
  workerHealthUrl,
} from "../support/spawn-binary.ts";
import { makeTlsFixtures, type TlsFixtures } from "../support/tls-fixtures.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

// The in-cluster path (service-account token + ca.crt) is not exercised here: the binary always reads
// /var/run/secrets/kubernetes.io/serviceaccount (src/adapters/kube/cluster-access.ts has no setting that
// points it elsewhere), so a test cannot hand it a temporary directory. tests/integration/kube-tls.test.ts
// covers that path in-process.

const STREAM = "kuberollouttrigger";
const b64 = (text: string) => Buffer.from(text).toString("base64");
const opensslAvailable = Bun.which("openssl") !== null;
if (!opensslAvailable) {
  if (process.env.CI === "true") throw new Error("openssl is required in CI to make the TLS fixtures");
  console.warn("SKIPPED: openssl is not installed; the worker TLS tests need it for their certificates");
}

let tls: TlsFixtures;
let dir: string;

beforeAll(async () => {
  if (!opensslAvailable) return;
  tls = await makeTlsFixtures();
  dir = await mkdtemp(join(tmpdir(), "krt-e2e-tls-"));
});
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function readyzStatus(baseUrl: string): Promise<number> {
  try {
    return (await fetch(`${baseUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** A kubeconfig trusting `ca` and presenting `cert`/`key` as the user's client certificate. */
async function writeKubeconfig(name: string, server: string, ca: string, cert: string, key: string) {
  const path = join(dir, `${name}.kubeconfig`);
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "test",
      contexts: [{ name: "test", context: { cluster: "test", user: "test" } }],
      clusters: [{ name: "test", cluster: { server, "certificate-authority-data": b64(ca) } }],
      users: [{ name: "test", user: { "client-certificate-data": b64(cert), "client-key-data": b64(key) } }],
    }),
  );
  return path;
}

/** An HTTPS API server that demands a client certificate signed by the fixture CA, with two Deployments. */
async function startMutualTlsServer(): Promise<KubeApiServer> {
  const server = await startKubeApiServer({
    tls: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca, requireClientCert: true },
  });
  server.create(
    "deployments",
    makeDeployment({ namespace: "a", name: "app", images: ["ghcr.io/acme/app:dev"] }),
  );
  server.create(
    "deployments",
    makeDeployment({ namespace: "a", name: "other", images: ["ghcr.io/acme/other:dev"] }),
  );
  return server;
}

function startWorker(valkeyAddr: string, kubeconfig: string): SpawnedBinary {
  return spawnBinary(["worker"], {
    LOG_LEVEL: "debug",
    VALKEY_ADDR: valkeyAddr,
    ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
    KUBECONFIG: kubeconfig,
    WORKER_HEALTH_ADDR: "127.0.0.1:0",
    WORKLOAD_KINDS: "deployments",
    VALKEY_CONSUMER_NAME: "tls-worker",
  });
}

const isListFailure = (line: LogLine) => line.msg === "list failed; retrying";

describe.skipIf(!requireValkey() || !requireBinary() || !opensslAvailable)(
  "the compiled worker binary over TLS to the API server",
  () => {
    test("with the kubeconfig's CA and client certificate the worker syncs, becomes ready and restarts the matching Deployment", async () => {
      await using valkey = await startValkey();
      await using server = await startMutualTlsServer();
      const kubeconfig = await writeKubeconfig("mtls", server.url, tls.ca, tls.clientCert, tls.clientKey);
      await using worker = startWorker(valkey.addr, kubeconfig);
      const health = await workerHealthUrl(worker);

      const access = await worker.waitForLog((l) => l.msg === "cluster access loaded", 20_000);
      expect(access.ca).toBe("cluster CA");
      expect(access.auth).toBe("client certificate");
      await worker.waitForLog((l) => l.msg === "workload index synced", 20_000);
      await waitFor(async () => (await readyzStatus(health)) === 200, "/readyz to answer 200", 20_000);
      // The index came over the verified, mutually authenticated connection.
      expect(server.count({ verb: "list", resource: "deployments" })).toBeGreaterThan(0);

      const client = await valkey.client();
      const acceptedAt = new Date().toISOString();
      await client.send("XADD", [
        STREAM,
        "*",
        "event",
        JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
        "accepted_at",
        acceptedAt,
        "request_id",
        "tls-e2e-1",
      ]);
      await waitFor(
        () => worker.lines.some((l) => l.msg === "event processed" && l.request_id === "tls-e2e-1"),
        "the event to be processed",
        20_000,
      );
      expect(server.count({ method: "PATCH", namespace: "a", name: "app" })).toBe(1);
      expect(server.count({ method: "PATCH" })).toBe(1);
      // The value is the entry's accepted_at, as the SPEC says for stream delivery.
      const spec = server.get("deployments", "a", "app")?.spec as
        | { template?: { metadata?: { annotations?: Record<string, string> } } }
        | undefined;
      expect(spec?.template?.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"]).toBe(acceptedAt);
      expect(worker.lines.some(isListFailure)).toBe(false);
    }, 40_000);

    test("with a kubeconfig that trusts an unrelated CA the worker never becomes ready, logs a certificate error and keeps retrying", async () => {
      await using valkey = await startValkey();
      await using server = await startMutualTlsServer();
      const kubeconfig = await writeKubeconfig(
        "wrong-ca",
        server.url,
        tls.otherCa,
        tls.clientCert,
        tls.clientKey,
      );
      await using worker = startWorker(valkey.addr, kubeconfig);
      const health = await workerHealthUrl(worker);

      // An event waiting in the stream must not be acted on by a worker whose index never synced.
      const client = await valkey.client();
      await client.send("XADD", [
        STREAM,
        "*",
        "event",
        JSON.stringify({ image: "ghcr.io/acme/app", tags: ["dev"] }),
        "accepted_at",
        new Date().toISOString(),
      ]);

      // Several failed LISTs in a row, each followed by a backoff: it retries instead of giving up or exiting.
      await waitFor(
        () => worker.lines.some((l) => isListFailure(l) && Number(l.attempt) >= 4),
        "a fourth failed LIST",
        30_000,
      );
      const failures = worker.lines.filter(isListFailure);
      for (const line of failures) {
        expect(String(line.error)).toMatch(/certificate/i);
      }
      expect(worker.proc.exitCode).toBeNull();
      expect(worker.proc.signalCode).toBeNull();
      expect(await readyzStatus(health)).toBe(503);
      expect(worker.lines.some((l) => l.msg === "workload index synced")).toBe(false);
      expect(worker.lines.some((l) => l.msg === "reading events")).toBe(false);
      // The handshake fails before any request reaches the server.
      expect(server.requests).toHaveLength(0);
      expect(server.count({ method: "PATCH" })).toBe(0);
    }, 45_000);

    test("with a client certificate from an unrelated CA the server refuses the worker and it never becomes ready", async () => {
      await using valkey = await startValkey();
      await using server = await startMutualTlsServer();
      const kubeconfig = await writeKubeconfig(
        "wrong-client",
        server.url,
        tls.ca,
        tls.otherCert,
        tls.otherKey,
      );
      await using worker = startWorker(valkey.addr, kubeconfig);
      const health = await workerHealthUrl(worker);
      await waitFor(
        () => worker.lines.some((l) => isListFailure(l) && Number(l.attempt) >= 2),
        "a second failed LIST",
        30_000,
      );
      expect(worker.proc.exitCode).toBeNull();
      expect(await readyzStatus(health)).toBe(503);
      expect(server.requests).toHaveLength(0);
    }, 45_000);
  },
);
