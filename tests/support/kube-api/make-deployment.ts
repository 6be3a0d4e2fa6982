import { effectivePullPolicy, type PullPolicy } from "../../../src/core/pull-policy.ts";

/** The workload kinds {@link makeDeployment} can build. */
export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet" | "Rollout";

/** What {@link makeDeployment} builds. */
export interface MakeDeploymentInput {
  namespace: string;
  name: string;
  /** One container per image, named `c0`, `c1`, …; with `realistic`, at least two containers. */
  images: string[];
  /** One init container per image, named `init0`, … */
  initImages?: string[];
  /** `imagePullPolicy` of the container at the same index of `images`; unset or undefined leaves the field out. */
  pullPolicies?: (PullPolicy | undefined)[];
  /** `imagePullPolicy` of the init container at the same index of `initImages`. */
  initPullPolicies?: (PullPolicy | undefined)[];
  kind?: WorkloadKind;
  annotations?: Record<string, string>;
  templateAnnotations?: Record<string, string>;
  /**
   * Adds labels, annotations, env, ports, probes and resources: about 1.5–2.2 KB of JSON; and, as the API
   * server defaults it, `imagePullPolicy` where `pullPolicies` leaves it out.
   */
  realistic?: boolean;
}

function realisticContainer(name: string, image: string, index: number): Record<string, unknown> {
  const port = 8080 + index;
  return {
    name,
    image,
    imagePullPolicy: effectivePullPolicy(image, undefined),
    ports: [{ name: `http-${index}`, containerPort: port, protocol: "TCP" }],
    env: [
      { name: "LOG_LEVEL", value: "info" },
      { name: "LISTEN_ADDR", value: `:${port}` },
      { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
    ],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
    livenessProbe: {
      httpGet: { path: "/healthz", port, scheme: "HTTP" },
      periodSeconds: 10,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: "/readyz", port, scheme: "HTTP" },
      periodSeconds: 5,
      failureThreshold: 3,
    },
  };
}

function withPullPolicy(container: Record<string, unknown>, policy: PullPolicy | undefined) {
  return policy === undefined ? container : { ...container, imagePullPolicy: policy };
}

function kindSpec(kind: WorkloadKind, name: string): Record<string, unknown> {
  if (kind === "DaemonSet") return { updateStrategy: { type: "RollingUpdate" } };
  if (kind === "StatefulSet") return { replicas: 1, serviceName: name, podManagementPolicy: "OrderedReady" };
  return { replicas: 1, strategy: { type: "RollingUpdate" } };
}

/** Builds a valid `apps/v1` workload object (without server-set fields) for tests, benchmarks and demos. */
export function makeDeployment(input: MakeDeploymentInput): Record<string, unknown> {
  const kind = input.kind ?? "Deployment";
  const realistic = input.realistic === true;
  const images =
    realistic && input.images.length === 1
      ? [...input.images, "registry.example/sidecar:1.4.2"]
      : input.images;
  const labels: Record<string, string> = { app: input.name };
  if (realistic)
    Object.assign(labels, { "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "1.0.0" });
  const containers = images.map((image, i) =>
    withPullPolicy(
      realistic ? realisticContainer(`c${i}`, image, i) : { name: `c${i}`, image },
      input.pullPolicies?.[i],
    ),
  );
  const podSpec: Record<string, unknown> = { containers };
  if (input.initImages !== undefined && input.initImages.length > 0) {
    podSpec.initContainers = input.initImages.map((image, i) =>
      withPullPolicy({ name: `init${i}`, image }, input.initPullPolicies?.[i]),
    );
  }
  if (realistic) Object.assign(podSpec, { restartPolicy: "Always", terminationGracePeriodSeconds: 30 });
  const metaAnnotations = {
    ...(realistic
      ? { "example.com/owner": "team-platform", "example.com/runbook": "https://runbooks.example/app" }
      : {}),
    ...input.annotations,
  };
  const templateMetadata: Record<string, unknown> = { labels: { ...labels } };
  if (input.templateAnnotations !== undefined)
    templateMetadata.annotations = { ...input.templateAnnotations };
  return {
    apiVersion: kind === "Rollout" ? "argoproj.io/v1alpha1" : "apps/v1",
    kind,
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      ...(Object.keys(metaAnnotations).length > 0 ? { annotations: metaAnnotations } : {}),
    },
    spec: {
      ...kindSpec(kind, input.name),
      selector: { matchLabels: { app: input.name } },
      template: { metadata: templateMetadata, spec: podSpec },
    },
  };
}
