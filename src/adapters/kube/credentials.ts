import { KubeConfigError } from "./kube-errors.ts";
import type { ExecPlugin } from "./kubeconfig.ts";

/** What one request presents: a bearer token and/or (for exec plugins) a client certificate. */
export interface Credentials {
  readonly authorization: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** Supplies credentials for each request; cached, refreshed when they can change. */
export interface CredentialSource {
  get(): Promise<Credentials>;
  /** Forgets cached credentials after a 401; returns whether fetching them again may help. */
  invalidate(): boolean;
}

const NONE: Credentials = { authorization: undefined, cert: undefined, key: undefined };

/** Fixed credentials (inline token, or none): a 401 cannot be cured by asking again. */
export function staticCredentials(token: string | undefined): CredentialSource {
  const credentials = token === undefined ? NONE : { ...NONE, authorization: `Bearer ${token}` };
  return { get: async () => credentials, invalidate: () => false };
}

/** Options of {@link tokenFileCredentials}. */
export interface TokenFileOptions {
  readonly path: string;
  /** Re-read the file at least this often: projected service-account tokens rotate (default 60 s). */
  readonly refreshMs?: number;
  readonly now?: () => number;
  readonly readFile?: (path: string) => Promise<string>;
}

/**
 * A bearer token read from a file, re-read once `refreshMs` has passed or after a 401. When a re-read
 * fails the last token keeps being used (the kubelet replaces the file atomically, so this is rare).
 */
export async function tokenFileCredentials(options: TokenFileOptions): Promise<CredentialSource> {
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshMs ?? 60_000;
  const readFile = options.readFile ?? ((path: string) => Bun.file(path).text());
  const read = async () => {
    const token = (await readFile(options.path)).trim();
    if (token === "")
      throw new KubeConfigError("ERR_KUBE_CONFIG_INVALID", `token file ${options.path} is empty`);
    return token;
  };
  let token: string;
  try {
    token = await read();
  } catch (error) {
    if (error instanceof KubeConfigError) throw error;
    throw new KubeConfigError(
      "ERR_KUBE_CONFIG_INVALID",
      `cannot read token file ${options.path}: ${String(error)}`,
    );
  }
  let readAt = now();
  let pending: Promise<void> | undefined;
  const refresh = async () => {
    try {
      token = await read();
    } catch {
      // Keep the last token: a missing file mid-rotation must not take the worker down.
    }
    readAt = now();
    pending = undefined;
  };
  return {
    async get() {
      if (now() - readAt >= refreshMs) {
        pending ??= refresh();
        await pending;
      }
      return { ...NONE, authorization: `Bearer ${token}` };
    },
    invalidate() {
      readAt = Number.NEGATIVE_INFINITY;
      return true;
    },
  };
}

/** Options of {@link execCredentials}. */
export interface ExecOptions {
  readonly plugin: ExecPlugin;
  /** The environment the plugin runs with (the worker's own, as kubectl hands it on), plus the plugin's `env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

interface ExecResult {
  readonly credentials: Credentials;
  readonly expiresAt: number;
}

async function runPlugin(options: ExecOptions): Promise<ExecResult> {
  const { plugin } = options;
  const env: Record<string, string | undefined> = { ...options.env };
  for (const entry of plugin.env) env[entry.name] = entry.value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: plugin.apiVersion,
    kind: "ExecCredential",
    spec: { interactive: false },
  });
  const failed = (why: string) =>
    new KubeConfigError("ERR_KUBE_UNSUPPORTED_AUTH", `exec credential plugin "${plugin.command}" ${why}`);
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn([plugin.command, ...plugin.args], {
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: options.timeoutMs ?? 30_000,
    });
  } catch (error) {
    throw failed(`cannot be started: ${String(error)}`);
  }
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout as ReadableStream).text(),
    new Response(child.stderr as ReadableStream).text(),
    child.exited,
  ]);
  if (exitCode !== 0) throw failed(`exited with ${exitCode}: ${stderr.trim().slice(0, 300)}`);
  let status: Record<string, unknown>;
  try {
    status = (JSON.parse(stdout) as { status?: Record<string, unknown> }).status ?? {};
  } catch {
    throw failed("printed no ExecCredential JSON");
  }
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const token = text(status.token);
  const cert = text(status.clientCertificateData);
  const key = text(status.clientKeyData);
  if (token === undefined && (cert === undefined || key === undefined))
    throw failed("returned neither a token nor a client certificate and key");
  const expiry = text(status.expirationTimestamp);
  return {
    credentials: { authorization: token === undefined ? undefined : `Bearer ${token}`, cert, key },
    expiresAt: expiry === undefined ? Number.POSITIVE_INFINITY : Date.parse(expiry),
  };
}

/**
 * Credentials from a client-go exec plugin (`users[].user.exec`), run without a terminal and cached
 * until their `expirationTimestamp` (less a 10 s margin) or a 401. The first run happens at startup.
 */
export async function execCredentials(options: ExecOptions): Promise<CredentialSource> {
  const now = options.now ?? Date.now;
  let current = await runPlugin(options);
  let pending: Promise<void> | undefined;
  return {
    async get() {
      if (now() >= current.expiresAt - 10_000) {
        pending ??= runPlugin(options)
          .then((next) => {
            current = next;
          })
          .finally(() => {
            pending = undefined;
          });
        await pending;
      }
      return current.credentials;
    },
    invalidate() {
      current = { ...current, expiresAt: Number.NEGATIVE_INFINITY };
      return true;
    },
  };
}
