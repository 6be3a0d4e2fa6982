import { expect, test } from "bun:test";
import { ValkeySubscriber } from "../../src/adapters/valkey/subscriber.ts";
import { createLogger } from "../../src/log.ts";
import type { DeliveredEvent } from "../../src/worker/ports.ts";
import { FLAKY_EVENT, flakyRestarts } from "../support/flaky-restarts.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

test.skipIf(!requireValkey())(
  "the Pub/Sub subscriber hands messages to the handler stamped with the time they were received, and subscribes again after valkey-server restarts",
  async () => {
    await using valkey = await startValkey();
    const log = createLogger({ level: "error", write: () => {} });
    const subscriber = new ValkeySubscriber({
      url: valkey.url,
      tls: false,
      channel: "kuberollouttrigger",
      log,
    });
    const seen: DeliveredEvent[] = [];
    subscriber.start(async (d) => {
      seen.push(d);
      return { kind: "done" };
    });
    try {
      const publisher = await valkey.client();
      const subscribers = async () =>
        Number(((await publisher.send("PUBSUB", ["NUMSUB", "kuberollouttrigger"])) as unknown[])[1]);
      await waitFor(async () => (await subscribers()) === 1, "the subscription", 15_000);
      const sent = Date.now();
      await publisher.send("PUBLISH", ["kuberollouttrigger", '{"image":"ghcr.io/acme/app","tags":["a"]}']);
      await waitFor(() => seen.length === 1, "the first message", 15_000);
      expect(seen[0]).toMatchObject({ envelope: { payload: '{"image":"ghcr.io/acme/app","tags":["a"]}' } });
      expect(Date.parse(seen[0]?.envelope.acceptedAt ?? "")).toBeGreaterThanOrEqual(sent);

      await valkey.stop({ crash: true });
      await waitFor(() => !subscriber.connected, "the subscriber to notice the outage", 15_000);
      await valkey.start();
      const fresh = await valkey.client();
      await waitFor(
        async () =>
          Number(((await fresh.send("PUBSUB", ["NUMSUB", "kuberollouttrigger"])) as unknown[])[1]) === 1,
        "the subscription after the restart",
        15_000,
      );
      await fresh.send("PUBLISH", ["kuberollouttrigger", '{"image":"ghcr.io/acme/app","tags":["b"]}']);
      await waitFor(() => seen.length === 2, "the message after the restart", 15_000);
      expect(seen[1]?.envelope.payload).toContain('"b"');
    } finally {
      await subscriber.stop();
    }
  },
  30_000,
);

test.skipIf(!requireValkey())(
  "a Pub/Sub event retried because one workload was unreachable patches the other workload again with the same restartedAt",
  async () => {
    await using valkey = await startValkey();
    const log = createLogger({ level: "error", write: () => {} });
    const subscriber = new ValkeySubscriber({
      url: valkey.url,
      tls: false,
      channel: "kuberollouttrigger",
      log,
    });
    const flaky = flakyRestarts();
    subscriber.start(flaky.handler);
    try {
      const publisher = await valkey.client();
      await waitFor(
        async () =>
          Number(((await publisher.send("PUBSUB", ["NUMSUB", "kuberollouttrigger"])) as unknown[])[1]) === 1,
        "the subscription",
        15_000,
      );
      const before = Date.now();
      await publisher.send("PUBLISH", ["kuberollouttrigger", FLAKY_EVENT]);
      await waitFor(() => flaky.valuesOf("b").length === 2, "the retry that reaches b", 15_000);
      const [first, ...rest] = flaky.valuesOf("a");
      expect(flaky.valuesOf("a")).toHaveLength(2);
      expect(rest).toEqual([first ?? ""]);
      expect(flaky.valuesOf("b")).toEqual([first ?? "", first ?? ""]);
      // The time the message was received, in RFC 3339 UTC with milliseconds.
      expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(first ?? "")).toBeGreaterThanOrEqual(before);
    } finally {
      await subscriber.stop();
    }
  },
  30_000,
);
