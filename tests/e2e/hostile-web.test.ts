import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisClient, Socket } from "bun";
import {
  createHostileKeys,
  HONEST_EVENT,
  type HostileCase,
  type HostileKeys,
  hostileRequest,
  hostileToken,
  loadHostileFixture,
  mergeClaims,
  type WebName,
} from "../support/hostile-cases.ts";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import { type KubeApiServer, makeDeployment, startKubeApiServer } from "../support/kube-api-server.ts";
import { sandboxKubeconfig } from "../support/sandbox-cluster.ts";
import {
  baseUrlOf,
  requireBinary,
  type SpawnedBinary,
  spawnBinary,
  workerHealthUrl,
} from "../support/spawn-binary.ts";
import { jwksOf } from "../support/tokens.ts";
import { requireValkey, startValkey, type TestValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { webEnv } from "../support/web-fixtures.ts";
import { rawExchange, rawJson } from "../support/web-raw-http.ts";

// Every hostile request of tests/fixtures/hostile/web-cases.json against the compiled web, each answered
// as the table says with nothing added to Valkey; a worker follows the stream throughout, and the last
// test shows it patched once for each event that was accepted and for nothing else.

const fixture = loadHostileFixture();
const STREAM = "kuberollouttrigger";
/** The workload every accepted event restarts, and decoys named like the images hostile cases send. */
const RESTARTED = { name: "app", image: "ghcr.io/acme/app:dev" };
const DECOYS = [
  "acme/other",
  "acme/app-evil",
  "acme/apps",
  "acme-evil/app",
  "evil/acme/app",
  "acme/tools-cli",
];

interface RunningWeb {
  readonly binary: SpawnedBinary;
  readonly base: string;
  readonly port: number;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

describe.skipIf(!requireValkey() || !requireBinary())("hostile requests to the web binary", () => {
  let keys: HostileKeys;
  let jwks: JwksServer;
  let valkey: TestValkey;
  let admin: RedisClient;
  let cluster: KubeApiServer;
  let dir: string;
  let worker: SpawnedBinary;
  const webs = new Map<WebName, RunningWeb>();
  /** The request ids of the events the webs accepted: the worker must restart for these and no others. */
  const accepted: string[] = [];

  async function startWebBinary(name: WebName): Promise<void> {
    const env = { ...fixture.profiles[name].env, GITHUB_OIDC_JWKS_URL: jwks.url, VALKEY_ADDR: valkey.addr };
    const binary = spawnBinary(["web"], webEnv(env));
    const base = baseUrlOf(await binary.waitForLog((line) => line.msg === "web listening", 20_000));
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, `the ${name} web`, 20_000);
    webs.set(name, { binary, base, port: Number(new URL(base).port) });
  }

  async function startWorker(): Promise<void> {
    cluster = await startKubeApiServer();
    cluster.create(
      "deployments",
      makeDeployment({ namespace: "a", ...RESTARTED, images: [RESTARTED.image] }),
    );
    for (const [i, path] of DECOYS.entries())
      cluster.create(
        "deployments",
        makeDeployment({ namespace: "a", name: `decoy-${i}`, images: [`ghcr.io/${path}:dev`] }),
      );
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, sandboxKubeconfig(cluster.url));
    // The widest prefix: whatever a web let through and a workload runs, this worker would restart.
    worker = spawnBinary(["worker"], {
      VALKEY_ADDR: valkey.addr,
      ALLOWED_IMAGE_PREFIX: "ghcr.io/",
      KUBECONFIG: kubeconfig,
      WORKER_HEALTH_ADDR: "127.0.0.1:0",
    });
    const health = await workerHealthUrl(worker);
    await waitFor(async () => (await fetch(`${health}/readyz`)).status === 200, "the worker", 20_000);
  }

  beforeAll(async () => {
    keys = await createHostileKeys();
    jwks = startJwksServer(jwksOf(keys.published));
    valkey = await startValkey();
    admin = await valkey.client();
    dir = mkdtempSync(join(tmpdir(), "krt-hostile-"));
    const names = Object.keys(fixture.profiles) as WebName[];
    await Promise.all([startWorker(), ...names.map(startWebBinary)]);
  });

  afterAll(async () => {
    for (const web of webs.values()) await web.binary[Symbol.asyncDispose]();
    await worker?.[Symbol.asyncDispose]();
    await cluster?.close();
    await valkey?.[Symbol.asyncDispose]();
    await jwks?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * What a request can have changed in Valkey: the stream's count of entries ever added, and the keys.
   * The worker's event statuses are left out: it writes them, later, for events accepted before.
   */
  async function valkeyState(): Promise<{ entriesAdded: unknown; keys: string[] }> {
    const info = (await admin.send("XINFO", ["STREAM", STREAM])) as Record<string, unknown>;
    const keys = ((await admin.send("KEYS", ["*"])) as string[])
      .filter((key) => !key.includes("}:status:"))
      .sort();
    return { entriesAdded: info["entries-added"], keys };
  }

  async function post(web: RunningWeb, token: string, body: unknown): Promise<Answer> {
    const response = await fetch(`${web.base}/event`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** An event from a web's honest caller, which must be accepted. */
  async function postAccepted(web: RunningWeb, token: string, body: unknown = HONEST_EVENT): Promise<Answer> {
    const answer = await post(web, token, body);
    expect(answer.status).toBe(202);
    accepted.push(String(answer.body.request_id));
    return answer;
  }

  /** The status of an unauthenticated POST /event: 401 when the web has room, 503 when it is full. */
  async function unauthenticatedStatus(web: RunningWeb): Promise<number> {
    const response = await fetch(`${web.base}/event`, { method: "POST" });
    await response.body?.cancel();
    return response.status;
  }

  /** Holds a request in flight (headers sent, body never) until the socket is closed. */
  async function holdRequest(web: RunningWeb, token: string): Promise<Socket<undefined>> {
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: web.port,
      socket: { data() {}, close() {}, error() {} },
    });
    socket.write(
      `POST /event HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n`,
    );
    await waitFor(async () => (await unauthenticatedStatus(web)) === 503, "the held request to count");
    return socket;
  }

  async function runCase(hostile: HostileCase): Promise<void> {
    const web = webs.get(hostile.web);
    if (!web) throw new Error(`no ${hostile.web} web`);
    const spec = hostile.token ?? {};
    const claims = mergeClaims(fixture.profiles[hostile.web].claims, spec.claims);
    const token = await hostileToken(keys, spec, claims);
    const before: Answer[] = [];
    for (const step of hostile.before ?? []) {
      const stepToken =
        step.token === "same"
          ? token.canonical
          : (await hostileToken(keys, {}, mergeClaims(claims, step.claims))).sent;
      before.push(await postAccepted(web, stepToken, step.body));
    }
    const held = hostile.hold
      ? await holdRequest(web, (await hostileToken(keys, {}, claims)).sent)
      : undefined;
    try {
      const prior = await valkeyState();
      const authorization = spec.authorization ?? `Bearer ${token.sent}`;
      const exchange = await rawExchange(web.port, hostileRequest(hostile, web.port, authorization), 2500);
      expect(exchange.status).toBe(hostile.expect.status);
      const body = exchange.text.includes("{") ? (rawJson(exchange) as Record<string, unknown>) : {};
      if (hostile.expect.reason)
        expect(body).toMatchObject({ error: "forbidden", reason: hostile.expect.reason });
      if (hostile.expect.retryAfter)
        expect(Number(exchange.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      if (hostile.expect.eventIdOfBefore !== undefined)
        expect(body.event_id).toBe(before[hostile.expect.eventIdOfBefore]?.body.event_id as string);
      // Headers alone were sent: the answer came without the body, and the connection was closed.
      if (hostile.withholdBody)
        expect([exchange.closedByServer, exchange.headers.connection]).toEqual([true, "close"]);
      if (hostile.expect.logReason) {
        const line = await web.binary.waitForLog((l) => l.request_id === body.request_id);
        expect(line.reason).toBe(hostile.expect.logReason);
      }
      expect(await valkeyState()).toEqual(prior);
    } finally {
      held?.end();
    }
    if (held)
      await waitFor(async () => (await unauthenticatedStatus(web)) === 401, "the held request to end");
  }

  const outcome = (hostile: HostileCase) =>
    `${hostile.expect.status}${hostile.expect.reason ? ` ${hostile.expect.reason}` : ""}`;
  for (const hostile of fixture.cases) {
    test(`${hostile.group}: ${hostile.name} is answered ${outcome(hostile)} and adds nothing to Valkey`, () =>
      runCase(hostile));
  }

  test("the worker restarted the workload once for each accepted event and for nothing refused", async () => {
    // One more honest event per web: the worker reads the stream in order, so once it has handled these
    // it has handled everything before them.
    for (const [name, web] of webs) {
      const claims = fixture.profiles[name].claims;
      await postAccepted(web, (await hostileToken(keys, {}, claims)).sent);
    }
    const processed = () =>
      new Set(worker.lines.filter((l) => l.msg === "event processed").map((l) => String(l.request_id)));
    await waitFor(
      () => accepted.every((id) => processed().has(id)),
      "the worker to handle every event",
      20_000,
    );
    expect(processed().size).toBe(accepted.length);
    expect(cluster.count({ method: "PATCH", name: RESTARTED.name })).toBe(accepted.length);
    expect(cluster.count({ method: "PATCH" })).toBe(accepted.length);
  });
});
