import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import type { Config } from "../../src/config/config.ts";
import { SETTINGS } from "../../src/config/settings.ts";
import { WORKLOAD_KINDS } from "../../src/core/workload-kind.ts";
import { KUSTOMIZATIONS, renderKustomization } from "./compositions.ts";
import { bindsWatchedNamespace, misplacedObjects, selects, unresolvedReferences } from "./references.ts";
import {
  configOf,
  containersOf,
  isOurs,
  type K8sObject,
  kustomizeUnavailableReason,
  modeOf,
  OUR_IMAGE,
  type PlacedContainer,
  podLabelsOf,
  probePort,
  ROOT,
} from "./rendered.ts";

// Renders the base, the base with each component, the largest sets of components that go together,
// and the example overlay, the way `kubectl apply -k` would, and holds the result to the SPEC's "In the
// cluster" section and to the settings table, so a manifest cannot drift from the code.

const inCi = process.env.CI === "true";
const unavailable = kustomizeUnavailableReason();
const skip = unavailable !== undefined && !inCi;
if (skip) console.warn(`skipping the manifest tests: ${unavailable} (they never skip with CI=true)`);

const rendered = new Map<string, K8sObject[]>();
function objectsOf(path: string): K8sObject[] {
  if (unavailable) throw new Error(`cannot render the manifests: ${unavailable}`);
  let objects = rendered.get(path);
  if (!objects) {
    objects = renderKustomization(path);
    rendered.set(path, objects);
  }
  return objects;
}

function loadedConfig(placed: PlacedContainer, objects: readonly K8sObject[]): Config {
  const loaded = configOf(placed, objects);
  if (!loaded.ok) throw new Error(`${placed.where}: ${loaded.message}`);
  return loaded.config;
}

/**
 * Whether a container of ours has its VALKEY_ADDR written in the manifests (the bundled Valkey), rather
 * than read from the ConfigMap the user's overlay sets (components/worker-only: a shared Valkey elsewhere).
 */
const setsValkeyAddr = (placed: PlacedContainer): boolean =>
  isOurs(placed) &&
  (placed.container.env ?? []).some((v: K8sObject) => v.name === "VALKEY_ADDR" && v.value !== undefined);

const WORKER_VERBS = ["get", "list", "watch", "patch"];

/** The service accounts our containers that reach the cluster API run as (worker and standalone). */
function clusterClients(objects: readonly K8sObject[]) {
  return containersOf(objects)
    .filter((placed) => isOurs(placed) && modeOf(placed) !== "web")
    .map((placed) => ({
      placed,
      config: loadedConfig(placed, objects),
      account: placed.pod.serviceAccountName ?? "default",
      namespace: placed.owner.metadata.namespace,
    }));
}

function bindingsOf(objects: readonly K8sObject[], account: string, namespace: string): K8sObject[] {
  return objects.filter(
    (o) =>
      (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
      (o.subjects ?? []).some(
        (s: K8sObject) =>
          s.kind === "ServiceAccount" &&
          s.name === account &&
          (s.namespace ?? o.metadata.namespace) === namespace,
      ),
  );
}

describe.skipIf(skip).each(KUSTOMIZATIONS)("the rendered manifests of %s", (path) => {
  test("render without error and contain at least one container of ours", () => {
    expect(containersOf(objectsOf(path)).filter(isOurs).length).toBeGreaterThan(0);
  });

  test("put every namespaced object into the install namespace, but the worker's RoleBindings into the namespaces it watches", () => {
    const objects = objectsOf(path);
    expect(misplacedObjects(objects, bindsWatchedNamespace(objects))).toEqual([]);
  });

  test("resolve every selector, backend, role and service account reference within the render", () => {
    expect(unresolvedReferences(objectsOf(path))).toEqual([]);
  });

  test("run every container non-root, read-only, without privilege escalation or capabilities, under RuntimeDefault seccomp", () => {
    const problems: string[] = [];
    for (const placed of containersOf(objectsOf(path))) {
      const pod = placed.pod.securityContext ?? {};
      const own = placed.container.securityContext ?? {};
      const runAsNonRoot = own.runAsNonRoot ?? pod.runAsNonRoot;
      const runAsUser = own.runAsUser ?? pod.runAsUser;
      const seccomp = own.seccompProfile?.type ?? pod.seccompProfile?.type;
      if (runAsNonRoot !== true) problems.push(`${placed.where}: runAsNonRoot is not true`);
      if (runAsUser === 0) problems.push(`${placed.where}: runAsUser is 0`);
      if (own.readOnlyRootFilesystem !== true)
        problems.push(`${placed.where}: readOnlyRootFilesystem is not true`);
      if (own.allowPrivilegeEscalation !== false)
        problems.push(`${placed.where}: allowPrivilegeEscalation is not false`);
      if (own.privileged === true) problems.push(`${placed.where}: privileged`);
      if (!(own.capabilities?.drop ?? []).includes("ALL"))
        problems.push(`${placed.where}: capabilities do not drop ALL`);
      if ((own.capabilities?.add ?? []).length > 0) problems.push(`${placed.where}: capabilities are added`);
      if (seccomp !== "RuntimeDefault")
        problems.push(`${placed.where}: seccompProfile is not RuntimeDefault`);
    }
    expect(problems).toEqual([]);
  });

  test("give every container cpu and memory requests and limits", () => {
    const problems: string[] = [];
    for (const placed of containersOf(objectsOf(path))) {
      const resources = placed.container.resources ?? {};
      for (const bound of ["requests", "limits"])
        for (const resource of ["cpu", "memory"])
          if (resources[bound]?.[resource] === undefined)
            problems.push(`${placed.where}: no ${resource} in resources.${bound}`);
    }
    expect(problems).toEqual([]);
  });

  test("give every container a liveness and a readiness probe", () => {
    const missing = containersOf(objectsOf(path))
      .filter(
        (placed) => !placed.init && !(placed.container.livenessProbe && placed.container.readinessProbe),
      )
      .map((placed) => placed.where);
    expect(missing).toEqual([]);
  });

  test("probe our containers on /healthz and /readyz at the port their configuration listens on", () => {
    const objects = objectsOf(path);
    const problems: string[] = [];
    for (const placed of containersOf(objects).filter(isOurs)) {
      const config = loadedConfig(placed, objects);
      const port = modeOf(placed) === "worker" ? config.worker.healthListen.port : config.web.listen.port;
      for (const [probe, route] of [
        ["livenessProbe", "/healthz"],
        ["readinessProbe", "/readyz"],
      ] as const) {
        const http = placed.container[probe]?.httpGet;
        if (http?.path !== route) problems.push(`${placed.where}: ${probe} is not an HTTP GET of ${route}`);
        else if (probePort(placed, http.port) !== port)
          problems.push(`${placed.where}: ${probe} probes port ${http.port}, the server listens on ${port}`);
        else if ((http.scheme ?? "HTTP") !== "HTTP")
          problems.push(`${placed.where}: ${probe} is not plain HTTP`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("set on our containers only environment variables that their mode reads", () => {
    const problems: string[] = [];
    for (const placed of containersOf(objectsOf(path)).filter(isOurs)) {
      const mode = modeOf(placed);
      if (placed.container.envFrom) problems.push(`${placed.where}: envFrom hides which settings are set`);
      for (const { name } of placed.container.env ?? []) {
        const setting = SETTINGS.find((s) => s.env === name);
        if (!setting) problems.push(`${placed.where}: ${name} is not a setting`);
        else if (!setting.modes.includes(mode))
          problems.push(`${placed.where}: ${mode} does not read ${name}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("give our containers a configuration that loads without error in their mode", () => {
    const objects = objectsOf(path);
    const problems: string[] = [];
    for (const placed of containersOf(objects).filter(isOurs)) {
      const loaded = configOf(placed, objects);
      if (!loaded.ok) problems.push(`${placed.where}: ${loaded.message}`);
    }
    expect(problems).toEqual([]);
  });

  test("keep secrets such as VALKEY_PASSWORD in a Secret reference, never as a literal value", () => {
    const literal = containersOf(objectsOf(path))
      .flatMap((placed) =>
        (placed.container.env ?? [])
          .filter((v: K8sObject) => SETTINGS.find((s) => s.env === v.name)?.secret && v.value !== undefined)
          .map((v: K8sObject) => `${placed.where}: ${v.name}`),
      )
      .concat(
        objectsOf(path)
          .filter((o) => o.kind === "ConfigMap")
          .flatMap((o) =>
            Object.keys(o.data ?? {})
              .filter((key) => SETTINGS.find((s) => s.env === key)?.secret)
              .map((key) => `ConfigMap/${o.metadata.name}: ${key}`),
          ),
      );
    expect(literal).toEqual([]);
  });

  test("pin every image by a tag other than latest, or by digest", () => {
    const loose = containersOf(objectsOf(path))
      .map((placed) => String(placed.container.image ?? ""))
      .filter((image) => {
        if (image.includes("@sha256:")) return false;
        const tag = /:([^/:]+)$/.exec(image)?.[1];
        return tag === undefined || tag === "latest";
      });
    expect(loose).toEqual([]);
  });

  test("grant no wildcard and no non-resource URL in any Role or ClusterRole", () => {
    const problems: string[] = [];
    for (const role of objectsOf(path).filter((o) => o.kind === "Role" || o.kind === "ClusterRole")) {
      for (const rule of role.rules ?? []) {
        for (const field of ["apiGroups", "resources", "verbs", "resourceNames"])
          if ((rule[field] ?? []).includes("*"))
            problems.push(`${role.kind}/${role.metadata.name}: * in ${field}`);
        if (rule.nonResourceURLs) problems.push(`${role.kind}/${role.metadata.name}: nonResourceURLs`);
      }
      if (role.aggregationRule) problems.push(`${role.kind}/${role.metadata.name}: aggregationRule`);
    }
    expect(problems).toEqual([]);
  });

  test("grant the worker exactly get, list, watch and patch on exactly the workloads of its WORKLOAD_KINDS (Argo Rollouts with argo-rollouts), and create on events exactly when AUDIT_EVENTS is on", () => {
    const objects = objectsOf(path);
    const clients = clusterClients(objects);
    expect(clients.length).toBeGreaterThan(0);
    for (const { placed, config, account, namespace } of clients) {
      const bindings = bindingsOf(objects, account, namespace);
      expect(bindings.length, `${placed.where}: no binding for ${account}`).toBeGreaterThan(0);
      for (const binding of bindings) {
        const role = objects.find(
          (o) =>
            o.kind === binding.roleRef.kind &&
            o.metadata.name === binding.roleRef.name &&
            (o.kind === "ClusterRole" || o.metadata.namespace === binding.metadata.namespace),
        );
        expect(
          role,
          `${binding.kind}/${binding.metadata.name} refers to a role not in the manifests`,
        ).toBeDefined();
        const granted = (role?.rules ?? []).flatMap((rule: K8sObject) =>
          (rule.apiGroups ?? []).flatMap((group: string) =>
            (rule.resources ?? []).map((resource: string) => ({
              target: `${group}/${resource}`,
              verbs: [...(rule.verbs ?? [])].sort(),
            })),
          ),
        );
        // audit-events: create only, on events.k8s.io Events, granted exactly when AUDIT_EVENTS is on
        // (so a default install never warns that it may not record them).
        const EVENTS = "events.k8s.io/events";
        const events = granted.filter((g: K8sObject) => g.target === EVENTS);
        expect(events.length > 0, `${placed.where}: events rule iff AUDIT_EVENTS`).toBe(
          config.worker.auditEvents,
        );
        for (const grant of events) expect(grant.verbs, grant.target).toEqual(["create"]);
        const workloads = granted.filter((g: K8sObject) => g.target !== EVENTS);
        // argo-rollouts adds rollouts to both WORKLOAD_KINDS and the rule.
        const expected = config.worker.workloadResources.map(
          (resource) => `${WORKLOAD_KINDS[resource].group}/${resource}`,
        );
        expect(workloads.map((g: K8sObject) => g.target).sort()).toEqual(expected.sort());
        for (const grant of workloads) expect(grant.verbs, grant.target).toEqual([...WORKER_VERBS].sort());
      }
    }
  });

  test("bind the worker cluster-wide only when it watches every namespace, else exactly its WATCH_NAMESPACES", () => {
    const objects = objectsOf(path);
    for (const { config, account, namespace } of clusterClients(objects)) {
      const bindings = bindingsOf(objects, account, namespace);
      const watched = config.worker.watchNamespaces;
      if (watched.length === 0) {
        expect(bindings.map((b) => b.kind)).toEqual(["ClusterRoleBinding"]);
      } else {
        expect(bindings.map((b) => b.kind)).not.toContain("ClusterRoleBinding");
        expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual([...watched].sort());
      }
    }
  });

  test("give the web no RBAC binding and no service account token", () => {
    const objects = objectsOf(path);
    for (const placed of containersOf(objects).filter((p) => isOurs(p) && modeOf(p) === "web")) {
      const account = placed.pod.serviceAccountName ?? "default";
      expect(bindingsOf(objects, account, placed.owner.metadata.namespace), placed.where).toEqual([]);
      expect(placed.pod.automountServiceAccountToken, placed.where).toBe(false);
      expect(account, `${placed.where} shares a service account with the worker`).not.toBe(
        clusterClients(objects)[0]?.account,
      );
    }
  });

  test("point every VALKEY_ADDR the manifests set at a Service of the manifests on a port it serves", () => {
    const objects = objectsOf(path);
    for (const placed of containersOf(objects).filter(setsValkeyAddr)) {
      const addr = loadedConfig(placed, objects).valkey.addr;
      if (!addr) continue;
      const service = objects.find(
        (o) =>
          o.kind === "Service" &&
          [o.metadata.name, `${o.metadata.name}.${o.metadata.namespace}`].some(
            (name) => addr.host === name || addr.host.startsWith(`${name}.svc`),
          ),
      );
      expect(service, `${placed.where}: no Service named ${addr.host}`).toBeDefined();
      expect(service?.spec.ports.map((p: K8sObject) => p.port)).toContain(addr.port);
    }
  });

  test("persist Valkey's append-only file on a PersistentVolumeClaim when Valkey is part of the install", () => {
    const objects = objectsOf(path);
    const valkey = containersOf(objects).filter((p) => String(p.container.image).includes("valkey/valkey"));
    const clients = containersOf(objects).filter(
      (p) => setsValkeyAddr(p) && loadedConfig(p, objects).valkey.addr,
    );
    expect(valkey.length > 0).toBe(clients.length > 0);
    for (const placed of valkey) {
      const config = objects.find(
        (o) => o.kind === "ConfigMap" && Object.keys(o.data ?? {}).includes("valkey.conf"),
      )?.data["valkey.conf"] as string | undefined;
      expect(config, "valkey.conf").toBeDefined();
      expect(config).toMatch(/^appendonly yes$/m);
      expect(config).toMatch(/^maxmemory-policy noeviction$/m);
      const dir = /^dir (\S+)$/m.exec(config ?? "")?.[1];
      const mount = (placed.container.volumeMounts ?? []).find((m: K8sObject) => m.mountPath === dir);
      expect(mount, `nothing mounted at Valkey's dir ${dir}`).toBeDefined();
      const claims = (placed.owner.spec.volumeClaimTemplates ?? []).map((c: K8sObject) => c.metadata.name);
      expect(claims).toContain(mount?.name);
    }
  });

  test("route only /event exactly and /event/ as a prefix (GET /event/{event_id}), over TLS where the route holds it, to the Service of the pods that serve /event", () => {
    const objects = objectsOf(path);
    const problems: string[] = [];
    const serving = (name: string) => {
      const service = objects.find((o) => o.kind === "Service" && o.metadata.name === name);
      const modes = containersOf(objects)
        .filter((p) => isOurs(p) && selects(service?.spec?.selector, podLabelsOf(p.owner) ?? {}))
        .map(modeOf);
      if (modes.length !== 1 || modes[0] === "worker")
        problems.push(`Service ${name} selects ${modes.join(", ") || "nothing"}, not the web or standalone`);
    };
    const ingressPaths: string[] = [];
    for (const ingress of objects.filter((o) => o.kind === "Ingress")) {
      const hosts = (ingress.spec.rules ?? []).map((rule: K8sObject) => rule.host);
      const tlsHosts = (ingress.spec.tls ?? []).flatMap((t: K8sObject) => t.hosts);
      if (JSON.stringify(tlsHosts) !== JSON.stringify(hosts)) problems.push("an Ingress host without TLS");
      if (ingress.spec.defaultBackend) problems.push("an Ingress with a default backend");
      for (const rule of ingress.spec.rules ?? [])
        for (const p of rule.http?.paths ?? []) {
          ingressPaths.push(`${p.pathType} ${p.path}`);
          serving(p.backend.service.name);
        }
    }
    for (const paths of [ingressPaths.sort()].filter((p) => p.length > 0))
      if (JSON.stringify(paths) !== JSON.stringify(["Exact /event", "Prefix /event/"]))
        problems.push(`Ingress paths ${paths.join(", ")}`);
    for (const route of objects.filter((o) => o.kind === "HTTPRoute")) {
      for (const rule of route.spec.rules ?? []) {
        const matches = (rule.matches ?? []).map((m: K8sObject) => `${m.path?.type} ${m.path?.value}`);
        if (JSON.stringify(matches) !== JSON.stringify(["Exact /event", "PathPrefix /event/"]))
          problems.push(`HTTPRoute matches ${matches.join(", ") || "everything"}`);
        for (const ref of rule.backendRefs ?? []) serving(ref.name);
      }
    }
    expect(problems).toEqual([]);
  });

  test("let only namespaces reach the pods that serve /event when a route exposes it: the proxy's and monitoring's", () => {
    const objects = objectsOf(path);
    if (!objects.some((o) => o.kind === "Ingress" || o.kind === "HTTPRoute")) return;
    const problems: string[] = [];
    const servers = containersOf(objects).filter((p) => isOurs(p) && modeOf(p) !== "worker");
    for (const policy of objects.filter((o) => o.kind === "NetworkPolicy")) {
      const selector = policy.spec.podSelector ?? {};
      if (Object.keys(selector).length === 0) continue;
      if (!servers.some((p) => selects(selector, podLabelsOf(p.owner) ?? {}))) continue;
      for (const rule of policy.spec.ingress ?? []) {
        const peers: K8sObject[] = rule.from ?? [];
        if (peers.length === 0 || peers.some((peer) => Object.keys(peer).join() !== "namespaceSelector"))
          problems.push(`NetworkPolicy/${policy.metadata.name} lets in more than named namespaces`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("speak TLS to Valkey from every client of ours when Valkey serves TLS, and never otherwise", () => {
    const objects = objectsOf(path);
    const valkeyConfig = objects
      .filter((o) => o.kind === "ConfigMap" && Object.keys(o.data ?? {}).includes("valkey.conf"))
      .flatMap((o) => Object.values(o.data ?? {}))
      .join("\n");
    const servesTls = /^tls-port 6379$/m.test(valkeyConfig);
    if (servesTls) expect(valkeyConfig).toMatch(/^port 0$/m);
    for (const placed of containersOf(objects).filter(isOurs)) {
      const config = loadedConfig(placed, objects);
      if (config.valkey.addr) expect(config.valkey.tls !== false, placed.where).toBe(servesTls);
    }
  });

  test("let only the web and the worker reach Valkey, and only the monitoring namespace reach the worker's metrics", () => {
    const objects = objectsOf(path);
    const policies = objects.filter((o) => o.kind === "NetworkPolicy");
    const selectsOnly = (policy: K8sObject, component: string) =>
      policy.spec.podSelector?.matchLabels?.["app.kubernetes.io/component"] === component;
    expect(policies.some((p) => Object.keys(p.spec.podSelector ?? {}).length === 0)).toBe(true);
    const valkeyPolicy = policies.find((p) => selectsOnly(p, "valkey"));
    if (objects.some((o) => o.kind === "StatefulSet" && o.metadata.name.endsWith("valkey"))) {
      const peers = (valkeyPolicy?.spec.ingress ?? []).flatMap((rule: K8sObject) =>
        (rule.from ?? []).map(
          (peer: K8sObject) => peer.podSelector?.matchLabels?.["app.kubernetes.io/component"],
        ),
      );
      expect(peers.sort()).toEqual(["web", "worker"]);
    }
    const workerPolicy = policies.find((p) => selectsOnly(p, "worker"));
    if (workerPolicy) {
      for (const rule of workerPolicy.spec.ingress ?? []) {
        expect(rule.from?.length).toBeGreaterThan(0);
        for (const peer of rule.from) expect(Object.keys(peer)).toEqual(["namespaceSelector"]);
      }
    }
  });
});

describe.skipIf(skip)("the kustomizations together", () => {
  test("pin our image in every kustomization to the version in package.json", () => {
    const expected = [`${OUR_IMAGE}:${packageJson.version}`, `${OUR_IMAGE}:v${packageJson.version}`];
    for (const path of KUSTOMIZATIONS) {
      for (const placed of containersOf(objectsOf(path)).filter(isOurs))
        expect(expected, `${path} ${placed.where}`).toContain(placed.container.image);
    }
  });

  test("pin WEB_LISTEN_ADDR and WORKER_HEALTH_ADDR to their defaults, the ports the image and the docs name", async () => {
    const defaults = Object.fromEntries(SETTINGS.map((s) => [s.env, s.default]));
    for (const path of KUSTOMIZATIONS) {
      for (const placed of containersOf(objectsOf(path)).filter(isOurs)) {
        for (const variable of placed.container.env ?? []) {
          if (variable.name === "WEB_LISTEN_ADDR" || variable.name === "WORKER_HEALTH_ADDR")
            expect(variable.value, `${path} ${placed.where}`).toBe(defaults[variable.name]);
        }
      }
    }
    const containerfile = await Bun.file(join(ROOT, "Containerfile")).text();
    expect(containerfile).toMatch(new RegExp(`^EXPOSE ${defaults.WEB_LISTEN_ADDR?.replace(":", "")}$`, "m"));
  });

  test("run the worker alone, on the Valkey and cluster name the overlay gives, with the worker-only component", () => {
    const objects = objectsOf("base + worker-only");
    const ours = containersOf(objects).filter(isOurs);
    expect(ours.map(modeOf)).toEqual(["worker"]);
    expect(containersOf(objects).filter((p) => !isOurs(p))).toEqual([]);
    const leftOver = objects
      .filter((o) => /^kuberollouttrigger-(web|valkey)/.test(o.metadata.name))
      .map((o) => `${o.kind}/${o.metadata.name}`);
    expect(leftOver).toEqual([]);
    const [worker] = ours;
    if (!worker) throw new Error("no worker");
    const config = loadedConfig(worker, objects);
    expect(config.valkey.addr).toEqual({ host: "valkey.shared.example", port: 6379 });
    expect(config.worker.clusterName).toBe("prod");
  });

  test("run no Valkey and no separate web or worker with the standalone component", () => {
    const objects = objectsOf("base + standalone");
    const modes = containersOf(objects).filter(isOurs).map(modeOf);
    expect(modes).toEqual(["standalone"]);
    expect(containersOf(objects).filter((p) => !isOurs(p))).toEqual([]);
  });

  // Without these objects the route and monitoring checks above would pass on nothing.
  test.each([
    ["ingress", ["Ingress"]],
    ["httproute", ["HTTPRoute"]],
    ["monitoring", ["PodMonitor", "PrometheusRule"]],
  ])("render what the %s component is for: %p", (component, kinds) => {
    const rendered = new Set(objectsOf(`base + ${component}`).map((o) => o.kind));
    expect(kinds.filter((kind) => !rendered.has(kind))).toEqual([]);
  });
});
