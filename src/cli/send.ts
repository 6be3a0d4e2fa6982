import { type SendDeps, type SendOptions, sendEvent } from "../client/send-event.ts";
import { actionsTokenSource, fixedTokenSource, type TokenSource } from "../client/token-source.ts";
import { parseFlags } from "../config/parse-flags.ts";
import { parseDuration } from "../core/duration.ts";
import { expandVersions, parseTagList } from "../core/tag-list.ts";
import { commandUsage, type ExtraFlagHelp } from "./help.ts";
import { type CommandIo, EXIT, helpHint, wantsHelp } from "./io.ts";

/** The flags of `send`, as `--help` lists them. */
export const SEND_FLAGS: readonly ExtraFlagHelp[] = [
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
  { usage: "--timeout DURATION", description: "The longest wait with --wait; default 10m." },
];

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** Time allowed for one request, beyond a long poll. */
export const REQUEST_TIMEOUT_MS = 10_000;

type Env = Readonly<Record<string, string | undefined>>;

/** A command line read into what to send and where the tokens come from, or why it cannot be. */
export type SendCommand =
  | {
      readonly ok: true;
      readonly options: SendOptions;
      readonly tokens: (fetcher: typeof fetch) => TokenSource;
    }
  | { readonly ok: false; readonly message: string };

const isHttpUrl = (text: string): boolean => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);

/** Reads `send`'s command line and the Actions runtime's variables; checks everything before any request. */
export function readSendCommand(argv: readonly string[], env: Env): SendCommand {
  const values = ["url", "image", "tags", "audience", "token", "timeout"];
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
  const timeout = flag("timeout");
  const waitTimeoutMs = timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeout);
  if (waitTimeoutMs === undefined || waitTimeoutMs <= 0)
    return refuse(`--timeout: "${timeout}" is not a positive duration such as 10m`);
  const tokens = chooseTokens(flag("token"), flag("audience"), env);
  if (typeof tokens === "string") return refuse(tokens);
  const options: SendOptions = {
    url,
    image: flag("image") ?? "",
    tags,
    wait: booleans.get("wait") === true,
    waitTimeoutMs,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  };
  return { ok: true, options, tokens };
}

/** Where the tokens come from: `--token`, else the Actions runtime with `--audience`; or why neither. */
function chooseTokens(
  token: string | undefined,
  audience: string | undefined,
  env: Env,
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
  return (fetcher) =>
    actionsTokenSource({ requestUrl, requestToken, audience, fetch: fetcher, timeoutMs: REQUEST_TIMEOUT_MS });
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
    io.print(commandUsage("send", [], () => false, SEND_FLAGS));
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
