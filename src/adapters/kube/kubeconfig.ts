import { isAbsolute, join } from "node:path";
import { KubeConfigError } from "./kube-errors.ts";

/** A value given inline (base64 `…-data`) or as a file path, as kubeconfig allows for each secret. */
export type Source = { readonly data: string } | { readonly file: string };

/** A client-go credential plugin (`users[].user.exec`). */
export interface ExecPlugin {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly apiVersion: string;
}

/** How to reach one cluster and authenticate there: the current context of a kubeconfig, resolved. */
export interface ClusterAccessSpec {
  /** `https://host:port[/prefix]`, without a trailing slash. */
  readonly server: string;
  readonly ca: Source | undefined;
  readonly tlsServerName: string | undefined;
  readonly proxyUrl: string | undefined;
  readonly clientCert: Source | undefined;
  readonly clientKey: Source | undefined;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly exec: ExecPlugin | undefined;
  readonly impersonate: string | undefined;
  /**
   * The cluster's `insecure-skip-tls-verify` on an https server: its certificate is not verified, as
   * kubectl does. Never set for the in-cluster service account, nor for an http server (where it means
   * nothing).
   */
  readonly insecureSkipTlsVerify: boolean;
  /** The default namespace of the context (informational). */
  readonly namespace: string | undefined;
}

/** One kubeconfig file: its text and the directory its relative paths are resolved against. */
export interface KubeconfigFile {
  readonly text: string;
  readonly dir: string;
}

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Obj) : {};
const str = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

function named(list: unknown, field: string): Map<string, Obj> {
  const found = new Map<string, Obj>();
  for (const item of Array.isArray(list) ? list : []) {
    const name = str(obj(item).name);
    if (name !== undefined && !found.has(name)) found.set(name, obj(obj(item)[field]));
  }
  return found;
}

const invalid = (message: string) => new KubeConfigError("ERR_KUBE_CONFIG_INVALID", message);

function source(entry: Obj, dataKey: string, fileKey: string, dir: string): Source | undefined {
  const data = str(entry[dataKey]);
  if (data !== undefined) return { data };
  const file = str(entry[fileKey]);
  if (file === undefined) return undefined;
  return { file: isAbsolute(file) ? file : join(dir, file) };
}

function readExec(value: unknown, userName: string): ExecPlugin | undefined {
  if (value === undefined || value === null) return undefined;
  const exec = obj(value);
  const command = str(exec.command);
  if (command === undefined) throw invalid(`kubeconfig user "${userName}": exec has no command`);
  return {
    command,
    args: (Array.isArray(exec.args) ? exec.args : []).map(String),
    env: (Array.isArray(exec.env) ? exec.env : []).map((e) => ({
      name: String(obj(e).name ?? ""),
      value: String(obj(e).value ?? ""),
    })),
    apiVersion: str(exec.apiVersion) ?? "client.authentication.k8s.io/v1",
  };
}

function refuseUnsupported(user: Obj, userName: string): void {
  const provider = obj(user["auth-provider"]);
  if (str(provider.name) !== undefined)
    throw new KubeConfigError(
      "ERR_KUBE_UNSUPPORTED_AUTH",
      `kubeconfig user "${userName}" uses auth-provider "${str(provider.name)}", which is not supported: use a token, a client certificate or an exec credential plugin`,
    );
  if (str(user.username) !== undefined || str(user.password) !== undefined)
    throw new KubeConfigError(
      "ERR_KUBE_UNSUPPORTED_AUTH",
      `kubeconfig user "${userName}" uses basic authentication (username/password), which is not supported: use a token, a client certificate or an exec credential plugin`,
    );
}

/**
 * Resolves the current context of one or more kubeconfig files (merged as kubectl does: the first file
 * that names a current context or defines a cluster, user or context wins). Relative file paths are
 * resolved against the directory of the file that holds them. `insecure-skip-tls-verify` is honoured on
 * an https server as kubectl honours it, and refused beside a certificate authority, as kubectl refuses it.
 */
export function resolveKubeconfig(files: readonly KubeconfigFile[]): ClusterAccessSpec {
  let currentContext: string | undefined;
  const clusters = new Map<string, { entry: Obj; dir: string }>();
  const users = new Map<string, { entry: Obj; dir: string }>();
  const contexts = new Map<string, Obj>();
  for (const file of files) {
    let doc: Obj;
    try {
      doc = obj(Bun.YAML.parse(file.text));
    } catch (error) {
      throw invalid(
        `kubeconfig is not valid YAML: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    currentContext ??= str(doc["current-context"]);
    for (const [name, entry] of named(doc.clusters, "cluster"))
      if (!clusters.has(name)) clusters.set(name, { entry, dir: file.dir });
    for (const [name, entry] of named(doc.users, "user"))
      if (!users.has(name)) users.set(name, { entry, dir: file.dir });
    for (const [name, entry] of named(doc.contexts, "context"))
      if (!contexts.has(name)) contexts.set(name, entry);
  }
  if (currentContext === undefined) throw invalid("kubeconfig has no current-context");
  const context = contexts.get(currentContext);
  if (context === undefined) throw invalid(`kubeconfig current-context "${currentContext}" is not defined`);
  const clusterName = str(context.cluster) ?? "";
  const cluster = clusters.get(clusterName);
  if (cluster === undefined)
    throw invalid(`kubeconfig context "${currentContext}" names unknown cluster "${clusterName}"`);
  const userName = str(context.user);
  const user = userName === undefined ? undefined : users.get(userName);
  if (userName !== undefined && user === undefined)
    throw invalid(`kubeconfig context "${currentContext}" names unknown user "${userName}"`);
  const server = str(cluster.entry.server);
  if (server === undefined) throw invalid(`kubeconfig cluster "${clusterName}" has no server`);
  const ca = source(cluster.entry, "certificate-authority-data", "certificate-authority", cluster.dir);
  const insecureSkipTlsVerify = readInsecure(cluster.entry, clusterName, server, ca !== undefined);
  const u = user?.entry ?? {};
  if (user !== undefined) refuseUnsupported(u, userName ?? "");
  const userDir = user?.dir ?? cluster.dir;
  const tokenFile = str(u.tokenFile) ?? str(u["token-file"]);
  return {
    server: server.replace(/\/+$/, ""),
    ca,
    insecureSkipTlsVerify,
    tlsServerName: str(cluster.entry["tls-server-name"]),
    proxyUrl: str(cluster.entry["proxy-url"]),
    clientCert: source(u, "client-certificate-data", "client-certificate", userDir),
    clientKey: source(u, "client-key-data", "client-key", userDir),
    token: str(u.token),
    tokenFile: tokenFile === undefined || isAbsolute(tokenFile) ? tokenFile : join(userDir, tokenFile),
    exec: readExec(u.exec, userName ?? ""),
    impersonate: str(u.as),
    namespace: str(context.namespace),
  };
}

/** Where a pod finds its service account, and the variables Kubernetes sets in every container. */
export interface InClusterInputs {
  readonly host: string | undefined;
  readonly port: string | undefined;
  /** Directory holding `token`, `ca.crt` and `namespace`. */
  readonly serviceAccountDir: string;
}

/** The access of a pod's service account: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`. */
export function resolveInCluster(inputs: InClusterInputs): ClusterAccessSpec {
  if (inputs.host === undefined || inputs.host === "" || inputs.port === undefined || inputs.port === "")
    throw new KubeConfigError(
      "ERR_KUBE_NOT_IN_CLUSTER",
      "no kubeconfig given (KUBECONFIG / --kubeconfig) and not running in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)",
    );
  const host = inputs.host.includes(":") ? `[${inputs.host}]` : inputs.host;
  return {
    server: `https://${host}:${inputs.port}`,
    ca: { file: join(inputs.serviceAccountDir, "ca.crt") },
    tlsServerName: undefined,
    proxyUrl: undefined,
    clientCert: undefined,
    clientKey: undefined,
    token: undefined,
    tokenFile: join(inputs.serviceAccountDir, "token"),
    exec: undefined,
    impersonate: undefined,
    insecureSkipTlsVerify: false,
    namespace: undefined,
  };
}

/**
 * The cluster's `insecure-skip-tls-verify`, as kubectl reads it: meaningless on an http server (there is
 * no certificate), honoured on https, and an error beside a certificate authority (client-go refuses
 * "a root certificates file with the insecure flag").
 */
function readInsecure(cluster: Obj, name: string, server: string, hasCa: boolean): boolean {
  const skip = cluster["insecure-skip-tls-verify"];
  if (skip !== true && skip !== "true") return false;
  if (server.startsWith("http://")) return false;
  if (hasCa)
    throw new KubeConfigError(
      "ERR_KUBE_INSECURE_TLS",
      `kubeconfig cluster "${name}" sets both insecure-skip-tls-verify and a certificate authority, which kubectl refuses too: remove one`,
    );
  return true;
}
