import { describe, expect, it } from "vitest";
import { json, rawFetch, useWorker } from "./harness";

useWorker();

describe("health", () => {
  it("GET /healthz answers 200 {status: ok}", async () => {
    const res = await json("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("serves the request through the built wasm worker", async () => {
    const res = await rawFetch("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});
