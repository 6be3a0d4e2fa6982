import { afterEach, describe, expect, test } from "bun:test";
import { sendEvent } from "../../../src/client/send-event.ts";
import { fixedTokenSource } from "../../../src/client/token-source.ts";
import type { ClusterView, StatusView } from "../../../src/core/status-view.ts";

const app = { kind: "Deployment", namespace: "default", name: "app" } as const;

const statusWith = (state: StatusView["state"], clusters: ClusterView[]): StatusView => ({
  event_id: "1-0",
  state,
  image: "ghcr.io/acme/app",
  tags: ["dev"],
  repository: "acme/app",
  accepted_at: "2024-01-01T00:00:00Z",
  expected_clusters: clusters.map((c) => c.cluster),
  clusters_final: clusters.filter((c) => c.state === "complete").length,
  clusters_total: clusters.length,
  clusters,
});

const eu: ClusterView = {
  cluster: "eu",
  state: "complete",
  updated_at: "2024-01-01T00:00:01Z",
  workloads: [{ ...app, state: "complete" }],
};

describe("sendEvent with --wait, against a web on loopback", () => {
  let server: ReturnType<typeof Bun.serve> | undefined;
  afterEach(() => server?.stop(true));

  /**
   * A web that accepts the event as `1-0` and answers every status request with `status`; each long
   * poll moves the client's clock on by the time it asked to wait, as a web with nothing new would.
   */
  async function waitAgainst(status: StatusView, waitTimeoutMs: number) {
    let clock = 0;
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        if (request.method === "POST") return Response.json({ event_id: "1-0" }, { status: 202 });
        clock += Number(new URL(request.url).searchParams.get("wait")?.replace("s", "") ?? 0) * 1000;
        return Response.json(status);
      },
    });
    const printed: string[] = [];
    const outcome = await sendEvent(
      {
        url: `http://127.0.0.1:${server.port}/event`,
        image: "ghcr.io/acme/app",
        tags: ["dev"],
        wait: true,
        waitTimeoutMs,
        requestTimeoutMs: 5000,
      },
      {
        tokens: fixedTokenSource("t"),
        fetch,
        sleep: async () => {},
        now: () => clock,
        print: (line) => printed.push(line),
      },
    );
    return { outcome, printed };
  }

  test("a wait that runs out names the clusters not heard from", async () => {
    const prod: ClusterView = { cluster: "prod", state: "pending", workloads: [] };
    const { outcome, printed } = await waitAgainst(statusWith("processing", [eu, prod]), 5000);
    expect(outcome.exitCode).toBe(1);
    expect(outcome.message).toBe("the rollouts did not finish within 5s; not heard from: prod");
    expect(printed).toContain(
      "event 1-0: processing (1 of 2 clusters rolled out, 1 not heard from yet (prod))",
    );
  });

  test("prints the count of clusters once, with the final state", async () => {
    const us = { ...eu, cluster: "us" };
    const { outcome, printed } = await waitAgainst(statusWith("complete", [eu, us]), 5000);
    expect(outcome.exitCode).toBe(0);
    expect(printed.filter((line) => line.includes("2 of 2 clusters rolled out"))).toEqual([
      "event 1-0: complete (2 of 2 clusters rolled out)",
    ]);
  });
});
