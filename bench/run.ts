/**
 * `bun run bench`: prints the performance figures of the issues' targets. It asserts nothing;
 * every load it makes is bounded in count and time and goes to loopback only.
 */
import { runWebBench } from "./web.ts";
import { runWorkerBench } from "./worker.ts";
import { runWorkerBurstBench } from "./worker-burst.ts";
import { runWorkerScaleBench } from "./worker-scale.ts";

const only = process.argv[2];
if (only === undefined || only === "web") await runWebBench();
if (only === undefined || only === "worker") await runWorkerBench();
if (only === undefined || only === "worker-scale") await runWorkerScaleBench();
if (only === undefined || only === "worker-burst") await runWorkerBurstBench();
process.exit(0);
