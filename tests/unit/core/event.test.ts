import { describe, expect, test } from "bun:test";
import {
  checkEvent,
  type EventCheck,
  MAX_TAGS,
  parseEvent,
  serializeEvent,
} from "../../../src/core/event.ts";

const PREFIX = "ghcr.io/acme";
const IMAGE = "ghcr.io/acme/app";

const errorOf = (check: EventCheck): string => (check.ok ? "accepted" : check.error);
const tagsOf = (count: number) => Array.from({ length: count }, (_, i) => `t${i}`);

describe("checkEvent, shape", () => {
  test("accepts a valid event and returns exactly its image and tags.", () => {
    expect(checkEvent({ image: IMAGE, tags: ["v1.0.0", "latest"] }, PREFIX)).toEqual({
      ok: true,
      event: { image: IMAGE, tags: ["v1.0.0", "latest"] },
    });
  });

  const problems: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      "an extra key",
      { image: IMAGE, tags: ["v1"], force: true },
      'unknown field "force": only "image" and "tags" are allowed',
    ],
    [
      "two extra keys",
      { image: IMAGE, tags: ["v1"], a: 1, b: 2 },
      'unknown field "a", "b": only "image" and "tags" are allowed',
    ],
    [
      "a __proto__ key",
      JSON.parse(`{"image":"${IMAGE}","tags":["v1"],"__proto__":{}}`),
      'unknown field "__proto__": only "image" and "tags" are allowed',
    ],
    ["no image", { tags: ["v1"] }, 'field "image" is required'],
    ["no tags", { image: IMAGE }, 'field "tags" is required'],
    ["a numeric image", { image: 1, tags: ["v1"] }, 'field "image" must be a string'],
    ["a null image", { image: null, tags: ["v1"] }, 'field "image" must be a string'],
    ["tags as a string", { image: IMAGE, tags: "v1" }, 'field "tags" must be an array of strings'],
    ["a numeric tag", { image: IMAGE, tags: ["v1", 2] }, 'every entry of "tags" must be a string'],
    ["a null tag", { image: IMAGE, tags: [null] }, 'every entry of "tags" must be a string'],
    ["an array payload", [IMAGE, ["v1"]], 'payload must be a JSON object with "image" and "tags"'],
    ["a null payload", null, 'payload must be a JSON object with "image" and "tags"'],
    ["a string payload", IMAGE, 'payload must be a JSON object with "image" and "tags"'],
    ["an empty object", {}, 'field "image" is required'],
  ];
  for (const [what, input, error] of problems) {
    test(`rejects ${what}.`, () => {
      expect(errorOf(checkEvent(input, PREFIX))).toBe(error);
    });
  }
});

describe("checkEvent, image", () => {
  test("rejects an image with a tag, saying what to send instead.", () => {
    expect(errorOf(checkEvent({ image: `${IMAGE}:v1`, tags: ["v1"] }, PREFIX))).toBe(
      `image must not include a tag: send "${IMAGE}" and put "v1" in tags`,
    );
  });

  test("rejects an image with a digest.", () => {
    expect(errorOf(checkEvent({ image: `${IMAGE}@sha256:00`, tags: ["v1"] }, PREFIX))).toMatch(/digest/);
  });

  test("rejects an uppercase path before looking at the prefix.", () => {
    expect(errorOf(checkEvent({ image: "ghcr.io/acme/App", tags: ["v1"] }, PREFIX))).toMatch(
      /"App" is not valid/,
    );
  });

  test("accepts 255 characters under the prefix and rejects 256.", () => {
    const image = `${PREFIX}/${"a".repeat(255 - PREFIX.length - 1)}`;
    expect(checkEvent({ image, tags: ["v1"] }, PREFIX).ok).toBe(true);
    expect(errorOf(checkEvent({ image: `${image}a`, tags: ["v1"] }, PREFIX))).toBe(
      "image must be at most 255 characters",
    );
  });

  test("admits an image under the prefix at a path boundary.", () => {
    expect(checkEvent({ image: "ghcr.io/acme/team/app", tags: ["v1"] }, PREFIX).ok).toBe(true);
  });

  test("admits an image equal to the prefix when it is itself a valid image.", () => {
    expect(checkEvent({ image: PREFIX, tags: ["v1"] }, PREFIX).ok).toBe(true);
  });

  test("rejects an image equal to a host-only prefix, since it is not an image.", () => {
    expect(errorOf(checkEvent({ image: "ghcr.io", tags: ["v1"] }, "ghcr.io"))).toMatch(/at least one "\/"/);
  });

  test("never admits a sibling that shares the prefix's characters.", () => {
    expect(errorOf(checkEvent({ image: "ghcr.io/acme-evil/app", tags: ["v1"] }, PREFIX))).toBe(
      'image "ghcr.io/acme-evil/app" is not under the allowed prefix "ghcr.io/acme"',
    );
  });

  test("with a prefix ending in '/', admits images below it and not the bare prefix.", () => {
    expect(checkEvent({ image: IMAGE, tags: ["v1"] }, `${PREFIX}/`).ok).toBe(true);
    expect(errorOf(checkEvent({ image: PREFIX, tags: ["v1"] }, `${PREFIX}/`))).toMatch(
      /not under the allowed prefix/,
    );
  });
});

describe("checkEvent, tags", () => {
  test("rejects an empty tag list.", () => {
    expect(errorOf(checkEvent({ image: IMAGE, tags: [] }, PREFIX))).toBe(
      '"tags" must contain at least one tag',
    );
  });

  test(`accepts 1 and ${MAX_TAGS} tags and rejects ${MAX_TAGS + 1}.`, () => {
    expect(checkEvent({ image: IMAGE, tags: tagsOf(1) }, PREFIX).ok).toBe(true);
    expect(checkEvent({ image: IMAGE, tags: tagsOf(64) }, PREFIX)).toEqual({
      ok: true,
      event: { image: IMAGE, tags: tagsOf(64) },
    });
    expect(errorOf(checkEvent({ image: IMAGE, tags: tagsOf(65) }, PREFIX))).toBe(
      '"tags" must contain at most 64 tags',
    );
  });

  test("counts the entries as sent, duplicates included.", () => {
    expect(errorOf(checkEvent({ image: IMAGE, tags: Array(65).fill("dev") }, PREFIX))).toBe(
      '"tags" must contain at most 64 tags',
    );
  });

  test("removes duplicates and keeps the order of first occurrence.", () => {
    const check = checkEvent({ image: IMAGE, tags: ["b", "a", "b", "c", "a", "B"] }, PREFIX);
    expect(check).toEqual({ ok: true, event: { image: IMAGE, tags: ["b", "a", "c", "B"] } });
  });

  test("accepts a 128-character tag and rejects 129 characters.", () => {
    const tag = "v".repeat(128);
    expect(checkEvent({ image: IMAGE, tags: [tag] }, PREFIX).ok).toBe(true);
    expect(errorOf(checkEvent({ image: IMAGE, tags: [`${tag}v`] }, PREFIX))).toMatch(/is not a valid tag/);
  });

  for (const tag of [".hidden", "-dev", "", "v1+build", "feature/x", "v1:x", "vé"]) {
    test(`rejects the tag ${JSON.stringify(tag)} and names it.`, () => {
      expect(errorOf(checkEvent({ image: IMAGE, tags: ["ok", tag] }, PREFIX))).toBe(
        `tag ${JSON.stringify(tag)} is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`,
      );
    });
  }

  test("quotes at most 140 characters of a very long invalid tag.", () => {
    const error = errorOf(checkEvent({ image: IMAGE, tags: [`-${"x".repeat(10_000)}`] }, PREFIX));
    expect(error.length).toBeLessThan(260);
  });
});

describe("parseEvent", () => {
  test("decodes and validates a JSON event.", () => {
    expect(parseEvent(`{"image":"${IMAGE}","tags":["v1","v1"]}`, PREFIX)).toEqual({
      ok: true,
      event: { image: IMAGE, tags: ["v1"] },
    });
  });

  for (const text of ["", "{", "{}x", '{"image":"a/b"}{}', "undefined", "{'image':'a/b'}"]) {
    test(`rejects the text ${JSON.stringify(text)} as invalid JSON.`, () => {
      expect(errorOf(parseEvent(text, PREFIX))).toBe("payload is not valid JSON");
    });
  }

  test("applies the event rules after decoding.", () => {
    expect(errorOf(parseEvent("[]", PREFIX))).toBe('payload must be a JSON object with "image" and "tags"');
  });
});

describe("serializeEvent", () => {
  test("writes minimized JSON with image first, then tags.", () => {
    expect(serializeEvent({ tags: ["v1", "latest"], image: IMAGE })).toBe(
      `{"image":"${IMAGE}","tags":["v1","latest"]}`,
    );
  });

  test("leaves out anything that is not image or tags.", () => {
    const event = { image: IMAGE, tags: ["v1"], token: "secret" };
    expect(serializeEvent(event)).toBe(`{"image":"${IMAGE}","tags":["v1"]}`);
  });

  test("round-trips through parseEvent.", () => {
    const check = parseEvent(`{ "tags" : [ "v1" , "v2" ] , "image" : "${IMAGE}" }`, PREFIX);
    if (!check.ok) throw new Error(check.error);
    expect(parseEvent(serializeEvent(check.event), PREFIX)).toEqual(check);
  });
});

describe("the event shape schema", () => {
  test("the runtime event module pulls @ark/schema, never arktype, into the bundle.", async () => {
    const resolved = new Set<string>();
    const result = await Bun.build({
      entrypoints: [new URL("../../../src/core/event.ts", import.meta.url).pathname],
      target: "bun",
      plugins: [
        {
          name: "record-packages",
          setup(build) {
            build.onResolve({ filter: /^[@a-z]/ }, (args) => {
              resolved.add(args.path);
              return undefined;
            });
          },
        },
      ],
    });
    expect(result.success).toBe(true);
    expect(resolved.has("@ark/schema")).toBe(true);
    expect([...resolved].filter((path) => path === "arktype" || path.startsWith("arktype/"))).toEqual([]);
  });
});
