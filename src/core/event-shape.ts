import { type RootSchema, rootSchema } from "@ark/schema";
import schema from "./event-schema.json" with { type: "json" };
import type { EventShape } from "./event-schema.ts";

/**
 * The runtime form of `EventShapeType` (see `event-schema.ts`), hydrated from its JSON with `@ark/schema`
 * so that the web and the worker do not pay for importing all of `arktype` at startup.
 */
export const EventShapeSchema = rootSchema(schema as RootSchema);

/** Whether `input` has the shape of an event: exactly `image` (string) and `tags` (array of strings). */
export function hasEventShape(input: unknown): input is EventShape {
  return EventShapeSchema.allows(input);
}
