import { describe, expect, it } from "vitest";
import { ApiError, describe as say, networkProblem, problemFrom, problemOf, waitText } from "../src/problem";

describe("problem documents", () => {
  it("keep the API's code and detail", () => {
    const p = problemOf(409, { type: "urn:tessera:problem:email_taken", title: "Conflict", status: 409, code: "email_taken", detail: "this email is already registered in this tenant" });
    expect(p).toEqual({ status: 409, code: "email_taken", detail: "this email is already registered in this tenant" });
    expect(say(p)).toBe("This email is already registered in this tenant.");
  });

  it("say that a refusal comes from the roles", () => {
    const p = problemOf(403, { code: "forbidden", detail: "the credentials lack the needed permission" });
    expect(say(p)).toBe("The credentials lack the needed permission. Your roles do not allow this.");
  });

  it("tell how long to wait when throttled", () => {
    const p = problemOf(429, { code: "rate_limited", detail: "too many attempts; retry later" }, "90");
    expect(p.retryAfter).toBe(90);
    expect(say(p)).toBe("Too many attempts; retry later. Try again in 90 s.");
    expect(say(problemOf(429, { code: "rate_limited", detail: "x" }, "garbage"))).toBe("X. Try again later.");
  });

  it("make do with a body that is not a problem", () => {
    expect(problemOf(502, "<html>bad gateway</html>")).toEqual({ status: 502, code: "http_502", detail: "The server answered 502." });
    expect(problemOf(500, { title: "Internal Server Error" }).detail).toBe("Internal Server Error");
  });

  it("word a lost connection and an unexpected failure", () => {
    expect(networkProblem().code).toBe("network");
    expect(problemFrom(new ApiError(networkProblem())).code).toBe("network");
    expect(problemFrom(new Error("The two passwords differ."))).toEqual({ status: 0, code: "client_error", detail: "The two passwords differ." });
  });

  it("write waits in seconds, minutes or hours", () => {
    expect(waitText(5)).toBe("5 s");
    expect(waitText(600)).toBe("10 min");
    expect(waitText(86400)).toBe("24 h");
  });
});
