#!/usr/bin/env bun
/**
 * `bun run demo`: the whole flow on one machine with nothing but Bun. Starts a sandbox cluster (the
 * Kubernetes API test server with a few example workloads) unless `--kubeconfig` points at a real one,
 * starts `kuberollouttrigger standalone` against it in DEV_MODE with the in-process queue, prints the one
 * `kuberollouttrigger send --wait` line that makes a restart happen and waits for its rollouts (its token
 * is made by `dev-token` when the line runs, so it never expires), then prints every restart and every
 * rollout's end as it happens until Ctrl-C.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  describeSandboxWorkload,
  SANDBOX_IMAGE,
  SANDBOX_TAG,
  SANDBOX_WORKLOADS,
  type SandboxCluster,
  startSandboxCluster,
} from "../tests/support/sandbox-cluster.ts";

const ROOT = resolve(import.meta.dir, "..");
const MAIN = resolve(ROOT, "src/main.ts");
const AUDIENCE = "kuberollouttrigger-demo";
const ORG = "example-org";
const READY_WITHIN_MS = 30_000;
/** How long each of the sandbox's two rollout steps takes, so that a rollout is seen in progress. */
const SANDBOX_ROLLOUT_STEP_MS = 1000;

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    kubeconfig: { type: "string" },
    port: { type: "string", default: "8080" },
    image: { type: "string", default: SANDBOX_IMAGE },
    tag: { type: "string", default: SANDBOX_TAG },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(`usage: bun run demo [--kubeconfig PATH] [--port 8080] [--image REPO] [--tag TAG]

Without --kubeconfig the demo runs against a local sandbox cluster (nothing is installed or changed).
With --kubeconfig it restarts real workloads of that cluster that run REPO:TAG: use a test cluster.`);
  process.exit(0);
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
/** `text` as one shell word, quoted only when it must be (the printed line stays easy to read). */
const shellWord = (text: string) => (/^[\w./:=@%+-]+$/.test(text) ? text : shellQuote(text));

function portIsFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** How a shell runs kuberollouttrigger here: from the PATH, else the built binary, else the source. */
function commandName(): string {
  if (Bun.which("kuberollouttrigger")) return "kuberollouttrigger";
  const built = resolve(ROOT, "dist/kuberollouttrigger");
  return existsSync(built) ? shellWord(built) : `bun run ${shellWord(MAIN)}`;
}

function sendLine(port: number, image: string, tag: string): string {
  const krt = commandName();
  const token = `"$(${krt} dev-token --dev-mode --github-oidc-audience ${AUDIENCE} --github-allowed-org ${ORG})"`;
  const url = `http://127.0.0.1:${port}/event`;
  return `${krt} send --url ${url} --image ${shellWord(image)} --tags ${shellWord(tag)} --token ${token} --wait`;
}

function describeEvent(line: Record<string, unknown>): string {
  const list = (value: unknown) => (Array.isArray(value) && value.length > 0 ? value.join(", ") : "none");
  return [
    `event ${String(line.event_id ?? line.request_id ?? "")}: ${String(line.image)} ${list(line.tags)} in ${String(line.duration_ms)} ms`,
    `    matched:   ${list(line.matched)}`,
    `    restarted: ${list(line.restarted)}`,
    `    skipped:   ${list(line.skipped)}`,
    ...(Array.isArray(line.restarted_without_pull) && line.restarted_without_pull.length > 0
      ? [
          `    no pull:   ${list(line.restarted_without_pull)} (restarted, but the node may keep the old build)`,
        ]
      : []),
    ...(Array.isArray(line.failed) && line.failed.length > 0 ? [`    failed:    ${list(line.failed)}`] : []),
  ].join("\n");
}

const requestedPort = Number(values.port);
const port = requestedPort !== 0 && portIsFree(requestedPort) ? requestedPort : 0;
const image = values.image;
const prefix = image.slice(0, image.lastIndexOf("/") + 1);

let sandbox: SandboxCluster | undefined;
let kubeconfig = values.kubeconfig;
if (kubeconfig === undefined) {
  sandbox = await startSandboxCluster();
  sandbox.server.setRolloutDelay(SANDBOX_ROLLOUT_STEP_MS);
  kubeconfig = sandbox.kubeconfigPath;
  console.log(`sandbox cluster: Kubernetes API test server at ${sandbox.url}, with these workloads:`);
  for (const w of SANDBOX_WORKLOADS) console.log(`    ${describeSandboxWorkload(w).padEnd(38)} ${w.why}`);
} else {
  console.log(
    `cluster: the current context of ${kubeconfig} (workloads running ${image}:${values.tag} will restart)`,
  );
}

const child = Bun.spawn([process.execPath, "run", MAIN, "standalone"], {
  cwd: ROOT,
  env: {
    ...process.env,
    DEV_MODE: "true",
    GITHUB_OIDC_AUDIENCE: AUDIENCE,
    GITHUB_ALLOWED_ORG: ORG,
    ALLOWED_IMAGE_PREFIX: prefix,
    KUBECONFIG: kubeconfig,
    WEB_LISTEN_ADDR: `127.0.0.1:${port}`,
    VALKEY_ADDR: "",
    LOG_LEVEL: "info",
  },
  stdout: "pipe",
  stderr: "inherit",
});

let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  child.kill("SIGTERM");
  await child.exited;
  await sandbox?.close();
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

let webPort: number | undefined;
let synced = false;
let announced = false;
const readyTimer = setTimeout(() => {
  console.error(`kuberollouttrigger did not become ready within ${READY_WITHIN_MS / 1000} s`);
  void shutdown(1);
}, READY_WITHIN_MS);

function announce(): void {
  if (announced || webPort === undefined || !synced) return;
  announced = true;
  clearTimeout(readyTimer);
  console.log(`
kuberollouttrigger standalone is listening on http://127.0.0.1:${webPort} (DEV_MODE: unsigned tokens pass).
Run this in another terminal: it sends ${image}:${values.tag} as CI would (with a development token), then
waits until every matching workload's rollout has ended, prints how each ended, and exits 0 if all completed:

${sendLine(webPort, image, values.tag)}

Watching for restarts and rollouts; Ctrl-C stops.`);
  sandbox?.watchRestarts((restart) =>
    console.log(`restarted ${restart.workload} (restartedAt ${restart.restartedAt})`),
  );
}

/** The worker's log lines of a followed rollout's end. */
const ROLLOUT_ENDS = new Set([
  "rollout complete",
  "rollout failed",
  "rollout timed out",
  "rollout not followed",
]);

/** A rollout's end as one line: `rollout complete: Deployment/shop/storefront`, with the reason. */
function describeRollout(line: Record<string, unknown>): string {
  const workload = `${String(line.kind)}/${String(line.namespace)}/${String(line.name)}`;
  const reason = typeof line.reason === "string" && line.reason !== "" ? ` (${line.reason})` : "";
  return `${String(line.msg)}: ${workload}${reason}`;
}

/** The fields of a warning that say why, in the order a reader wants them. */
const WHY_FIELDS = [
  "workloads",
  "reason",
  "fix",
  "error",
  "problem",
  "missing_rule",
  "kind",
  "namespace",
  "name",
  "status",
  "request_id",
];

/** A warning or error as one readable line: its message, then the fields that say why. */
function describeProblem(line: Record<string, unknown>): string {
  const why = WHY_FIELDS.filter((field) => line[field] !== undefined && line[field] !== "").map(
    (field) => `${field}: ${typeof line[field] === "string" ? line[field] : JSON.stringify(line[field])}`,
  );
  const head = `${String(line.level).toLowerCase()}: ${String(line.msg)}`;
  return why.length > 0 ? `${head} (${why.join(", ")})` : head;
}

function onLogLine(text: string): void {
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(text) as Record<string, unknown>;
  } catch {
    console.log(text);
    return;
  }
  if (line.msg === "web listening" && typeof line.addr === "string") {
    webPort = Number(line.addr.slice(line.addr.lastIndexOf(":") + 1));
  } else if (line.msg === "workload index synced") {
    synced = true;
  } else if (line.msg === "event processed") {
    console.log(describeEvent(line));
  } else if (ROLLOUT_ENDS.has(String(line.msg))) {
    console.log(describeRollout(line));
  } else if (line.level === "WARN" || line.level === "ERROR") {
    console.log(describeProblem(line));
  }
  announce();
}

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of child.stdout) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline = buffered.indexOf("\n");
  while (newline >= 0) {
    onLogLine(buffered.slice(0, newline));
    buffered = buffered.slice(newline + 1);
    newline = buffered.indexOf("\n");
  }
}
if (!stopping) {
  console.error(`kuberollouttrigger exited with code ${await child.exited}`);
  await shutdown(1);
}
