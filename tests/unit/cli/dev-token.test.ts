import { describe, expect, test } from "bun:test";
import { runDevToken } from "../../../src/cli/dev-token.ts";

const ENV = { GITHUB_OIDC_AUDIENCE: "https://rollout.example", GITHUB_ALLOWED_ORG: "acme", DEV_MODE: "true" };

function run(argv: string[], env: Record<string, string> = ENV) {
  let stdout = "";
  const stderr: string[] = [];
  const code = runDevToken(argv, env, {
    print: (text) => (stdout += text),
    printError: (line) => stderr.push(line),
  });
  const payload =
    stdout === "" ? undefined : JSON.parse(Buffer.from(stdout.split(".")[1] ?? "", "base64url").toString());
  return { code, stderr, payload };
}

describe("kuberollouttrigger dev-token", () => {
  test("carries the claims of its flags, and repository_owner_id from GITHUB_ALLOWED_ORG_ID", () => {
    const made = run(
      [
        "--repository",
        "Acme/shop",
        "--repository-id",
        "77",
        "--ref",
        "refs/tags/v1",
        "--event-name",
        "push",
        "--environment",
        "prod",
      ],
      { ...ENV, GITHUB_ALLOWED_ORG_ID: "4242" },
    );
    expect(made.code).toBe(0);
    expect(made.payload).toMatchObject({
      repository: "Acme/shop",
      repository_id: "77",
      repository_owner: "acme",
      repository_owner_id: "4242",
      ref: "refs/tags/v1",
      event_name: "push",
      environment: "prod",
      job_workflow_ref: "Acme/shop/.github/workflows/dev.yml@refs/tags/v1",
      runner_environment: "github-hosted",
    });
  });

  test("leaves out the claims nobody set", () => {
    const made = run([]);
    expect(made.code).toBe(0);
    expect(made.payload).toMatchObject({ repository: "acme/dev-repository", ref: "refs/heads/main" });
    for (const claim of ["repository_id", "repository_owner_id", "environment"])
      expect(made.payload, claim).not.toHaveProperty(claim);
  });

  test("refuses a repository that is not OWNER/NAME of the org, and an empty claim flag, with exit 2", () => {
    for (const argv of [
      ["--repository", "acme"],
      ["--repository", "acme/"],
      ["--repository", "acme/x/y"],
      ["--repository", "elsewhere/app"],
      ["--ref", ""],
      ["--event-name="],
    ]) {
      const refused = run(argv);
      expect({ argv, code: refused.code, printed: refused.payload }).toEqual({
        argv,
        code: 2,
        printed: undefined,
      });
      expect(refused.stderr[0], argv.join(" ")).toStartWith("error: --");
    }
  });
});
