// What a deletion's progress says (`GET /admin/apps/{app}/deletions/{id}`), in words. Pure, so
// the wording is tested without a browser.

import type { Deletion } from "./api";

const number = (n: number) => n.toLocaleString("en");

/** One line: where a deletion stands. */
export function progressText(d: Deletion): string {
  const { phase, phases_done, phases_total, rows_deleted } = d.progress;
  const rows = `${number(rows_deleted)} ${rows_deleted === 1 ? "row" : "rows"} deleted`;
  if (d.state === "done") return `Done: ${phases_total} of ${phases_total} phases, ${rows}.`;
  const now = phase ? `, now ${phase.replaceAll("_", " ")}` : "";
  return `Under way: ${phases_done} of ${phases_total} phases done${now}; ${rows} so far.`;
}

/** The share done, 0 to 1, for a progress bar. */
export function progressShare(d: Deletion): number {
  if (d.state === "done") return 1;
  const total = d.progress.phases_total;
  return total > 0 ? Math.min(1, d.progress.phases_done / total) : 0;
}
