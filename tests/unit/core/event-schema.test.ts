import { describe, expect, test } from "bun:test";
import schemaJson from "../../../src/core/event-schema.json" with { type: "json" };
import { EventShapeType } from "../../../src/core/event-schema.ts";

const REGENERATE = `bun -e 'import {EventShapeType} from "./src/core/event-schema.ts"; console.log(JSON.stringify(EventShapeType.json, null, 2))' > src/core/event-schema.json`;

describe("the event shape schema", () => {
  test("the JSON used at runtime is exactly what arktype's type() builds (else regenerate it).", () => {
    if (!Bun.deepEquals(EventShapeType.json, schemaJson)) {
      throw new Error(`src/core/event-schema.json is stale; regenerate it with:\n${REGENERATE}`);
    }
    expect(EventShapeType.json).toEqual(schemaJson);
  });
});
