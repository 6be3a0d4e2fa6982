import { delimiter, dirname } from "node:path";
import {
  type CredentialSource,
  execCredentials,
  staticCredentials,
  tokenFileCredentials,
} from "./credentials.ts";
import { KubeConfigError } from "./kube-errors.ts";
import { type ClusterAccessSpec, resolveInCluster, resolveKubeconfig, type Source } from "./kubeconfig.ts";

/** Everything a request to the API server needs: where, how to verify it, and who we are. */
export interface ClusterAccess {
  /** `https://host:port[/prefix]`, without a trailing slash. */
  readonly server: string;
  /** PEM material for Bun's `fetch` (`tls` option). */
  readonly tls: {
    /** False only when the kubeconfig's `insecure-skip-tls-verify` turns verification off (https only). */
    readonly verify: boolean;
    readonly ca: string | undefined;
    readonly cert: string | undefined;
    readonly key: string | undefined;
    readonly serverName: string | undefined;
  };
  readonly proxyUrl: string | undefined;
  readonly impersonate: string | undefined;
  readonly credentials: CredentialSource;
  /** For the startup log line: where the access came from and how it authenticates (no secrets). */
  readonly summary: Readonly<Record<string, string>>;
}

/** Options of {@link loadClusterAccess}. */
export interface LoadClusterAccessOptions {
  /** `KUBECONFIG` / `--kubeconfig`: one path, or several joined by the path delimiter; empty means in-cluster. */
  readonly kubeconfig: string | undefined;
  /** Read for `KUBERNETES_SERVICE_HOST`/`_PORT` and handed to exec plugins (the configuration's `processEnv`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount`. */
  readonly serviceAccountDir?: string;
  /** How often a token file is re-read (default 60 s). */
  readonly tokenRefreshMs?: number;
  readonly now?: () => number;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

async function readSource(source: Source | undefined, what: string): Promise<string | undefined> {
  if (source === undefined) return undefined;
  try {
    return "data" in source
      ? Buffer.from(source.data, "base64").toString("utf8")
      : await Bun.file(source.file).text();
  } catch (error) {
    const where = "file" in source ? source.file : "inline data";
    throw new KubeConfigError(
      "ERR_KUBE_CONFIG_INVALID",
      `cannot read ${what} from ${where}: ${String(error)}`,
    );
  }
}

function requirePem(text: string | undefined, what: string): string | undefined {
  if (text !== undefined && !text.includes("-----BEGIN "))
    throw new KubeConfigError("ERR_KUBE_CONFIG_INVALID", `${what} is not PEM`);
  return text;
}

/** Reads the kubeconfig files; of several, the missing ones are skipped, as kubectl does. */
async function readKubeconfigFiles(paths: readonly string[]) {
  const read = await Promise.all(
    paths.map(async (path) => {
      try {
        return { text: await Bun.file(path).text(), dir: dirname(path) };
      } catch (error) {
        if (paths.length > 1 && (error as { code?: unknown }).code === "ENOENT") return undefined;
        const reason = error instanceof Error ? error.message : String(error);
        throw new KubeConfigError("ERR_KUBE_CONFIG_INVALID", `cannot read kubeconfig ${path}: ${reason}`);
      }
    }),
  );
  const found = read.filter((file) => file !== undefined);
  if (found.length === 0)
    throw new KubeConfigError(
      "ERR_KUBE_CONFIG_INVALID",
      `none of the kubeconfig files exists: ${paths.join(", ")}`,
    );
  return found;
}

async function credentialsFor(
  spec: ClusterAccessSpec,
  options: LoadClusterAccessOptions,
): Promise<CredentialSource> {
  if (spec.exec !== undefined)
    return execCredentials({ plugin: spec.exec, env: options.env, now: options.now });
  if (spec.token !== undefined) return staticCredentials(spec.token);
  if (spec.tokenFile !== undefined)
    return tokenFileCredentials({
      path: spec.tokenFile,
      refreshMs: options.tokenRefreshMs,
      now: options.now,
    });
  return staticCredentials(undefined);
}

function authMethod(spec: ClusterAccessSpec): string {
  if (spec.exec !== undefined) return `exec plugin ${spec.exec.command}`;
  const methods = [
    spec.clientCert !== undefined ? "client certificate" : "",
    spec.token !== undefined ? "token" : "",
    spec.tokenFile !== undefined ? "token file" : "",
  ].filter((m) => m !== "");
  return methods.length > 0 ? methods.join(" + ") : "none";
}

/**
 * Loads cluster access from a kubeconfig (its current context) or, without one, from the pod's service
 * account. Fails with a {@link KubeConfigError} naming the problem: unreadable files, a context that
 * does not resolve, `insecure-skip-tls-verify` beside a certificate authority, or an authentication
 * method we do not support.
 * Does not import `@kubernetes/client-node` (it costs ~65 MB of RSS under Bun).
 */
export async function loadClusterAccess(options: LoadClusterAccessOptions): Promise<ClusterAccess> {
  const { env } = options;
  const paths = (options.kubeconfig ?? "").split(delimiter).filter((p) => p !== "");
  const spec =
    paths.length > 0
      ? resolveKubeconfig(await readKubeconfigFiles(paths))
      : resolveInCluster({
          host: env.KUBERNETES_SERVICE_HOST,
          port: env.KUBERNETES_SERVICE_PORT,
          serviceAccountDir: options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR,
        });
  if (!/^https?:\/\//.test(spec.server))
    throw new KubeConfigError(
      "ERR_KUBE_CONFIG_INVALID",
      `cluster server "${spec.server}" is not an http(s) URL`,
    );
  const ca = requirePem(await readSource(spec.ca, "certificate authority"), "certificate authority");
  const cert = requirePem(await readSource(spec.clientCert, "client certificate"), "client certificate");
  const key = requirePem(await readSource(spec.clientKey, "client key"), "client key");
  if ((cert === undefined) !== (key === undefined))
    throw new KubeConfigError(
      "ERR_KUBE_CONFIG_INVALID",
      "a client certificate needs both certificate and key",
    );
  return {
    server: spec.server,
    tls: { verify: !spec.insecureSkipTlsVerify, ca, cert, key, serverName: spec.tlsServerName },
    proxyUrl: spec.proxyUrl,
    impersonate: spec.impersonate,
    credentials: await credentialsFor(spec, options),
    summary: {
      source: paths.length > 0 ? `kubeconfig ${paths.join(delimiter)}` : "in-cluster service account",
      server: spec.server,
      ...tlsSummary(spec.server, ca !== undefined, spec.insecureSkipTlsVerify),
      auth: authMethod(spec),
    },
  };
}

/** What the `cluster access loaded` line says of TLS: nothing to verify on plain http. */
function tlsSummary(server: string, hasCa: boolean, insecure: boolean): { ca: string; tls_verify: string } {
  if (server.startsWith("http://")) return { ca: "none (http)", tls_verify: "none (http)" };
  return {
    ca: hasCa ? "cluster CA" : "system roots",
    tls_verify: insecure ? "off (insecure-skip-tls-verify)" : "on",
  };
}
