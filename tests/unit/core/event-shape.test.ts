import { describe, expect, test } from "bun:test";
import { type } from "arktype";
import { EventShapeType } from "../../../src/core/event-schema.ts";
import { EventShapeSchema, hasEventShape } from "../../../src/core/event-shape.ts";

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
});
