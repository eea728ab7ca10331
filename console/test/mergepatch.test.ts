import { describe, expect, it } from "vitest";
import { applyMergePatch, mergePatch, nullsIn, type JsonObject } from "../src/mergepatch";

describe("the merge patch between two documents", () => {
  const cases: [string, JsonObject, JsonObject, JsonObject][] = [
    ["is empty when nothing changed", { a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 2] } }, {}],
    ["sets a new key", { a: 1 }, { a: 1, b: "x" }, { b: "x" }],
    ["removes a key with null", { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ["patches a nested object key by key", { p: { x: 1, y: 2 } }, { p: { x: 1, y: 3, z: 4 } }, { p: { y: 3, z: 4 } }],
    ["replaces an array whole", { tags: ["a", "b"] }, { tags: ["a"] }, { tags: ["a"] }],
    ["replaces an object by a scalar", { p: { x: 1 } }, { p: 5 }, { p: 5 }],
  ];
  for (const [name, before, after, patch] of cases) {
    it(name, () => {
      expect(mergePatch(before, after)).toEqual(patch);
      // And the API, applying it, gets exactly the edited document.
      expect(applyMergePatch(before, mergePatch(before, after))).toEqual(after);
    });
  }

  it("finds the nulls a merge patch cannot store", () => {
    expect(nullsIn({ a: null, b: { c: null, d: 1 }, e: [null] })).toEqual(["a", "b.c"]);
    expect(nullsIn({ a: 1 })).toEqual([]);
  });
  it("removes and adds keys named like the built-ins of objects", () => {
    expect(mergePatch({ constructor: 1, toString: "x" }, {})).toEqual({ constructor: null, toString: null });
    expect(mergePatch({}, { constructor: 2 })).toEqual({ constructor: 2 });
  });
});
