import { startValkey, type TestValkey } from "./valkey-server.ts";
import { waitFor } from "./wait-for.ts";

/**
 * Starts a primary and one replica of it, and waits (bounded) until the primary counts the replica
 * online: a replica reports its link up before the primary lists it (`ROLE`, `connected_slaves`).
 */
export async function startPrimaryWithReplica(): Promise<{ primary: TestValkey; replica: TestValkey }> {
  const primary = await startValkey(["--repl-diskless-sync-delay", "0"]);
  try {
    const replica = await startValkey(["--replicaof", "127.0.0.1", String(primary.port)]);
    const primaryClient = await primary.client();
    await waitFor(
      async () => String(await primaryClient.send("INFO", ["replication"])).includes("state=online"),
      "the primary to count its replica online",
    );
    return { primary, replica };
  } catch (error) {
    await primary[Symbol.asyncDispose]();
    throw error;
  }
}
