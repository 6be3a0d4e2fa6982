import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { unsignedToken } from "./tokens.ts";

/** The request token the simulated runner hands out; the token endpoint wants it as bearer. */
export const RUNTIME_REQUEST_TOKEN = "runtime-request-token";

/**
 * A simulated GitHub Actions runtime on loopback: the ID token endpoint
 * (`GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=…` with `Authorization: Bearer
 * <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`, answered `{"value": "<jwt>"}`, an unsigned DEV_MODE token of
 * `repository` for that audience) and the `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files.
 */
export interface ActionsRuntime extends AsyncDisposable {
  /** The variables a runner sets for a step that may request tokens. */
  readonly env: Record<string, string>;
  /** The audiences of the tokens handed out, one per request. */
  readonly issued: string[];
  /** The outputs the step set, parsed from `GITHUB_OUTPUT`. */
  outputs(): Record<string, string>;
  summary(): string;
}

/** Parses `name=value` and `name<<DELIM` … `DELIM` lines of a `GITHUB_OUTPUT` file. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name = "", delimiter] = heredoc;
      const end = lines.indexOf(delimiter ?? "", i + 1);
      outputs[name] = lines.slice(i + 1, end).join("\n");
      i = end;
    } else if (line.includes("="))
      outputs[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
  }
  return outputs;
}

/** Starts the simulated runtime; `repository` is the `repository` claim of every token. */
export function startActionsRuntime(repository = "acme/app"): ActionsRuntime {
  const dir = mkdtempSync(join(tmpdir(), "krt-runner-"));
  const outputFile = join(dir, "output");
  const summaryFile = join(dir, "summary");
  writeFileSync(outputFile, "");
  writeFileSync(summaryFile, "");
  const issued: string[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      if (request.headers.get("authorization") !== `Bearer ${RUNTIME_REQUEST_TOKEN}`)
        return new Response("unauthorized", { status: 401 });
      const audience = url.searchParams.get("audience");
      if (url.pathname !== "/token" || url.searchParams.get("api-version") === null || !audience)
        return new Response("bad request", { status: 400 });
      issued.push(audience);
      const owner = repository.split("/")[0] ?? "";
      const value = unsignedToken({ claims: { aud: audience, repository, repository_owner: owner } });
      return Response.json({ count: 1, value });
    },
  });
  return {
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${server.port}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: RUNTIME_REQUEST_TOKEN,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
    },
    issued,
    outputs: () => parseOutputs(readFileSync(outputFile, "utf8")),
    summary: () => readFileSync(summaryFile, "utf8"),
    async [Symbol.asyncDispose]() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
