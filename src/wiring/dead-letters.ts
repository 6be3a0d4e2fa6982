import { openDeadLetterStore } from "../adapters/valkey/dead-letter-store.ts";
import { runDeadLetters } from "../cli/dead-letters.ts";
import type { CommandIo } from "../cli/io.ts";
import { expectedGroups } from "../core/cluster.ts";
import { endpointOf } from "./valkey.ts";

/**
 * `kuberollouttrigger dead-letters`: the command of `cli/dead-letters.ts` over the Valkey dead letter
 * store. Loaded lazily by `main.ts`, like the modes.
 */
export function runDeadLettersCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
): Promise<number> {
  return runDeadLetters(argv, env, io, (target) =>
    openDeadLetterStore({
      ...endpointOf(target),
      channel: target.channel,
      consumerGroups: expectedGroups(target.consumerGroup, target.expectedClusters),
    }),
  );
}
