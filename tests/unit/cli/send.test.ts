import { describe, expect, test } from "bun:test";
import { readSendCommand } from "../../../src/cli/send.ts";

const BASE = ["--url", "https://rollout.example/event", "--image", "ghcr.io/acme/app"];
const ACTIONS = {
  ACTIONS_ID_TOKEN_REQUEST_URL: "http://127.0.0.1:1/t?v=2",
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: "rt",
};

describe("readSendCommand", () => {
  test("reads the tags as the published action does, expanding versions on request", () => {
    const command = readSendCommand(
      [...BASE, "--tags", " v1.2.3, dev ,", "--expand-versions", "--token", "t"],
      {},
    );
    expect(command.ok && command.options.tags).toEqual(["v1", "v1.2", "v1.2.3", "dev"]);
    expect(command.ok && command.options.wait).toBe(false);
  });

  test("takes --wait and --timeout as a duration, 10 minutes by default", () => {
    const waited = readSendCommand(
      [...BASE, "--tags", "dev", "--token", "t", "--wait", "--timeout", "90s"],
      {},
    );
    expect(waited.ok && [waited.options.wait, waited.options.waitTimeoutMs]).toEqual([true, 90_000]);
    const plain = readSendCommand([...BASE, "--tags", "dev", "--token", "t"], {});
    expect(plain.ok && plain.options.waitTimeoutMs).toBe(600_000);
    expect(readSendCommand([...BASE, "--tags", "dev", "--token", "t", "--timeout", "soon"], {}).ok).toBe(
      false,
    );
  });

  test("takes --timeout and --request-timeout in whole seconds too, as the Action's inputs do", () => {
    const read = readSendCommand(
      [...BASE, "--tags", "dev", "--token", "t", "--timeout", "600", "--request-timeout", "3"],
      {},
    );
    expect(read.ok && [read.options.waitTimeoutMs, read.options.requestTimeoutMs]).toEqual([600_000, 3_000]);
    const plain = readSendCommand([...BASE, "--tags", "dev", "--token", "t"], {});
    expect(plain.ok && plain.options.requestTimeoutMs).toBe(10_000);
    for (const bad of ["0", "-5", "soon"]) {
      const refused = readSendCommand(
        [...BASE, "--tags", "dev", "--token", "t", "--request-timeout", bad],
        {},
      );
      expect(!refused.ok && refused.message, bad).toContain("--request-timeout");
    }
  });

  test("--request-timeout bounds the ID token request too, as the Action's timeout-seconds does", async () => {
    const read = readSendCommand(
      [...BASE, "--tags", "dev", "--audience", "a", "--request-timeout", "1ms"],
      ACTIONS,
    );
    if (!read.ok) throw new Error(read.message);
    // A token endpoint that never answers: only the request's own timeout ends the wait.
    const hanging = ((_url: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      )) as unknown as typeof fetch;
    const failure = await read
      .tokens(hanging)
      .next()
      .catch((error: unknown) => String(error));
    expect(failure).toContain("the ID token request failed");
  });

  test("inside GitHub Actions needs --audience, and a --token wins over the runtime", () => {
    const noAudience = readSendCommand([...BASE, "--tags", "dev"], ACTIONS);
    expect(!noAudience.ok && noAudience.message).toContain("--audience is required");
    expect(readSendCommand([...BASE, "--tags", "dev", "--audience", "a"], ACTIONS).ok).toBe(true);
    expect(readSendCommand([...BASE, "--tags", "dev", "--token", "t"], ACTIONS).ok).toBe(true);
  });

  test("refuses a blank tag list, an unknown flag and a word after the flags", () => {
    expect(readSendCommand([...BASE, "--tags", " , ", "--token", "t"], {}).ok).toBe(false);
    expect(readSendCommand([...BASE, "--tags", "dev", "--token", "t", "--nope"], {}).ok).toBe(false);
    expect(readSendCommand([...BASE, "--tags", "dev", "--token", "t", "extra"], {}).ok).toBe(false);
  });
});
