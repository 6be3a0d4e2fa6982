import { describe, expect, test } from "bun:test";
import {
  describeImageProblem,
  imageHasPrefix,
  isValidTag,
  MAX_IMAGE_LENGTH,
} from "../../../src/core/image.ts";

describe("describeImageProblem", () => {
  const valid = [
    "ghcr.io/acme/app",
    "ghcr.io/acme/team/app",
    "acme/app",
    "a/b",
    "localhost/app",
    "localhost:5000/app",
    "127.0.0.1:5000/acme/app",
    "registry.example.com:443/a/b/c",
    "my-registry.example.com/app",
    "docker.io/library/nginx",
    "GHCR.IO/acme/app",
    "ghcr.io/a.b_c-d/e",
    "ghcr.io/a__b/c",
    "ghcr.io/a---b/c",
    "ghcr.io/0/1",
  ];
  for (const image of valid) {
    test(`accepts ${image}.`, () => {
      expect(describeImageProblem(image)).toBeUndefined();
    });
  }

  const invalid: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["an empty image", "", /must not be empty/],
    ["a bare name without '/'", "app", /at least one "\/"/],
    ["a host without a path", "ghcr.io", /at least one "\/"/],
    ["a host and port without a path", "localhost:5000", /at least one "\/"/],
    ["an uppercase path", "ghcr.io/Acme/app", /"Acme" is not valid/],
    ["an uppercase name without host", "Acme/app", /"Acme" is not valid/],
    ["a digest", "ghcr.io/acme/app@sha256:0123", /digest/],
    ["a tag and a digest", "ghcr.io/acme/app:v1@sha256:0123", /digest/],
    ["an empty path component", "ghcr.io//app", /path component "" is not valid/],
    ["a trailing '/'", "ghcr.io/acme/", /path component "" is not valid/],
    ["a leading '/'", "/acme/app", /path component "" is not valid/],
    ["a component starting with '-'", "ghcr.io/-app/x", /"-app" is not valid/],
    ["a component ending with '.'", "ghcr.io/app./x", /"app." is not valid/],
    ["two dots in a row", "ghcr.io/a..b/x", /"a..b" is not valid/],
    ["three underscores", "ghcr.io/a___b/x", /"a___b" is not valid/],
    ["a space", "ghcr.io/a b/x", /"a b" is not valid/],
    ["a trailing newline", "ghcr.io/acme/app\n", /is not valid/],
    ["a non-numeric port", "ghcr.io:https/acme/app", /host "ghcr.io:https"/],
    ["an empty port", "ghcr.io:/acme/app", /host "ghcr.io:"/],
    ["a host with '_'", "my_registry.io/acme/app", /host "my_registry.io"/],
    ["a host starting with '-'", "-registry.io/acme/app", /host "-registry.io"/],
    ["a colon in a middle component", "ghcr.io/a:b/app", /"a:b" is not valid/],
  ];
  for (const [what, image, message] of invalid) {
    test(`rejects ${what}.`, () => {
      expect(describeImageProblem(image)).toMatch(message);
    });
  }

  test("rejects a tag and says what to send instead.", () => {
    expect(describeImageProblem("ghcr.io/acme/app:v1")).toBe(
      'image must not include a tag: send "ghcr.io/acme/app" and put "v1" in tags',
    );
  });

  test("splits a tag at its first ':' and keeps a registry port in the suggestion.", () => {
    expect(describeImageProblem("localhost:5000/app:v1:v2")).toBe(
      'image must not include a tag: send "localhost:5000/app" and put "v1:v2" in tags',
    );
  });

  test(`accepts ${MAX_IMAGE_LENGTH} characters and rejects ${MAX_IMAGE_LENGTH + 1}.`, () => {
    const image = `ghcr.io/${"a".repeat(MAX_IMAGE_LENGTH - "ghcr.io/".length)}`;
    expect(image).toHaveLength(255);
    expect(describeImageProblem(image)).toBeUndefined();
    expect(describeImageProblem(`${image}b`)).toBe("image must be at most 255 characters");
  });
});

describe("imageHasPrefix", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["ghcr.io/acme", "ghcr.io/acme/app", true],
    ["ghcr.io/acme", "ghcr.io/acme/team/app", true],
    ["ghcr.io/acme", "ghcr.io/acme", true],
    ["ghcr.io/acme", "ghcr.io/acme-evil/app", false],
    ["ghcr.io/acme", "ghcr.io/acmeapp", false],
    ["ghcr.io/acme", "ghcr.io/ac", false],
    ["ghcr.io/acme", "evil.io/ghcr.io/acme/app", false],
    ["ghcr.io/acme/", "ghcr.io/acme/app", true],
    ["ghcr.io/acme/", "ghcr.io/acme", false],
    ["ghcr.io/acme/", "ghcr.io/acme-evil/app", false],
    ["ghcr.io/acme/app-", "ghcr.io/acme/app-web", false],
    ["ghcr.io", "ghcr.io/acme/app", true],
    ["ghcr.io", "ghcr.io.evil.com/acme/app", false],
    ["ghcr.io", "ghcr.io:5000/acme/app", false],
    ["localhost:5000", "localhost:5000/app", true],
    ["localhost:5000", "localhost:50001/app", false],
  ];
  for (const [prefix, image, admitted] of cases) {
    test(`prefix ${prefix} ${admitted ? "admits" : "does not admit"} ${image}.`, () => {
      expect(imageHasPrefix(image, prefix)).toBe(admitted);
    });
  }
});

describe("isValidTag", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["a one-character tag", "v", true],
    ["a tag starting with '_'", "_dev", true],
    ["a tag starting with a digit", "1.0.0", true],
    ["a semver with pre-release", "v1.0.0-rc.1_build", true],
    ["upper case letters", "Latest", true],
    ["128 characters", `a${"b".repeat(127)}`, true],
    ["129 characters", `a${"b".repeat(128)}`, false],
    ["an empty tag", "", false],
    ["a tag starting with '.'", ".hidden", false],
    ["a tag starting with '-'", "-dev", false],
    ["a '+'", "v1+build", false],
    ["a ':'", "v1:x", false],
    ["a '/'", "feature/x", false],
    ["a space", "v 1", false],
    ["a trailing newline", "v1\n", false],
    ["non-ASCII letters", "vé", false],
  ];
  for (const [what, tag, valid] of cases) {
    test(`${valid ? "accepts" : "rejects"} ${what}.`, () => {
      expect(isValidTag(tag)).toBe(valid);
    });
  }
});
