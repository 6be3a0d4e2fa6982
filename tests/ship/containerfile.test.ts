import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { SETTINGS } from "../../src/config/settings.ts";
import { ROOT } from "./rendered.ts";

// No container engine runs here, so the Containerfile is read as text and held to what the SPEC's
// "In the cluster" section asks of the image; the rootfs test proves the binary fits such an image.

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Parses a Containerfile into instructions per stage, joining continuation lines and dropping comments. */
function parseStages(text: string): Instruction[][] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = "";
  }
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    if (instruction.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

const containerfile = await Bun.file(join(ROOT, "Containerfile")).text();
const stages = parseStages(containerfile);
const finalStage = stages.at(-1) ?? [];
const buildStage = stages[0] ?? [];
const imageOf = (stage: Instruction[]) =>
  (stage[0]?.args ?? "")
    .split(/\s+/)
    .filter((word) => !word.startsWith("--"))
    .at(0) ?? "";
const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);

describe("the Containerfile", () => {
  test("has a build stage and a final stage", () => {
    expect(stages.length).toBe(2);
  });

  test("pins every base image by a tag other than latest", () => {
    for (const stage of stages) {
      const image = imageOf(stage);
      const tag = /:([^/:@]+)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
      expect(tag, image).toBeDefined();
      expect(tag, image).not.toBe("latest");
    }
  });

  test("builds with Bun's official image of the version the project uses", () => {
    const bunVersion = packageJson.devDependencies["@types/bun"].replace(/^\^/, "");
    expect(imageOf(buildStage)).toMatch(
      new RegExp(`^(docker\\.io/)?oven/bun:${bunVersion.replace(/\./g, "\\.")}\\b`),
    );
  });

  test("installs from the frozen lockfile and builds with the project's build script", () => {
    const runs = all(buildStage, "RUN").map((i) => i.args);
    expect(runs.some((run) => /\bbun install --frozen-lockfile\b/.test(run))).toBe(true);
    expect(runs.some((run) => /\bbun run build\b/.test(run))).toBe(true);
    expect(packageJson.scripts.build).toContain("--compile");
    expect(packageJson.scripts.build).toContain("--outfile dist/kuberollouttrigger");
  });

  test("cross-compiles for amd64 and arm64 on the builder's platform", () => {
    expect(buildStage[0]?.args).toContain("--platform=$BUILDPLATFORM");
    expect(all(buildStage, "ARG").map((i) => i.args)).toContain("TARGETARCH");
    const build = all(buildStage, "RUN").find((i) => i.args.includes("bun run build"))?.args ?? "";
    expect(build).toContain("--target=bun-linux-$BUN_ARCH");
    expect(build).toMatch(/amd64\) BUN_ARCH=x64/);
    expect(build).toMatch(/arm64\) BUN_ARCH=arm64/);
  });

  test("ends on a distroless base with glibc, as user and group 65532", () => {
    expect(imageOf(finalStage)).toMatch(/^gcr\.io\/distroless\/(cc|base)-debian\d+:nonroot$/);
    expect(all(finalStage, "USER").at(-1)?.args).toBe("65532:65532");
  });

  test("runs the binary directly as an exec-form ENTRYPOINT, with no shell anywhere in the final stage", () => {
    const entrypoint = all(finalStage, "ENTRYPOINT");
    expect(entrypoint.length).toBe(1);
    const argv = JSON.parse(entrypoint[0]?.args ?? "") as string[];
    expect(argv).toEqual(["/usr/local/bin/kuberollouttrigger"]);
    // The final stage takes the staged root folder whole; the build stage put the binary there.
    expect(all(finalStage, "COPY").map((i) => i.args)).toEqual(["--from=build --chown=0:0 /rootfs/ /"]);
    const staging =
      all(buildStage, "RUN")
        .map((i) => i.args)
        .find((run) => run.includes("/rootfs")) ?? "";
    expect(staging).toContain("cp dist/kuberollouttrigger /rootfs/usr/local/bin/kuberollouttrigger");
    expect(staging).toContain("chmod 0555 /rootfs/usr/local/bin/kuberollouttrigger");
    for (const keyword of ["CMD", "HEALTHCHECK"])
      for (const instruction of all(finalStage, keyword))
        expect(instruction.args.trim().startsWith("[")).toBe(true);
    expect(all(finalStage, "RUN")).toEqual([]);
    expect(all(finalStage, "SHELL")).toEqual([]);
  });

  test("answers at /server too, where the Go original's image kept its binary, as a link rather than a second copy", () => {
    const staging =
      all(buildStage, "RUN")
        .map((i) => i.args)
        .find((run) => run.includes("/rootfs")) ?? "";
    expect(staging).toContain("ln -s /usr/local/bin/kuberollouttrigger /rootfs/server");
    expect(staging.match(/\bcp dist\/kuberollouttrigger\b/g)).toHaveLength(1);
  });

  test("exposes the web's default port", () => {
    const port = SETTINGS.find((s) => s.env === "WEB_LISTEN_ADDR")?.default?.replace(/^.*:/, "") ?? "";
    expect(all(finalStage, "EXPOSE").map((i) => i.args)).toEqual([port]);
  });

  test("is built from a context that .containerignore and .dockerignore trim alike, keeping what the build copies", async () => {
    const containerignore = await Bun.file(join(ROOT, ".containerignore")).text();
    expect(await Bun.file(join(ROOT, ".dockerignore")).text()).toBe(containerignore);
    const ignored = containerignore
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    for (const must of ["node_modules", "dist", ".git"]) expect(ignored).toContain(must);
    const copiedSources = all(buildStage, "COPY").flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const source of copiedSources) expect(ignored, source).not.toContain(source);
  });
});
