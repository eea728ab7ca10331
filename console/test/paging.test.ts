import { describe, expect, it } from "vitest";
import { back, cursorOf, firstPage, forward, hasNext, hasPrevious, loaded, pageNumber, queryString } from "../src/paging";

describe("the keyset pager", () => {
  it("starts on the first page, with no cursor and nowhere to go", () => {
    expect(cursorOf(firstPage)).toBeNull();
    expect(pageNumber(firstPage)).toBe(1);
    expect(hasNext(firstPage)).toBe(false);
    expect(hasPrevious(firstPage)).toBe(false);
  });

  it("walks forward on the cursors the pages name and back on the ones it kept", () => {
    let p = loaded(firstPage, "c2");
    expect(hasNext(p)).toBe(true);
    p = forward(p);
    expect(cursorOf(p)).toBe("c2");
    expect(pageNumber(p)).toBe(2);
    expect(hasNext(p)).toBe(false);
    p = forward(loaded(p, "c3"));
    expect(cursorOf(p)).toBe("c3");
    p = back(p);
    expect(cursorOf(p)).toBe("c2");
    p = back(p);
    expect(cursorOf(p)).toBeNull();
    expect(back(p)).toBe(p);
  });

  it("does not move past the last page", () => {
    const last = loaded(forward(loaded(firstPage, "c2")), null);
    expect(forward(last)).toBe(last);
  });

  it("keeps cursors, never rows, however far it walks", () => {
    let p = firstPage;
    for (let i = 0; i < 2000; i++) p = forward(loaded(p, `c${i}`));
    expect(pageNumber(p)).toBe(2001);
    expect(p.trail.every((c) => c === null || typeof c === "string")).toBe(true);
  });
});

describe("queryString", () => {
  it("leaves out blank filters, which the API would refuse", () => {
    expect(queryString({ email: " al ", status: "", plan_tier: undefined, cursor: null, limit: 50 })).toBe("?email=al&limit=50");
    expect(queryString({ status: "   " })).toBe("");
  });

  it("encodes what it sends", () => {
    expect(queryString({ email: "a+b@x" })).toBe("?email=a%2Bb%40x");
  });
});
