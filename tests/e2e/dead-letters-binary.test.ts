import { describe, expect, test } from "bun:test";
import { ValkeyStreamConsumer } from "../../src/adapters/valkey/stream-consumer.ts";
import { deadLetterFields } from "../../src/core/dead-letter.ts";
import { envelopeToStreamFields } from "../../src/core/envelope.ts";
import type { EventOutcome } from "../../src/core/restart.ts";
import { createLogger } from "../../src/log.ts";
import { FLAKY_EVENT, flakyRestarts } from "../support/flaky-restarts.ts";
import { requireBinary, runBinary } from "../support/spawn-binary.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";

const STREAM = "kuberollouttrigger";
const DEAD = "{kuberollouttrigger}:dead";

/** A flat field/value list as an object. */
const asObject = (fields: readonly string[]) =>
  Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i], fields[i + 1]]] : [])));

/** The fields of a dead entry as the worker writes it, for the event of `requestId` once at `originalId`. */
const deadEntry = (requestId: string, originalId: string) =>
  deadLetterFields(
    envelopeToStreamFields({
      payload: FLAKY_EVENT,
      acceptedAt: "2025-06-01T11:59:00.000Z",
      requestId,
      repository: "acme/app",
    }),
    { reason: "poison: Error: boom", originalId, deadAt: "2025-06-01T12:00:00.000Z" },
  );

describe.skipIf(!requireBinary() || !requireValkey())(
  "kuberollouttrigger dead-letters, the compiled binary",
  () => {
    test("list prints one line per dead entry, oldest first: its ID, original ID, reason, time, image:tags, request id and repository", async () => {
      await using valkey = await startValkey();
      const client = await valkey.client();
      const first = String(await client.send("XADD", [DEAD, "*", ...deadEntry("r1", "1748779140000-0")]));
      const second = String(await client.send("XADD", [DEAD, "*", ...deadEntry("r2", "1748779140000-1")]));
      const result = await runBinary(["dead-letters", "list"], { VALKEY_ADDR: valkey.addr });
      expect(result).toEqual({
        exitCode: 0,
        stderr: "",
        stdout: [
          `${first}\t1748779140000-0\tpoison: Error: boom\t2025-06-01T12:00:00.000Z\tghcr.io/acme/app:dev\tr1\tacme/app\n`,
          `${second}\t1748779140000-1\tpoison: Error: boom\t2025-06-01T12:00:00.000Z\tghcr.io/acme/app:dev\tr2\tacme/app\n`,
        ].join(""),
      });
    });

    test("redrive all appends every dead entry to the stream again with redriven_from and deletes it from the dead letters", async () => {
      await using valkey = await startValkey();
      const client = await valkey.client();
      const originals = ["1748779140000-0", "1748779140000-1", "1748779141000-0"];
      for (const [n, id] of originals.entries())
        await client.send("XADD", [DEAD, "*", ...deadEntry(`r${n}`, id)]);
      const result = await runBinary(
        ["dead-letters", "--valkey-consumer-group", "workers", "redrive", "all"],
        {
          VALKEY_ADDR: valkey.addr,
        },
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout.trimEnd().split("\n")).toHaveLength(3);
      expect(await client.send("XLEN", [DEAD])).toBe(0);
      const appended = (await client.send("XRANGE", [STREAM, "-", "+"])) as [string, string[]][];
      expect(appended.map(([, fields]) => asObject(fields))).toEqual(
        originals.map((id, n) => ({
          event: FLAKY_EVENT,
          accepted_at: "2025-06-01T11:59:00.000Z",
          request_id: `r${n}`,
          repository: "acme/app",
          redriven_from: id,
        })),
      );
      // Made as the web makes it, so no re-driven entry lands in a stream the workers' group does not read.
      const groups = (await client.send("XINFO", ["GROUPS", STREAM])) as unknown[];
      expect(JSON.stringify(groups)).toContain("workers");
    });

    test("an event dead-lettered as poison and re-driven once fixed is consumed, and writes the restartedAt of its original time", async () => {
      await using valkey = await startValkey();
      const client = await valkey.client();
      // The web accepted it an hour ago; the re-drive appends it now, an hour from its accepted_at.
      const originalMs = Date.now() - 3_600_000;
      const acceptedAt = new Date(originalMs - 20).toISOString();
      const originalId = `${originalMs}-0`;
      const flaky = flakyRestarts(0);
      let broken = true;
      const poison: EventOutcome = { kind: "retry", afterMs: 1, reason: "Error: boom", poison: true };
      const consumer = new ValkeyStreamConsumer({
        url: valkey.url,
        tls: false,
        stream: STREAM,
        group: STREAM,
        consumer: "worker-1",
        claimIdleMs: 30_000,
        streamMaxLen: 100_000,
        maxDeliveries: 2,
        log: createLogger({ level: "error", write: () => {} }),
      });
      consumer.start(async (delivered) => (broken ? poison : flaky.handler(delivered)));
      try {
        await waitFor(
          async () => Number(await client.send("EXISTS", [STREAM])) === 1,
          "the group and its stream",
        );
        const fields = envelopeToStreamFields({
          payload: FLAKY_EVENT,
          acceptedAt,
          requestId: "r-old",
          repository: "acme/app",
        });
        await client.send("XADD", [STREAM, originalId, ...fields]);
        await waitFor(async () => Number(await client.send("XLEN", [DEAD])) === 1, "the dead entry");
        broken = false;
        const env = { VALKEY_ADDR: valkey.addr };
        const listed = await runBinary(["dead-letters", "list"], env);
        const deadId = listed.stdout.split("\t")[0] ?? "";
        expect(listed.stdout.split("\t").slice(1, 3)).toEqual([originalId, "poison: Error: boom"]);
        const redriven = await runBinary(["dead-letters", "redrive", deadId], env);
        expect(redriven.exitCode).toBe(0);
        expect(redriven.stdout).toMatch(
          new RegExp(`^redriven ${deadId} as \\d+-\\d+ \\(redriven_from ${originalId}\\)\\n$`),
        );
        await waitFor(() => flaky.valuesOf("b").length === 1, "the re-driven event's restarts");
        expect(flaky.valuesOf("a")).toEqual([acceptedAt]);
        expect(flaky.valuesOf("b")).toEqual([acceptedAt]);
        expect(await client.send("XLEN", [DEAD])).toBe(0);
      } finally {
        await consumer.stop();
      }
    });

    test("redrive of an ID that is not a dead entry exits 1, and a Valkey that cannot be reached exits 1 naming it", async () => {
      await using valkey = await startValkey();
      const missing = await runBinary(["dead-letters", "redrive", "1-0"], { VALKEY_ADDR: valkey.addr });
      expect(missing).toEqual({ exitCode: 1, stdout: "", stderr: `error: no dead letter 1-0 in ${DEAD}\n` });
      const down = await runBinary(["dead-letters", "list"], { VALKEY_ADDR: "127.0.0.1:1" });
      expect(down.exitCode).toBe(1);
      expect(down.stderr).toStartWith("error: Valkey at 127.0.0.1:1: ");
    });

    test("a command line it cannot read exits 2 and says why; --help lists the Valkey settings it reads", async () => {
      const env = { VALKEY_ADDR: "127.0.0.1:1" };
      expect(await runBinary(["dead-letters", "redrive"], env)).toEqual({
        exitCode: 2,
        stdout: "",
        stderr:
          "error: redrive needs a dead entry ID or all (run 'kuberollouttrigger dead-letters --help' for its flags)\n",
      });
      expect((await runBinary(["dead-letters", "list"])).exitCode).toBe(2);
      const help = await runBinary(["dead-letters", "--help"]);
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toContain(
        "--valkey-addr (VALKEY_ADDR; required: VALKEY_ADDR or VALKEY_SENTINEL_ADDRS)",
      );
      expect(help.stdout).toContain("--valkey-consumer-group");
      expect(help.stdout).not.toContain("--allowed-image-prefix");
      expect(help.stdout).not.toContain("--max-deliveries");
    });
  },
);
