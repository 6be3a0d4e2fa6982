import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The README's two commands for a newcomer: the local demo, then the tests. */
export interface ReadmeCommands {
  readonly demo: string;
  readonly test: string;
}

/** Reads the README's shell code blocks; the first starts the demo, the second runs the tests. */
export function readmeCommands(root: string): ReadmeCommands {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```sh\n([^`]*?)\n```/g)].map((match) => (match[1] ?? "").trim());
  const [demo, test] = blocks;
  if (blocks.length !== 2 || demo === undefined || test === undefined) {
    throw new Error(`the README must hold exactly two sh blocks (demo, tests); found ${blocks.length}`);
  }
  return { demo, test };
}
