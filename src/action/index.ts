import { appendFileSync } from "node:fs";
import { runAction } from "./run-action.ts";

// The Action's entry point, bundled for Node into action/index.js (bun run build:action).
process.exitCode = await runAction(process.env, {
  write: (text) => process.stdout.write(text),
  appendFile: (path, text) => appendFileSync(path, text, "utf8"),
  fetch,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: Date.now,
});
