import { expect, test } from "bun:test";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..", "..");

test("the web mode's import graph holds neither the Kubernetes client nor the worker", async () => {
  const result = await Bun.build({ entrypoints: [join(root, "src/wiring/web.ts")], target: "bun" });
  expect(result.success).toBe(true);
  const text = (await result.outputs[0]?.text()) ?? "";
  // An unminified bundle names each module it inlines in a `// path` comment.
  const modules = [...text.matchAll(/^\/\/ ((?:src|node_modules)\/\S+)$/gm)].map((match) => match[1] ?? "");
  expect(modules).toContain("src/web/create-web-app.ts");
  expect(modules).toContain("src/adapters/valkey/publisher.ts");
  const forbidden = modules.filter((path) =>
    /^(node_modules\/@kubernetes\/|src\/worker\/|src\/adapters\/kube)/.test(path),
  );
  expect(forbidden).toEqual([]);
});
