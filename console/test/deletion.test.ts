import { describe, expect, it } from "vitest";
import type { Deletion } from "../src/api";
import { progressShare, progressText } from "../src/deletion";

const deletion = (over: Partial<Omit<Deletion, "progress">> & { progress?: Partial<Deletion["progress"]> } = {}): Deletion => ({
  id: "d1",
  kind: "user",
  app_id: "shop",
  tenant_id: "acme",
  state: "running",
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  finished_at: null,
  ...over,
  progress: { phase: "sessions", phases_done: 3, phases_total: 12, rows_deleted: 1500, ...over.progress },
});

describe("a deletion's progress", () => {
  it("says the phase it is in and how much is done", () => {
    expect(progressText(deletion())).toBe("Under way: 3 of 12 phases done, now sessions; 1,500 rows deleted so far.");
    expect(progressText(deletion({ progress: { phase: "signing_keys", rows_deleted: 1 } }))).toBe(
      "Under way: 3 of 12 phases done, now signing keys; 1 row deleted so far.",
    );
    expect(progressShare(deletion())).toBe(0.25);
  });

  it("says when it is done, whatever the phase counter said", () => {
    const done = deletion({ state: "done", progress: { phase: null, phases_done: 12 } });
    expect(progressText(done)).toBe("Done: 12 of 12 phases, 1,500 rows deleted.");
    expect(progressShare(done)).toBe(1);
    expect(progressShare(deletion({ progress: { phases_total: 0, phases_done: 0 } }))).toBe(0);
  });
});
