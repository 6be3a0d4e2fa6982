import { summaryMarkdown, workloadsOf } from "../client/report.ts";
import { type SendOptions, sendEvent } from "../client/send-event.ts";
import { actionsTokenSource } from "../client/token-source.ts";
import { parseSecondsOrDuration } from "../core/duration.ts";
import { expandVersions, parseTagList } from "../core/tag-list.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** What the Action does outside itself; everything with a side effect. */
export interface ActionIo {
  /** Writes to the step's log. */
  readonly write: (text: string) => void;
  /** Appends to a file (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`). */
  readonly appendFile: (path: string, text: string) => void;
  readonly fetch: typeof fetch;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

/** An input as the runner passes it: `INPUT_<NAME>`, upper-cased, spaces as underscores, trimmed. */
const input = (env: Env, name: string): string =>
  (env[`INPUT_${name.replaceAll(" ", "_").toUpperCase()}`] ?? "").trim();

/** A boolean input as `@actions/core`'s `getBooleanInput` reads it (YAML 1.2 core schema). */
function booleanInput(env: Env, name: string, fallback: boolean): boolean {
  const text = input(env, name);
  if (text === "") return fallback;
  if (["true", "True", "TRUE"].includes(text)) return true;
  if (["false", "False", "FALSE"].includes(text)) return false;
  throw new TypeError(`input ${name}: "${text}" is neither true nor false`);
}

/** A count of seconds (`600`) or a duration (`10m`), in ms. */
function durationInput(env: Env, name: string, fallback: string): number {
  const text = input(env, name) || fallback;
  const ms = parseSecondsOrDuration(text);
  if (ms === undefined || ms <= 0) throw new TypeError(`input ${name}: "${text}" is not a positive duration`);
  return ms;
}

/** The inputs read and checked before any token is requested. */
function readInputs(env: Env): SendOptions & { readonly audience: string } {
  for (const name of ["url", "audience", "image", "tags"])
    if (input(env, name) === "") throw new TypeError(`input required and not supplied: ${name}`);
  const url = input(env, "url");
  if (!URL.canParse(url)) throw new TypeError(`input url: "${url}" is not a URL`);
  let tags = parseTagList(input(env, "tags"));
  if (tags.length === 0) throw new TypeError("input tags: no tag given");
  if (booleanInput(env, "expand-versions", false)) tags = expandVersions(tags);
  return {
    url,
    audience: input(env, "audience"),
    image: input(env, "image"),
    tags,
    wait: booleanInput(env, "wait", false),
    waitTimeoutMs: durationInput(env, "wait-timeout", "10m"),
    requestTimeoutMs: durationInput(env, "timeout-seconds", "10"),
  };
}

/** `name<<delimiter` … `delimiter`: a value of any content in `GITHUB_OUTPUT`. */
function outputLine(name: string, value: string): string {
  const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}

/**
 * The Action: reads its inputs, sends the event with a fresh OIDC token (and, with `wait`, follows the
 * rollouts with a fresh token per request), sets the outputs `event-id`, `status` (`accepted` when not
 * waited; the event's last state when waited; `error` when it was not sent) and `workloads`, and
 * appends a summary. Resolves the process's exit code: 0, or 1 when the step fails.
 */
export async function runAction(env: Env, io: ActionIo): Promise<number> {
  let inputs: ReturnType<typeof readInputs>;
  try {
    inputs = readInputs(env);
  } catch (error) {
    io.write(`::error::${(error as Error).message}\n`);
    return 1;
  }
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) {
    io.write(`::error::no OIDC token can be requested: give the job "permissions: id-token: write"\n`);
    return 1;
  }
  const tokens = actionsTokenSource({
    requestUrl,
    requestToken,
    audience: inputs.audience,
    fetch: io.fetch,
    timeoutMs: inputs.requestTimeoutMs,
  });
  const outcome = await sendEvent(inputs, { tokens, ...io, print: (line) => io.write(`${line}\n`) });
  const status =
    outcome.view?.state ?? (outcome.eventId !== undefined || outcome.exitCode === 0 ? "accepted" : "error");
  const workloads = outcome.view ? workloadsOf(outcome.view) : [];
  if (env.GITHUB_OUTPUT) {
    const lines = [
      outputLine("event-id", outcome.eventId ?? ""),
      outputLine("status", status),
      outputLine("workloads", JSON.stringify(workloads)),
    ];
    io.appendFile(env.GITHUB_OUTPUT, lines.join(""));
  }
  if (env.GITHUB_STEP_SUMMARY) {
    const event = { image: inputs.image, tags: inputs.tags, eventId: outcome.eventId };
    io.appendFile(env.GITHUB_STEP_SUMMARY, summaryMarkdown(event, outcome.view, outcome.message));
  }
  if (outcome.exitCode === 0) return 0;
  io.write(`::error::${outcome.message}\n`);
  return 1;
}
