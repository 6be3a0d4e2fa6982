import { type SendDeps, type SendOptions, sendEvent } from "../client/send-event.ts";
import { actionsTokenSource, fixedTokenSource, type TokenSource } from "../client/token-source.ts";
import { parseFlags } from "../config/parse-flags.ts";
import { parseSecondsOrDuration } from "../core/duration.ts";
import { expandVersions, parseTagList } from "../core/tag-list.ts";
import { commandUsage, type ExtraFlagHelp } from "./help.ts";
import { type CommandIo, EXIT, helpHint, isHttpUrl, wantsHelp } from "./io.ts";

/** The flags of `send`, as `--help` lists them. */
const SEND_FLAGS: readonly ExtraFlagHelp[] = [
  {
    usage: "--url URL",
    description: "The web's /event URL, e.g. https://rollout.example.com/event (required).",
  },
  {
    usage: "--image IMAGE",
    description: "The image repository without tag, as the workloads name it (required).",
  },
  { usage: "--tags TAGS", description: "Comma-separated tags, e.g. dev or v1.2.3,latest (required)." },
  {
    usage: "--expand-versions",
    description: "Also send vX and vX.Y for each vX.Y.Z tag, as the published action's expand-versions does.",
  },
  {
    usage: "--audience AUDIENCE",
    description:
      "Inside GitHub Actions: the audience of the OIDC token requested for each request (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN; the job needs id-token: write).",
  },
  {
    usage: "--token TOKEN",
    description: "Outside GitHub Actions: the bearer token to send with; a wait that outlives it fails.",
  },
  {
    usage: "--wait",
    description: "Wait until every matched workload's rollout ended (not with Pub/Sub delivery).",
  },
  {
    usage: "--timeout DURATION",
    description: "The longest wait with --wait, in seconds or as a duration such as 10m; default 10m.",
  },
  {
    usage: "--request-timeout DURATION",
    description:
      "The time allowed for each HTTP request (a long poll gets it on top of its wait), in seconds or as a duration; default 10s.",
  },
];

/** What `send` exits with, as `--help` says it. */
const SEND_EXIT_CODES = `Exit codes:
  0  accepted; with --wait, every rollout finished (complete, or restarted where rollouts are not
     followed; a workload opted out with the skip annotation counts as finished)
  1  refused by the web, not sent, or with --wait: a rollout failed, timed out or was not restarted,
     nothing matched, or the wait ran out
  2  a usage error, or --wait against a web with Pub/Sub delivery
`;

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** Time allowed for one request, beyond a long poll. */
const REQUEST_TIMEOUT_MS = 10_000;

type Env = Readonly<Record<string, string | undefined>>;

/** A command line read into what to send and where the tokens come from, or why it cannot be. */
export type SendCommand =
  | {
      readonly ok: true;
      readonly options: SendOptions;
      readonly tokens: (fetcher: typeof fetch) => TokenSource;
    }
  | { readonly ok: false; readonly message: string };

/** Reads `send`'s command line and the Actions runtime's variables; checks everything before any request. */
export function readSendCommand(argv: readonly string[], env: Env): SendCommand {
  const values = ["url", "image", "tags", "audience", "token", "timeout", "request-timeout"];
  const parsed = parseFlags(argv, new Set(["wait", "expand-versions"]), new Set(values));
  const refuse = (message: string): SendCommand => ({ ok: false, message: `error: ${message}` });
  if (parsed.errors.length > 0) return refuse(`${parsed.errors.join("; ")} (${helpHint("send")})`);
  if (parsed.positional.length > 0)
    return refuse(`unexpected argument "${parsed.positional[0]}" (${helpHint("send")})`);
  const flag = (name: string) => parsed.values.get(name);
  const missing = ["url", "image", "tags"].filter((name) => !flag(name));
  if (missing.length > 0) return refuse(`missing ${missing.map((name) => `--${name}`).join(", ")}`);
  const url = flag("url") ?? "";
  if (!isHttpUrl(url)) return refuse(`--url: "${url}" is not an http or https URL`);
  const booleans = new Map<string, boolean>();
  for (const name of ["wait", "expand-versions"]) {
    const text = flag(name) ?? "false";
    if (text !== "true" && text !== "false") return refuse(`--${name}: "${text}" is neither true nor false`);
    booleans.set(name, text === "true");
  }
  let tags = parseTagList(flag("tags") ?? "");
  if (tags.length === 0) return refuse("--tags: no tag given");
  if (booleans.get("expand-versions")) tags = expandVersions(tags);
  const waitTimeoutMs = readTimeout(flag("timeout"), DEFAULT_TIMEOUT_MS);
  if (waitTimeoutMs === undefined)
    return refuse(`--timeout: "${flag("timeout")}" is not a positive duration such as 600 or 10m`);
  const requestTimeoutMs = readTimeout(flag("request-timeout"), REQUEST_TIMEOUT_MS);
  if (requestTimeoutMs === undefined)
    return refuse(
      `--request-timeout: "${flag("request-timeout")}" is not a positive duration such as 10 or 10s`,
    );
  const tokens = chooseTokens(flag("token"), flag("audience"), env, requestTimeoutMs);
  if (typeof tokens === "string") return refuse(tokens);
  const options: SendOptions = {
    url,
    image: flag("image") ?? "",
    tags,
    wait: booleans.get("wait") === true,
    waitTimeoutMs,
    requestTimeoutMs,
  };
  return { ok: true, options, tokens };
}

/** A positive timeout flag in milliseconds, `fallback` when not given; undefined when it is not one. */
function readTimeout(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  const ms = parseSecondsOrDuration(text);
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/** Where the tokens come from: `--token`, else the Actions runtime with `--audience`; or why neither. */
function chooseTokens(
  token: string | undefined,
  audience: string | undefined,
  env: Env,
  timeoutMs: number,
): string | ((fetcher: typeof fetch) => TokenSource) {
  if (token !== undefined) {
    if (token === "") return "--token: empty";
    return () => fixedTokenSource(token);
  }
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken)
    return "no token: pass --token, or run inside GitHub Actions with permissions id-token: write";
  if (!audience) return "--audience is required to request an OIDC token inside GitHub Actions";
  if (!URL.canParse(requestUrl)) return "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL";
  return (fetcher) => actionsTokenSource({ requestUrl, requestToken, audience, fetch: fetcher, timeoutMs });
}

/**
 * `kuberollouttrigger send --url … --image … --tags … [--wait]`: sends one event, and with `--wait`
 * follows it until every rollout ended. Exit 0, 1 or 2 as {@link sendEvent} says; 2 on a bad command line.
 */
export async function runSend(
  argv: readonly string[],
  env: Env,
  io: CommandIo,
  deps: Partial<Omit<SendDeps, "tokens" | "print">> = {},
): Promise<number> {
  if (wantsHelp(argv)) {
    io.print(`${commandUsage("send", [], () => false, SEND_FLAGS)}\n${SEND_EXIT_CODES}`);
    return EXIT.ok;
  }
  const command = readSendCommand(argv, env);
  if (!command.ok) {
    io.printError(command.message);
    return EXIT.usage;
  }
  const fetcher = deps.fetch ?? fetch;
  const outcome = await sendEvent(command.options, {
    tokens: command.tokens(fetcher),
    fetch: fetcher,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now: deps.now ?? Date.now,
    print: (line) => io.print(`${line}\n`),
  });
  if (outcome.exitCode === 0) io.print(`${outcome.message}\n`);
  else io.printError(`error: ${outcome.message}`);
  return outcome.exitCode;
}
