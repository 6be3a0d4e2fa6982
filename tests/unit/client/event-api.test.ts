import { describe, expect, test } from "bun:test";
import { postEvent, SendFailedError } from "../../../src/client/event-api.ts";

/** A fetch that answers from a script, one answer per call, and keeps the requests. */
function scripted(answers: readonly (Response | Error)[]) {
  const requests: Request[] = [];
  const fetcher = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push(new Request(input as string, init));
    const answer = answers[requests.length - 1];
    if (answer === undefined) throw new Error("no more answers");
    if (answer instanceof Error) throw answer;
    return answer;
  }) as typeof fetch;
  return { fetcher, requests };
}

const accepted = () =>
  Response.json({ status: "accepted", event_id: "1-0", request_id: "r" }, { status: 202 });

function post(fetcher: typeof fetch, sleeps: number[] = []) {
  return postEvent({
    url: "http://127.0.0.1:1/event",
    token: "tok",
    event: { image: "ghcr.io/acme/app", tags: ["dev"] },
    fetch: fetcher,
    timeoutMs: 1000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

describe("postEvent", () => {
  test("retries a connection failure and a 502 with the same token, and returns the event_id of the 202", async () => {
    const { fetcher, requests } = scripted([
      new Error("ECONNREFUSED"),
      new Response("bad gateway", { status: 502 }),
      accepted(),
    ]);
    const sleeps: number[] = [];
    expect(await post(fetcher, sleeps)).toEqual({ eventId: "1-0", requestId: "r" });
    expect(requests.map((r) => r.headers.get("authorization"))).toEqual([
      "Bearer tok",
      "Bearer tok",
      "Bearer tok",
    ]);
    expect(sleeps).toEqual([1000, 2000]);
  });

  test("waits as long as Retry-After says, at most 30 s", async () => {
    const limited = new Response("{}", { status: 429, headers: { "retry-after": "120" } });
    const sleeps: number[] = [];
    await post(scripted([limited, accepted()]).fetcher, sleeps);
    expect(sleeps).toEqual([30_000]);
  });

  test("does not retry a refusal, and says the web's error and reason", async () => {
    const refused = Response.json({ error: "forbidden", reason: "ref" }, { status: 403 });
    const { fetcher, requests } = scripted([refused]);
    const error = await post(fetcher).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendFailedError);
    expect((error as Error).message).toBe("POST http://127.0.0.1:1/event -> 403: forbidden (ref)");
    expect(requests).toHaveLength(1);
  });

  test("gives up after four attempts", async () => {
    const down = () => new Response("", { status: 503 });
    const error = await post(scripted([down(), down(), down(), down()]).fetcher).catch((e: unknown) => e);
    expect((error as Error).message).toContain("gave up after 4 attempts");
  });

  test("sends exactly image and tags as JSON", async () => {
    const { fetcher, requests } = scripted([accepted()]);
    await post(fetcher);
    expect(await requests[0]?.json()).toEqual({ image: "ghcr.io/acme/app", tags: ["dev"] });
    expect(requests[0]?.headers.get("content-type")).toBe("application/json");
  });
});
