import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM texts written to files in a temporary directory, removed on dispose. */
export interface PemFiles extends AsyncDisposable {
  readonly dir: string;
  /** The path of the file written for each name. */
  readonly paths: Readonly<Record<string, string>>;
}

/** Writes each `name → PEM text` to `<tmp>/<name>.pem` (mode 0600). Dispose with `await using`. */
export async function writePemFiles(pems: Readonly<Record<string, string>>): Promise<PemFiles> {
  const dir = await mkdtemp(join(tmpdir(), "krt-pem-"));
  const paths: Record<string, string> = {};
  for (const [name, pem] of Object.entries(pems)) {
    const path = join(dir, `${name}.pem`);
    await writeFile(path, pem, { mode: 0o600 });
    paths[name] = path;
  }
  return {
    dir,
    paths,
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
