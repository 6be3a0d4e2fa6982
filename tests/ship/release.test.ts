import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { type K8sObject, OUR_IMAGE, ROOT } from "./rendered.ts";

// Holds together where the image comes from and where it is used: the release workflow's tag pattern
// and the image it pushes, the image component of the manifests, package.json's version and
// docs/deployment.md. A release tag whose image the manifests of that tag do not run fails here.

const read = (path: string) => Bun.file(join(ROOT, path)).text();
const workflow = Bun.YAML.parse(await read(".github/workflows/release.yml")) as K8sObject;
const jobs = Object.values(workflow.jobs ?? {}) as K8sObject[];
const steps: K8sObject[] = jobs.flatMap((job) => job.steps ?? []);
const build = steps.find((step) => String(step.uses).startsWith("docker/build-push-action@"));
const component = Bun.YAML.parse(await read("manifests/components/image/kustomization.yaml")) as K8sObject;
const { version } = packageJson;

/** A GitHub filter pattern as a RegExp; only `*` (anything but `/`) is supported, the rest is literal. */
function filterPattern(pattern: string): RegExp {
  if (/[?+[\]!]/.test(pattern)) throw new Error(`unsupported filter pattern ${pattern}`);
  const literal = pattern.replace(/[.^$|(){}\\]/g, "\\$&");
  return new RegExp(`^${literal.replaceAll("*", "[^/]*")}$`);
}

/** The step whose output `version` the build's tag reads. */
function versionStep(): K8sObject | undefined {
  const id = /\$\{\{ steps\.([\w-]+)\.outputs\.version \}\}/.exec(String(build?.with?.tags))?.[1];
  return steps.find((step) => step.id === id);
}

/** Runs a step's script as GitHub's bash shell would for the tag `refName`; its exit code and outputs. */
function runStep(step: K8sObject, refName: string): { exitCode: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "release-step-"));
  try {
    const output = join(dir, "output");
    const result = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, GITHUB_REF_NAME: refName, GITHUB_OUTPUT: output },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { exitCode: result.exitCode, output: result.exitCode === 0 ? readFileSync(output, "utf8") : "" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe(".github/workflows/release.yml", () => {
  test("runs on a pushed tag v followed by the version, and on nothing else", () => {
    expect(Object.keys(workflow.on)).toEqual(["push"]);
    expect(Object.keys(workflow.on.push)).toEqual(["tags"]);
    const patterns = (workflow.on.push.tags as string[]).map(filterPattern);
    expect(patterns.some((pattern) => pattern.test(`v${version}`))).toBe(true);
    expect(patterns.some((pattern) => pattern.test(version))).toBe(false);
  });

  test("grants only contents: read and packages: write, on its one job", () => {
    expect(workflow.permissions).toEqual({});
    expect(jobs.map((job) => job.permissions)).toEqual([{ contents: "read", packages: "write" }]);
  });

  test("builds linux/amd64 and linux/arm64 from the Containerfile by cross-compiling, without QEMU", () => {
    expect(build?.with).toMatchObject({ context: ".", file: "Containerfile", push: true });
    expect(String(build?.with.platforms).split(",").sort()).toEqual(["linux/amd64", "linux/arm64"]);
    expect(steps.some((step) => String(step.uses).startsWith("docker/setup-qemu-action@"))).toBe(false);
  });

  test("pushes our image under one tag, the version that a step takes from the git tag", () => {
    const step = versionStep();
    expect(step).toBeDefined();
    expect(build?.with.tags).toBe(`${OUR_IMAGE}:${"$"}{{ steps.${step?.id}.outputs.version }}`);
  });

  test("takes the version without the v from a tag that matches package.json", () => {
    expect(runStep(versionStep() ?? {}, `v${version}`)).toEqual({
      exitCode: 0,
      output: `version=${version}\n`,
    });
  });

  test("fails on a tag that is not v followed by the version in package.json", () => {
    for (const tag of [`v${version}-rc.1`, "v99.0.0", version, `v${version}.1`])
      expect(runStep(versionStep() ?? {}, tag).exitCode, tag).not.toBe(0);
  });
});

describe("the image the manifests run", () => {
  test("is our image tagged with the version in package.json, in manifests/components/image", () => {
    expect(component.images).toEqual([{ name: OUR_IMAGE, newTag: version }]);
  });

  test("is the image and tag docs/deployment.md says to deploy with the manifests of the release tag", async () => {
    const deployment = await read("docs/deployment.md");
    expect(deployment).toContain(`\`${OUR_IMAGE}:${version}\``);
    expect(deployment).toContain(`?ref=v${version}`);
    expect(deployment).toContain("[`.github/workflows/release.yml`](../.github/workflows/release.yml)");
  });
});
