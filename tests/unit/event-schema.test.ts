import { describe, expect, test } from "bun:test";
import { type } from "arktype";
import schemaJson from "../../src/core/event-schema.json" with { type: "json" };
import { EventShapeType } from "../../src/core/event-schema.ts";
import { EventShapeSchema, hasEventShape } from "../../src/core/event-shape.ts";

const REGENERATE = `bun -e 'import {EventShapeType} from "./src/core/event-schema.ts"; console.log(JSON.stringify(EventShapeType.json, null, 2))' > src/core/event-schema.json`;

/** Inputs on both sides of every shape rule. */
const INPUTS: readonly unknown[] = [
  { image: "a/b", tags: ["x"] },
  { image: "a/b", tags: [] },
  { image: "", tags: ["", ""] },
  { image: "a/b", tags: ["x"], extra: 1 },
  { image: "a/b", tags: ["x"], extra: undefined },
  JSON.parse('{"image":"a/b","tags":["x"],"__proto__":{"image":1}}'),
  { image: "a/b" },
  { tags: ["x"] },
  { image: 1, tags: ["x"] },
  { image: null, tags: ["x"] },
  { image: "a/b", tags: "x" },
  { image: "a/b", tags: ["x", 1] },
  { image: "a/b", tags: [null] },
  { image: "a/b", tags: { 0: "x", length: 1 } },
  {},
  [],
  ["a/b", ["x"]],
  null,
  undefined,
  "a/b",
  42,
  true,
];

describe("the event shape schema", () => {
  test("the JSON used at runtime is exactly what arktype's type() builds (else regenerate it).", () => {
    if (!Bun.deepEquals(EventShapeType.json, schemaJson)) {
      throw new Error(`src/core/event-schema.json is stale; regenerate it with:\n${REGENERATE}`);
    }
    expect(EventShapeType.json).toEqual(schemaJson);
  });

  test("the hydrated runtime schema is the same node as the arktype definition.", () => {
    expect(EventShapeSchema.equals(EventShapeType.internal)).toBe(true);
    expect(EventShapeSchema.expression).toBe(EventShapeType.expression);
    expect(EventShapeSchema.equals(type({ image: "string", tags: "string[]" }).internal)).toBe(false);
  });

  for (const input of INPUTS) {
    test(`judges ${Bun.inspect(input, { compact: true } as never)} the same at runtime as arktype does.`, () => {
      expect(hasEventShape(input)).toBe(!(EventShapeType(input) instanceof type.errors));
    });
  }

  test("admits exactly image and tags, and nothing else, in the cases above.", () => {
    expect(INPUTS.filter(hasEventShape)).toEqual([
      { image: "a/b", tags: ["x"] },
      { image: "a/b", tags: [] },
      { image: "", tags: ["", ""] },
    ]);
  });

  test("the runtime event module pulls @ark/schema, never arktype, into the bundle.", async () => {
    const resolved = new Set<string>();
    const result = await Bun.build({
      entrypoints: [new URL("../../src/core/event.ts", import.meta.url).pathname],
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
