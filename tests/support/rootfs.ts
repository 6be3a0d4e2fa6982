import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Where the image puts the binary; the root built here uses the same path. */
export const BINARY_IN_ROOT = "/usr/local/bin/kuberollouttrigger";

/** Where the Go original's image kept its binary; the Containerfile links it to {@link BINARY_IN_ROOT}. */
export const ORIGINAL_PATH_IN_ROOT = "/server";

/** The uid and gid of distroless `nonroot`, which the Containerfile and the manifests use. */
export const NONROOT = 65532;

/** Why a distroless-like root cannot be run here, or undefined when it can. */
export function rootfsUnsupportedReason(): string | undefined {
  if (process.platform !== "linux") return "it needs Linux mount namespaces";
  if (process.getuid?.() !== 0) return "it must run as root to unshare a mount namespace and chroot";
  const missing = ["unshare", "chroot", "mount", "ldd"].filter((tool) => Bun.which(tool) === null);
  if (missing.length > 0) return `${missing.join(", ")} not found (util-linux, coreutils, libc-bin)`;
  return undefined;
}

/** The absolute paths of the shared libraries (and the ELF interpreter) that `ldd` lists for `binary`. */
export function sharedLibraries(binary: string): string[] {
  const result = Bun.spawnSync(["ldd", binary], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`ldd ${binary} failed: ${result.stderr.toString()}`);
  const paths: string[] = [];
  for (const line of result.stdout.toString().split("\n")) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match?.[1]) paths.push(match[1]);
  }
  return [...new Set(paths)];
}

/** An otherwise empty root directory holding the binary, the libraries `ldd` lists and an empty `/proc`. */
export interface DistrolessRoot extends Disposable {
  readonly dir: string;
  readonly libraries: readonly string[];
}

/** Builds the root; the directory is removed when it is disposed. */
export function makeDistrolessRoot(binary: string): DistrolessRoot {
  const dir = mkdtempSync(join(tmpdir(), "krt-rootfs-"));
  // mkdtemp makes the directory 0700; as "/" of uid 65532 it must be searchable.
  chmodSync(dir, 0o755);
  const place = (source: string, target: string, mode: number) => {
    mkdirSync(join(dir, dirname(target)), { recursive: true, mode: 0o755 });
    copyFileSync(source, join(dir, target));
    chmodSync(join(dir, target), mode);
  };
  const libraries = sharedLibraries(binary);
  for (const library of libraries) place(library, library, 0o755);
  place(binary, BINARY_IN_ROOT, 0o555);
  // As the Containerfile stages it: a link, not a second copy.
  symlinkSync(BINARY_IN_ROOT, join(dir, ORIGINAL_PATH_IN_ROOT));
  mkdirSync(join(dir, "proc"), { mode: 0o555 });
  return {
    dir,
    libraries,
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The command that runs the binary in `root` as a container runtime would: a private mount namespace,
 * the root bind-mounted read-only, a fresh `/proc`, then chroot as uid/gid 65532. Without `--fork`
 * every step `exec`s the next, so the spawned pid is the binary's own and signals reach it directly.
 */
export function commandInRoot(root: string, args: readonly string[], entry = BINARY_IN_ROOT): string[] {
  const script = [
    "set -e",
    'mount --bind "$0" "$0"',
    'mount -o remount,bind,ro "$0"',
    'mount -t proc -o nosuid,nodev,noexec proc "$0/proc"',
    `exec chroot --userspec=${NONROOT}:${NONROOT} --groups=${NONROOT} "$0" "$@"`,
  ].join("\n");
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, root, entry, ...args];
}

/**
 * `pid` and every process descended from it, found by the parent pid in each `/proc/<pid>/stat`. Unlike
 * the path `/proc/<pid>/root` reads as, this does not depend on where the observer's own root is (a
 * suite that runs inside a container or chroot reads that path relative to another root).
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // exited while the list was read
      throw error;
    }
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after its last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] ?? -1) ?? []));
  return tree;
}

/**
 * Whether two paths name the same file (device and inode). Through `/proc/<pid>/root` or
 * `/proc/<pid>/exe` it compares what the process really has, from any observer's root.
 */
export function sameFile(path: string, other: string): boolean {
  const [a, b] = [statSync(path), statSync(other)];
  return a.dev === b.dev && a.ino === b.ino;
}

/** Reads `Uid`, `Gid`, `Groups` and `CapEff` of a process from `/proc/<pid>/status`. */
export async function processIdentity(pid: number): Promise<Record<string, string>> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const fields: Record<string, string> = {};
  for (const line of status.split("\n")) {
    const [key, value] = line.split(":\t");
    if (key && value !== undefined && ["Uid", "Gid", "Groups", "CapEff", "NoNewPrivs"].includes(key))
      fields[key] = value.trim();
  }
  return fields;
}
