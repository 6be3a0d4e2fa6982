import {
  configOf,
  containersOf,
  isOurs,
  type K8sObject,
  modeOf,
  podLabelsOf,
  podSpecOf,
} from "./rendered.ts";

// Checks that a render holds together: every object in the install namespace, and every name or
// selector that points at another object finds it in the same render. Each returns the problems found,
// one sentence each, so a test can expect an empty list.

/** Kinds that live outside any namespace. */
export const CLUSTER_SCOPED: ReadonlySet<string> = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "PersistentVolume",
  "StorageClass",
  "CustomResourceDefinition",
]);

const idOf = (o: K8sObject) =>
  `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;

/** A label selector (`matchLabels`, `matchExpressions`) or a Service's plain map of labels. */
export function selects(selector: K8sObject | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const plain = selector.matchLabels === undefined && selector.matchExpressions === undefined;
  const matchLabels: Record<string, string> = plain ? selector : (selector.matchLabels ?? {});
  if (!Object.entries(matchLabels).every(([key, value]) => labels[key] === value)) return false;
  return (selector.matchExpressions ?? []).every((e: K8sObject) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case "In":
        return has && e.values.includes(labels[e.key]);
      case "NotIn":
        return !has || !e.values.includes(labels[e.key]);
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  });
}

const workloadsIn = (objects: readonly K8sObject[], namespace: string) =>
  objects.filter((o) => podLabelsOf(o) !== undefined && o.metadata.namespace === namespace);

const selectedWorkloads = (objects: readonly K8sObject[], namespace: string, selector: K8sObject) =>
  workloadsIn(objects, namespace).filter((w) => selects(selector, podLabelsOf(w) ?? {}));

/**
 * The one Namespace object of the render, and every namespaced object outside it. `elsewhere` lets an
 * object live in another namespace on purpose (the worker's RoleBindings in the namespaces it watches).
 */
export function misplacedObjects(
  objects: readonly K8sObject[],
  elsewhere: (object: K8sObject) => boolean = () => false,
): string[] {
  const namespaces = objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name);
  if (namespaces.length !== 1) return [`the render has ${namespaces.length} Namespace objects, not 1`];
  const [install] = namespaces;
  return objects.flatMap((o) => {
    if (CLUSTER_SCOPED.has(o.kind))
      return o.metadata.namespace ? [`${idOf(o)} is cluster-scoped but has a namespace`] : [];
    if (o.metadata.namespace === install || elsewhere(o)) return [];
    return [`${idOf(o)} is not in the install namespace ${install}`];
  });
}

function serviceProblems(objects: readonly K8sObject[], service: K8sObject): string[] {
  if (!service.spec?.selector) return [];
  const selected = selectedWorkloads(objects, service.metadata.namespace, service.spec.selector);
  if (selected.length === 0) return [`${idOf(service)} selects no pods of the render`];
  return (service.spec.ports ?? []).flatMap((port: K8sObject) => {
    const target = port.targetPort ?? port.port;
    const served = selected.some((w) =>
      containersOf([w]).some(({ container }) =>
        (container.ports ?? []).some((p: K8sObject) =>
          typeof target === "string" ? p.name === target : p.containerPort === target,
        ),
      ),
    );
    return served ? [] : [`${idOf(service)} port ${port.name ?? port.port}: no selected pod has ${target}`];
  });
}

/** Why a Service `name` in `namespace` with the port (`name` or `number`) is not in the render. */
function missingBackend(
  objects: readonly K8sObject[],
  namespace: string,
  name: string,
  port: string | number | undefined,
): string | undefined {
  const service = objects.find(
    (o) => o.kind === "Service" && o.metadata.name === name && o.metadata.namespace === namespace,
  );
  if (!service) return `Service ${namespace}/${name} is not in the render`;
  const ports = service.spec?.ports ?? [];
  if (port === undefined || ports.some((p: K8sObject) => p.name === port || p.port === port))
    return undefined;
  return `Service ${namespace}/${name} has no port ${port}`;
}

function routeProblems(objects: readonly K8sObject[], route: K8sObject): string[] {
  const namespace = route.metadata.namespace;
  const problems: string[] = [];
  const check = (name: string, port: string | number | undefined) => {
    const missing = missingBackend(objects, namespace, name, port);
    if (missing) problems.push(`${idOf(route)}: ${missing}`);
  };
  if (route.kind === "Ingress") {
    const backends = [
      route.spec?.defaultBackend,
      ...(route.spec?.rules ?? []).flatMap((rule: K8sObject) =>
        (rule.http?.paths ?? []).map((path: K8sObject) => path.backend),
      ),
    ].filter((backend) => backend !== undefined);
    if (backends.length === 0) problems.push(`${idOf(route)} has no backend`);
    for (const { service } of backends) check(service?.name, service?.port?.name ?? service?.port?.number);
  } else {
    if ((route.spec?.parentRefs ?? []).length === 0) problems.push(`${idOf(route)} has no parentRefs`);
    const refs = (route.spec?.rules ?? []).flatMap((rule: K8sObject) => rule.backendRefs ?? []);
    if (refs.length === 0) problems.push(`${idOf(route)} has no backendRefs`);
    for (const ref of refs) {
      if ((ref.kind ?? "Service") !== "Service" || (ref.group ?? "") !== "")
        problems.push(`${idOf(route)}: backend ${ref.kind} ${ref.name} is not a Service`);
      else if (ref.port === undefined) problems.push(`${idOf(route)}: backend ${ref.name} has no port`);
      else {
        const missing = missingBackend(objects, ref.namespace ?? namespace, ref.name, ref.port);
        if (missing) problems.push(`${idOf(route)}: ${missing}`);
      }
    }
  }
  return problems;
}

function bindingProblems(objects: readonly K8sObject[], binding: K8sObject): string[] {
  const problems: string[] = [];
  const { kind, name } = binding.roleRef ?? {};
  const role = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (kind === "ClusterRole" || o.metadata.namespace === binding.metadata.namespace),
  );
  if (!role) problems.push(`${idOf(binding)}: roleRef ${kind}/${name} is not in the render`);
  for (const subject of binding.subjects ?? []) {
    if (subject.kind !== "ServiceAccount") continue;
    const namespace = subject.namespace ?? binding.metadata.namespace;
    const account = objects.find(
      (o) =>
        o.kind === "ServiceAccount" && o.metadata.name === subject.name && o.metadata.namespace === namespace,
    );
    if (!account)
      problems.push(`${idOf(binding)}: ServiceAccount ${namespace}/${subject.name} is not in the render`);
  }
  return problems;
}

function selectorProblems(objects: readonly K8sObject[], object: K8sObject): string[] {
  const namespace = object.metadata.namespace;
  switch (object.kind) {
    case "PodDisruptionBudget":
      return selectedWorkloads(objects, namespace, object.spec?.selector ?? {}).length > 0
        ? []
        : [`${idOf(object)} selects no pods of the render`];
    case "NetworkPolicy": {
      const selector = object.spec?.podSelector ?? {};
      if (Object.keys(selector).length === 0) return [];
      return selectedWorkloads(objects, namespace, selector).length > 0
        ? []
        : [`${idOf(object)} selects no pods of the render`];
    }
    case "PodMonitor": {
      const names: string[] = object.spec?.namespaceSelector?.matchNames ?? [namespace];
      const selected = names.flatMap((n) => selectedWorkloads(objects, n, object.spec?.selector ?? {}));
      return selected.length > 0 ? [] : [`${idOf(object)} selects no pods of the render`];
    }
    case "ServiceMonitor": {
      const names: string[] = object.spec?.namespaceSelector?.matchNames ?? [namespace];
      const selected = objects.filter(
        (o) =>
          o.kind === "Service" &&
          names.includes(o.metadata.namespace) &&
          selects(object.spec?.selector ?? {}, o.metadata.labels ?? {}),
      );
      return selected.length > 0 ? [] : [`${idOf(object)} selects no Service of the render`];
    }
    default:
      return [];
  }
}

function workloadProblems(objects: readonly K8sObject[], workload: K8sObject): string[] {
  const namespace = workload.metadata.namespace;
  const labels = podLabelsOf(workload) ?? {};
  const pod = podSpecOf(workload) ?? {};
  const problems: string[] = [];
  const has = (kind: string, name: string) =>
    objects.some((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);
  if (workload.spec?.selector && !selects(workload.spec.selector, labels))
    problems.push(`${idOf(workload)}: its selector does not match its own pods`);
  for (const constraint of pod.topologySpreadConstraints ?? [])
    if (!selects(constraint.labelSelector, labels))
      problems.push(`${idOf(workload)}: a topology spread constraint does not count its own pods`);
  if (pod.serviceAccountName && !has("ServiceAccount", pod.serviceAccountName))
    problems.push(`${idOf(workload)}: ServiceAccount ${pod.serviceAccountName} is not in the render`);
  const configMaps = [
    ...(pod.volumes ?? []).flatMap((v: K8sObject) => (v.configMap ? [v.configMap.name] : [])),
    ...containersOf([workload]).flatMap((placed) =>
      (placed.container.env ?? []).flatMap((v: K8sObject) =>
        v.valueFrom?.configMapKeyRef ? [v.valueFrom.configMapKeyRef.name] : [],
      ),
    ),
  ];
  for (const name of new Set(configMaps))
    if (!has("ConfigMap", name)) problems.push(`${idOf(workload)}: ConfigMap ${name} is not in the render`);
  return problems;
}

/** When the render has a PodMonitor: every workload of ours whose metrics port no PodMonitor scrapes. */
function unscrapedWorkloads(objects: readonly K8sObject[]): string[] {
  const monitors = objects.filter((o) => o.kind === "PodMonitor");
  if (monitors.length === 0) return [];
  return containersOf(objects)
    .filter((placed) => isOurs(placed) && !placed.init)
    .flatMap((placed) => {
      // /metrics is served on the port of /readyz, in every mode.
      const port = placed.container.readinessProbe?.httpGet?.port;
      const scraped = monitors.some(
        (m) =>
          (m.spec?.namespaceSelector?.matchNames ?? [m.metadata.namespace]).includes(
            placed.owner.metadata.namespace,
          ) &&
          selects(m.spec?.selector ?? {}, podLabelsOf(placed.owner) ?? {}) &&
          (m.spec?.podMetricsEndpoints ?? []).some(
            (e: K8sObject) => e.port === port && (e.path ?? "/metrics") === "/metrics",
          ),
      );
      return scraped ? [] : [`${placed.where}: no PodMonitor scrapes /metrics on port ${port}`];
    });
}

/**
 * Every reference of the render that does not resolve within it: Service selectors and target ports,
 * Ingress and HTTPRoute backends, binding roles and service accounts, PDB, NetworkPolicy and monitor
 * selectors, and each workload's selector, topology spread, service account and ConfigMaps.
 */
export function unresolvedReferences(objects: readonly K8sObject[]): string[] {
  return [
    ...objects.flatMap((o) => {
      switch (o.kind) {
        case "Service":
          return serviceProblems(objects, o);
        case "Ingress":
        case "HTTPRoute":
          return routeProblems(objects, o);
        case "RoleBinding":
        case "ClusterRoleBinding":
          return bindingProblems(objects, o);
        default:
          return podLabelsOf(o) ? workloadProblems(objects, o) : selectorProblems(objects, o);
      }
    }),
    ...unscrapedWorkloads(objects),
  ];
}

/**
 * Whether `object` is a RoleBinding of the account of one of our cluster clients (worker, standalone),
 * in a namespace of that container's WATCH_NAMESPACES: the one kind of object that belongs outside the
 * install namespace.
 */
export function bindsWatchedNamespace(objects: readonly K8sObject[]): (object: K8sObject) => boolean {
  const watched = containersOf(objects)
    .filter((placed) => isOurs(placed) && modeOf(placed) !== "web")
    .flatMap((placed) => {
      const loaded = configOf(placed, objects);
      if (!loaded.ok) return [];
      const account = placed.pod.serviceAccountName ?? "default";
      return loaded.config.worker.watchNamespaces.map((namespace) => ({
        namespace,
        account,
        accountNamespace: placed.owner.metadata.namespace,
      }));
    });
  return (object) =>
    object.kind === "RoleBinding" &&
    watched.some(
      (w) =>
        w.namespace === object.metadata.namespace &&
        (object.subjects ?? []).some(
          (s: K8sObject) =>
            s.kind === "ServiceAccount" && s.name === w.account && s.namespace === w.accountNamespace,
        ),
    );
}
