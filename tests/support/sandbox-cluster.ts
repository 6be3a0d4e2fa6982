import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PullPolicy } from "../../src/core/pull-policy.ts";
import {
  type KubeApiServer,
  type KubeObject,
  makeDeployment,
  startKubeApiServer,
  type WorkloadKind,
  type WorkloadResource,
} from "./kube-api-server.ts";

/** The image the sandbox's example workloads run, and the demo's event asks to roll out. */
export const SANDBOX_IMAGE = "ghcr.io/example-org/web-app";
export const SANDBOX_TAG = "dev";
export const SANDBOX_PREFIX = "ghcr.io/example-org/";

const RESOURCE_OF: Readonly<Record<WorkloadKind, WorkloadResource>> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
  Rollout: "rollouts",
};

/** One example workload of the sandbox, and whether the demo's event restarts it. */
export interface SandboxWorkload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly images: string[];
  readonly initImages?: string[];
  readonly skip?: boolean;
  /** `imagePullPolicy` of every container; unset leaves the field out (a `:dev` image then runs `IfNotPresent`). */
  readonly pullPolicy?: PullPolicy;
  /** What happens to it on `{"image":"ghcr.io/example-org/web-app","tags":["dev"]}`. */
  readonly expect: "restarted" | "skipped" | "untouched";
  readonly why: string;
}

const DEV = `${SANDBOX_IMAGE}:${SANDBOX_TAG}`;

/**
 * The sandbox's workloads: a few that use `web-app:dev` in different ways and pull it always, one that
 * does not (so the demo shows the warning), one opted out, two unrelated.
 */
export const SANDBOX_WORKLOADS: readonly SandboxWorkload[] = [
  {
    kind: "Deployment",
    namespace: "shop",
    name: "storefront",
    images: [DEV, "ghcr.io/example-org/metrics-sidecar:1.4.2"],
    pullPolicy: "Always",
    expect: "restarted",
    why: "a container runs web-app:dev",
  },
  {
    kind: "StatefulSet",
    namespace: "shop",
    name: "storefront-cache",
    images: [DEV],
    pullPolicy: "Always",
    expect: "restarted",
    why: "a StatefulSet running web-app:dev",
  },
  {
    kind: "Deployment",
    namespace: "staging",
    name: "web-app",
    images: [DEV],
    pullPolicy: "Always",
    expect: "restarted",
    why: "another namespace",
  },
  {
    kind: "Deployment",
    namespace: "staging",
    name: "web-app-cached",
    images: [DEV],
    pullPolicy: "IfNotPresent",
    expect: "restarted",
    why: "imagePullPolicy IfNotPresent: restarted, with a warning that it will not pull",
  },
  {
    kind: "Deployment",
    namespace: "staging",
    name: "db-migrations",
    images: ["ghcr.io/example-org/migrator:2.0.1"],
    initImages: [DEV],
    pullPolicy: "Always",
    expect: "restarted",
    why: "an init container runs web-app:dev",
  },
  {
    kind: "Deployment",
    namespace: "shop",
    name: "storefront-canary",
    images: [DEV],
    skip: true,
    expect: "skipped",
    why: 'annotated kuberollouttrigger/skip: "true"',
  },
  {
    kind: "Deployment",
    namespace: "shop",
    name: "payments",
    images: ["ghcr.io/example-org/payments:1.9.0"],
    expect: "untouched",
    why: "another image",
  },
  {
    kind: "DaemonSet",
    namespace: "staging",
    name: "log-agent",
    images: [`${SANDBOX_IMAGE}:stable`],
    expect: "untouched",
    why: "another tag",
  },
];

/** `Kind/namespace/name`, as the worker logs workloads. */
export const describeSandboxWorkload = (w: Pick<SandboxWorkload, "kind" | "namespace" | "name">) =>
  `${w.kind}/${w.namespace}/${w.name}`;

/** A restart seen in the sandbox: the pod template's `restartedAt` annotation changed. */
export interface SandboxRestart {
  readonly workload: string;
  readonly restartedAt: string;
}

/** A running sandbox cluster: the Kubernetes API test server, seeded, and a kubeconfig that points at it. */
export interface SandboxCluster extends AsyncDisposable {
  readonly server: KubeApiServer;
  readonly url: string;
  readonly kubeconfigPath: string;
  /** Polls every `intervalMs` and calls `listener` for each workload whose `restartedAt` changed; returns a stop function. */
  watchRestarts(listener: (restart: SandboxRestart) => void, intervalMs?: number): () => void;
  close(): Promise<void>;
}

function restartedAtOf(obj: KubeObject | undefined): string | undefined {
  const spec = obj?.spec as
    | { template?: { metadata?: { annotations?: Record<string, string> } } }
    | undefined;
  return spec?.template?.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"];
}

/** The kubeconfig of a plain-HTTP test API server (the token is ignored by it, but makes a normal config). */
export function sandboxKubeconfig(url: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: sandbox",
    "    cluster:",
    `      server: ${url}`,
    "users:",
    "  - name: sandbox-user",
    "    user:",
    "      token: sandbox",
    "contexts:",
    "  - name: sandbox",
    "    context:",
    "      cluster: sandbox",
    "      user: sandbox-user",
    "      namespace: default",
    "current-context: sandbox",
    "",
  ].join("\n");
}

/**
 * Starts the sandbox: the Kubernetes API test server on a free loopback port, seeded with
 * {@link SANDBOX_WORKLOADS}, and its kubeconfig written to a temporary file.
 */
export async function startSandboxCluster(): Promise<SandboxCluster> {
  const server = await startKubeApiServer({ watchBookmarkIntervalMs: 30_000 });
  for (const w of SANDBOX_WORKLOADS) {
    server.create(
      RESOURCE_OF[w.kind],
      makeDeployment({
        kind: w.kind,
        namespace: w.namespace,
        name: w.name,
        images: w.images,
        ...(w.initImages ? { initImages: w.initImages } : {}),
        ...(w.skip ? { annotations: { "kuberollouttrigger/skip": "true" } } : {}),
        ...(w.pullPolicy
          ? {
              pullPolicies: w.images.map(() => w.pullPolicy),
              initPullPolicies: (w.initImages ?? []).map(() => w.pullPolicy),
            }
          : {}),
      }),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "krt-sandbox-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, sandboxKubeconfig(server.url), { mode: 0o600 });
  const timers = new Set<ReturnType<typeof setInterval>>();
  const close = async () => {
    for (const timer of timers) clearInterval(timer);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    server,
    url: server.url,
    kubeconfigPath,
    watchRestarts(listener, intervalMs = 100) {
      const seen = new Map<string, string | undefined>();
      const scan = (report: boolean) => {
        for (const resource of Object.values(RESOURCE_OF)) {
          for (const obj of server.list(resource)) {
            const meta = obj.metadata as { namespace: string; name: string };
            const workload = `${obj.kind as string}/${meta.namespace}/${meta.name}`;
            const value = restartedAtOf(obj);
            if (report && value !== undefined && seen.get(workload) !== value)
              listener({ workload, restartedAt: value });
            seen.set(workload, value);
          }
        }
      };
      scan(false);
      const timer = setInterval(() => scan(true), intervalMs);
      timers.add(timer);
      return () => {
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
