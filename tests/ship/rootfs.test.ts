import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import {
  BINARY_IN_ROOT,
  commandInRoot,
  type DistrolessRoot,
  makeDistrolessRoot,
  NONROOT,
  ORIGINAL_PATH_IN_ROOT,
  processIdentity,
  processTree,
  rootfsUnsupportedReason,
  sameFile,
  sharedLibraries,
} from "../support/rootfs.ts";
import { baseUrlOf } from "../support/spawn-binary.ts";

// Proves the compiled binary needs nothing a distroless image lacks: no shell, no curl, no writable
// root, no root user. If a native dependency, a write to the root filesystem or a shell-out creeps in,
// these tests break before an image ever does.

const BINARY = join(import.meta.dir, "../../dist/kuberollouttrigger");
const inCi = process.env.CI === "true";
const unsupported = rootfsUnsupportedReason();
const skip = unsupported !== undefined && !inCi;
if (skip)
  console.warn(`skipping the distroless-like root tests: ${unsupported} (they never skip with CI=true)`);

/** glibc and the GCC runtime libraries: what gcr.io/distroless/cc-debian12 ships. */
const DISTROLESS_CC_LIBRARIES = [
  /^ld-linux[-.\w]*\.so\.\d+$/,
  /^lib(c|m|dl|pthread|rt|resolv|util|anl)\.so\.\d+$/,
  /^lib(gcc_s|stdc\+\+|gomp)\.so\.\d+$/,
];

/**
 * The environment a web in DEV_MODE needs, listening on all interfaces as in a pod (port 0: any free
 * one); Valkey is deliberately absent (nothing listens on port 1).
 */
const webEnv = (port = 0) => ({
  PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  WEB_LISTEN_ADDR: `:${port}`,
  VALKEY_ADDR: "127.0.0.1:1",
  ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/",
  GITHUB_OIDC_AUDIENCE: "https://kuberollouttrigger.test",
  GITHUB_ALLOWED_ORG: "acme",
  DEV_MODE: "true",
});

function requireRunnable(): void {
  if (unsupported) throw new Error(`cannot run the distroless-like root: ${unsupported}`);
  if (!existsSync(BINARY))
    throw new Error(`${BINARY} is missing: run \`bun run build\` first (\`bun run test\` does)`);
}

async function runInRoot(root: string, args: string[], env: Record<string, string>, entry?: string) {
  const proc = Bun.spawn(commandInRoot(root, args, entry), { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe.skipIf(skip)("the compiled binary in a distroless-like root", () => {
  test("the binary was built before the tests ran", () => {
    requireRunnable();
    expect(existsSync(BINARY)).toBe(true);
  });

  test("ldd lists only glibc and GCC runtime libraries, which the distroless cc image provides", () => {
    requireRunnable();
    const names = sharedLibraries(BINARY).map((path) => basename(path));
    expect(names.length).toBeGreaterThan(0);
    const foreign = names.filter((name) => !DISTROLESS_CC_LIBRARIES.some((pattern) => pattern.test(name)));
    expect(foreign).toEqual([]);
  });

  test("the version sub-command runs read-only as uid 65532 with only the ldd libraries present", async () => {
    requireRunnable();
    using root = makeDistrolessRoot(BINARY);
    const result = await runInRoot(root.dir, ["version"], { PATH: process.env.PATH ?? "/usr/bin:/bin" });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(result.stdout).toMatch(/^kuberollouttrigger \S+\n$/);
  });

  test("/server, where the Go original's image kept its binary, runs it, as command and as args", async () => {
    requireRunnable();
    using root = makeDistrolessRoot(BINARY);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
    // command: ["/server", "version"] replaces the entrypoint; args: ["/server", "version"] follow it.
    for (const run of [
      await runInRoot(root.dir, ["version"], env, ORIGINAL_PATH_IN_ROOT),
      await runInRoot(root.dir, [ORIGINAL_PATH_IN_ROOT, "version"], env),
    ]) {
      expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: "" });
      expect(run.stdout).toMatch(/^kuberollouttrigger \S+\n$/);
    }
  });
});

describe.skipIf(skip)("the web mode in a distroless-like root", () => {
  let root: DistrolessRoot | undefined;
  let web: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let port = 0;
  const output: string[] = [];

  const base = () => `http://127.0.0.1:${port}`;
  let stdout = "";
  /** The web's `web listening` line, which says which port it bound (complete lines only). */
  const listening = () =>
    stdout
      .split("\n")
      .slice(0, -1)
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === "web listening");
  const describeWeb = () =>
    `web exit code ${web?.exitCode ?? "(running)"}; its output:\n${output.join("").slice(-4000)}`;

  beforeAll(async () => {
    requireRunnable();
    root = makeDistrolessRoot(BINARY);
    web = Bun.spawn(commandInRoot(root.dir, ["web"]), { env: webEnv(), stdout: "pipe", stderr: "pipe" });
    const collect = async (stream: ReadableStream<Uint8Array>, keep = (_text: string) => {}) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        output.push(text);
        keep(text);
      }
    };
    void collect(web.stdout, (text) => {
      stdout += text;
    });
    void collect(web.stderr);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && web.exitCode === null) {
      const line = listening();
      if (line === undefined) {
        await Bun.sleep(10);
        continue;
      }
      port = Number(new URL(baseUrlOf(line)).port);
      const status = await fetch(`${base()}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 200) return;
      await Bun.sleep(50);
    }
    throw new Error(`the web never answered /healthz with 200 inside the root; ${describeWeb()}`);
  }, 30_000);

  afterAll(async () => {
    if (web && web.exitCode === null) {
      web.kill("SIGKILL");
      await web.exited;
    }
    root?.[Symbol.dispose]();
  });

  test("GET /healthz answers 200 from outside the root via 127.0.0.1", async () => {
    const response = await fetch(`${base()}/healthz`);
    expect(response.status).toBe(200);
  });

  test("GET /readyz answers 503 while Valkey is unreachable, so the pod is not sent traffic", async () => {
    const response = await fetch(`${base()}/readyz`);
    expect(response.status).toBe(503);
  });

  test("the web process runs as uid and gid 65532 with no effective capabilities", async () => {
    // Every step before it execs the next, so the spawned pid is the binary's own, with no helper
    // process beside it; and that process runs the root's binary with the root as its "/".
    const pid = web?.pid ?? -1;
    expect(processTree(pid)).toEqual([pid]);
    expect(sameFile(`/proc/${pid}/root`, root?.dir ?? "")).toBe(true);
    expect(sameFile(`/proc/${pid}/exe`, join(root?.dir ?? "", BINARY_IN_ROOT))).toBe(true);
    const identity = await processIdentity(pid);
    const ids = `${NONROOT}\t${NONROOT}\t${NONROOT}\t${NONROOT}`;
    expect(identity).toMatchObject({ Uid: ids, Gid: ids, Groups: `${NONROOT}`, CapEff: "0000000000000000" });
  });

  test("the web process sees its root filesystem mounted read-only and a /proc, nothing else", async () => {
    const mountinfo = await Bun.file(`/proc/${web?.pid ?? -1}/mountinfo`).text();
    const mounts = mountinfo
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .map((fields) => ({ point: fields[4], options: fields[5]?.split(",") ?? [] }));
    expect(mounts.map((mount) => mount.point)).toEqual(["/", "/proc"]);
    expect(mounts[0]?.options).toContain("ro");
  });

  test("the healthcheck sub-command exits 0 inside the root without a shell or curl", async () => {
    const result = await runInRoot(root?.dir ?? "", ["healthcheck"], webEnv(port));
    expect(result.exitCode, `${result.stdout}${result.stderr}`).toBe(0);
  });

  test("the healthcheck sub-command exits 1 inside the root when nothing answers on the port", async () => {
    const url = "http://127.0.0.1:1/healthz";
    const result = await runInRoot(root?.dir ?? "", ["healthcheck", "--url", url], webEnv(port));
    expect(result.exitCode).toBe(1);
  });

  test("SIGTERM stops the web inside the root with exit code 0", async () => {
    web?.kill("SIGTERM");
    const deadline = AbortSignal.timeout(12_000);
    const exitCode = await Promise.race([
      web?.exited,
      new Promise<never>((_, reject) =>
        deadline.addEventListener("abort", () =>
          reject(new Error(`no exit after SIGTERM; ${describeWeb()}`)),
        ),
      ),
    ]);
    expect(exitCode).toBe(0);
  }, 20_000);
});
