import { SKIP_REASON } from "../core/event-status.ts";
import type { StatusView, WorkloadView } from "../core/status-view.ts";

/** One workload of an event's status, with its cluster: an entry of the Action's `workloads` output. */
export interface ReportedWorkload extends WorkloadView {
  readonly cluster: string;
}

/** Every workload of every cluster, in the answer's order. */
export function workloadsOf(view: StatusView): ReportedWorkload[] {
  return view.clusters.flatMap((c) => c.workloads.map((w) => ({ cluster: c.cluster, ...w })));
}

/**
 * States in which the workload's rollout happened and finished; `superseded`: a later restart than the
 * event's, made after its image was pushed, is already on the workload.
 */
const FINISHED: ReadonlySet<string> = new Set(["complete", "restarted", "superseded"]);

/** Whether nothing is left to wait for: the rollout finished, or the workload's skip annotation opted it out. */
const isFinished = (w: WorkloadView): boolean =>
  FINISHED.has(w.state) || (w.state === "not_restarted" && w.reason === SKIP_REASON);

/** One line per workload: `[prod] Deployment default/app: complete`, with the reason when there is one. */
export function workloadLines(view: StatusView): string[] {
  return workloadsOf(view).map(
    (w) => `[${w.cluster}] ${w.kind} ${w.namespace}/${w.name}: ${w.state}${w.reason ? ` (${w.reason})` : ""}`,
  );
}

/**
 * Why a final status is a failure, or undefined when every matched workload's rollout finished
 * (`complete`, or `restarted` where rollouts are not followed) or its skip annotation opted it out:
 * nothing matched, or a workload failed, timed out, or was not restarted for another reason (the
 * policy, a 404, a 403, a patch that failed).
 */
export function failureOf(view: StatusView): string | undefined {
  const workloads = workloadsOf(view);
  if (view.clusters.length > 0 && view.clusters.every((c) => c.state === "skipped"))
    return "the policy lets this repository restart nothing in any cluster that reported";
  if (workloads.length === 0) return `no workload runs ${view.image} with the tags ${view.tags.join(", ")}`;
  const unfinished = workloads.filter((w) => !isFinished(w));
  if (unfinished.length === 0) return undefined;
  return `${unfinished.length} of ${workloads.length} rollouts did not finish`;
}

/** What each cluster state adds to the count line, past those rolled out. */
const CLUSTER_NOTES: readonly (readonly [string, string])[] = [
  ["failed", "failed"],
  ["skipped", "skipped by policy"],
  ["processing", "rolling out"],
  ["pending", "not heard from yet"],
];

/** The names of the counted clusters (not `unexpected`) in `state`, in the answer's order. */
const clustersIn = (view: StatusView, state: string): string[] =>
  view.clusters.filter((c) => c.state === state && c.unexpected !== true).map((c) => c.cluster);

/**
 * How the clusters stand, in one line: `3 of 3 clusters rolled out`, or `1 of 3 clusters rolled out,
 * 1 rolling out, 1 not heard from yet (prod)`, naming the clusters not heard from, and any that reported
 * without being expected (`; also reported by staging (not in EXPECTED_CLUSTERS)`), which are not counted.
 * Undefined while no counted cluster is known (a queued single-cluster event).
 */
export function clusterCountLine(view: StatusView): string | undefined {
  const total = view.clusters.filter((c) => c.unexpected !== true).length;
  if (total === 0) return undefined;
  const unexpected = view.clusters.filter((c) => c.unexpected === true).map((c) => c.cluster);
  const also =
    unexpected.length === 0 ? "" : `; also reported by ${unexpected.join(", ")} (not in EXPECTED_CLUSTERS)`;
  const notes = CLUSTER_NOTES.map(([state, note]) => [clustersIn(view, state), state, note] as const)
    .filter(([names]) => names.length > 0)
    .map(
      ([names, state, note]) =>
        `, ${names.length} ${note}${state === "pending" ? ` (${names.join(", ")})` : ""}`,
    );
  const complete = clustersIn(view, "complete").length;
  return `${complete} of ${total} cluster${total === 1 ? "" : "s"} rolled out${notes.join("")}${also}`;
}

/**
 * The clusters a wait that ended early was still waiting for, named: `not heard from: prod; still
 * rolling out: eu`, or undefined when none.
 */
export function unfinishedClusters(view: StatusView | undefined): string | undefined {
  if (view === undefined) return undefined;
  const parts = [
    ["not heard from", clustersIn(view, "pending")],
    // An unexpected cluster still rolling out holds the event too: it is named.
    ["still rolling out", view.clusters.filter((c) => c.state === "processing").map((c) => c.cluster)],
  ] as const;
  const named = parts
    .filter(([, names]) => names.length > 0)
    .map(([what, names]) => `${what}: ${names.join(", ")}`);
  return named.length === 0 ? undefined : named.join("; ");
}

/** One line per skipped cluster: `[prod] skipped (policy: …)`. */
export function skippedClusterLines(view: StatusView): string[] {
  return view.clusters
    .filter((c) => c.state === "skipped")
    .map((c) => `[${c.cluster}] skipped${c.reason ? ` (${c.reason})` : ""}`);
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/**
 * The job summary (Markdown): the event, and with a status a table of the matched workloads and how
 * each rollout ended.
 */
export function summaryMarkdown(
  event: { readonly image: string; readonly tags: readonly string[]; readonly eventId: string | undefined },
  view: StatusView | undefined,
  outcome: string,
): string {
  const tags = event.tags.map((t) => `\`${cell(t)}\``).join(", ");
  const id = event.eventId ? ` as event \`${event.eventId}\`` : "";
  const lines = [
    `### kuberollouttrigger`,
    "",
    `\`${cell(event.image)}\` (${tags}) sent${id}: ${outcome}`,
    "",
  ];
  const clusters = view ? clusterCountLine(view) : undefined;
  if (clusters && view && view.clusters.length > 1) lines.push(`${clusters}.`, "");
  if (view) {
    const workloads = workloadsOf(view);
    if (workloads.length === 0) lines.push("No workload matched.", "");
    else {
      lines.push("| cluster | kind | namespace | name | rollout |", "|---|---|---|---|---|");
      for (const w of workloads) {
        const how = w.reason ? `${w.state}: ${w.reason}` : w.state;
        lines.push(
          `| ${cell(w.cluster)} | ${w.kind} | ${cell(w.namespace)} | ${cell(w.name)} | ${cell(how)} |`,
        );
      }
      lines.push("");
    }
  }
  return `${lines.join("\n")}\n`;
}
