import { type } from "arktype";

/**
 * The shape of an event, written with arktype: exactly `image` (string) and `tags` (array of strings).
 *
 * This module is the source of truth but is never imported at runtime: importing `arktype` builds its
 * keyword scopes eagerly (~110 ms and ~25 MB in the compiled binary). Its JSON form is kept in
 * `event-schema.json` and hydrated by `event-shape.ts` with arktype's core, `@ark/schema`; a unit test
 * fails when the two differ. After changing this definition, regenerate the JSON with:
 *
 *     bun -e 'import {EventShapeType} from "./src/core/event-schema.ts"; console.log(JSON.stringify(EventShapeType.json, null, 2))' > src/core/event-schema.json
 */
export const EventShapeType = type({ "+": "reject", image: "string", tags: "string[]" });

/** What {@link EventShapeType} admits. */
export type EventShape = typeof EventShapeType.infer;
