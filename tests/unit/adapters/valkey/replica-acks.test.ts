import { describe, expect, test } from "bun:test";
import {
  AdmittingConnectionChangedError,
  createReplicaAcks,
  ReplicasMissingError,
} from "../../../../src/adapters/valkey/replica-acks.ts";

/** Replica acks whose every WAIT answers `acked` replicas on the connection of `generation`; counts the WAITs. */
function acksAnswering(acked: number, generation: number) {
  const sent: string[][] = [];
  const acks = createReplicaAcks({
    minReplicas: 1,
    roundMs: 500,
    slackMs: 2000,
    send: async (command, args) => {
      sent.push([command, ...args]);
      return { reply: acked, generation };
    },
  });
  return { acks, sent };
}

describe("replica acknowledgements", () => {
  test("an admission whose WAIT ran on its own connection is confirmed", async () => {
    const { acks, sent } = acksAnswering(1, 3);
    await acks.confirm(2000, 3);
    expect(sent).toEqual([["WAIT", "1", "500"]]);
  });

  test("an admission whose WAIT ran on a later connection is refused at once, though replicas acknowledged", async () => {
    const { acks, sent } = acksAnswering(1, 4);
    const failed = await acks.confirm(2000, 3).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(AdmittingConnectionChangedError);
    expect(sent).toHaveLength(1);
  });

  test("a WAIT settles the admissions of its connection and refuses those of an earlier one", async () => {
    const { acks, sent } = acksAnswering(1, 2);
    const outcomes = await Promise.all(
      [1, 2, 2, 1].map((generation) =>
        acks.confirm(2000, generation).then(
          () => "confirmed",
          (error: unknown) => (error as Error).constructor.name,
        ),
      ),
    );
    expect(outcomes).toEqual([
      "AdmittingConnectionChangedError",
      "confirmed",
      "confirmed",
      "AdmittingConnectionChangedError",
    ]);
    // The first admission's WAIT goes out at once; the three made meanwhile share the next one.
    expect(sent).toHaveLength(2);
  });

  test("with no time left it refuses without a WAIT", async () => {
    const { acks, sent } = acksAnswering(1, 1);
    expect(await acks.confirm(0, 1).catch((error: unknown) => error)).toBeInstanceOf(ReplicasMissingError);
    expect(sent).toEqual([]);
  });
});
