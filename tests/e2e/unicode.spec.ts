// Unicode normalisation in the worker is workerd's own (`String.prototype.normalize("NFKC")`,
// src/domain/nfkc.rs); natively it is the unicode-normalization crate. This spec proves that
// workerd answers what tests/fixtures/nfkc.json pins (the native test checks the same fixture),
// and that the worker applies it to emails and passwords.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { useWorker, json } from "./harness";
import { createApp, putTenant, base } from "./support";
// @ts-expect-error: a plain-JS module shared with scripts/nfkc-fixture.mjs, no type declarations.
import { runtimeNfkc } from "../../scripts/nfkc.mjs";

const fixture = JSON.parse(readFileSync(new URL("../fixtures/nfkc.json", import.meta.url), "utf8")) as {
  sha256: string;
  newer_than_the_runtime: string[];
  samples: { input: string; nfkc: string }[];
};

useWorker();

const A = base("unicode", "acme");

beforeAll(async () => {
  await createApp("unicode");
  await putTenant("unicode", "acme");
});

describe("NFKC in workerd", () => {
  it("normalises every Unicode scalar value as the fixture pins", async () => {
    const { sha256, unchanged } = await runtimeNfkc({ skip: fixture.newer_than_the_runtime });
    expect(sha256, "workerd's NFKC changed (a new ICU?): see src/domain/nfkc.rs").toBe(fixture.sha256);
    // The characters left out of the digest are ones workerd does not know yet: it leaves them.
    expect(unchanged).toEqual(fixture.newer_than_the_runtime);
  }, 60_000);

  it("signs in with the normal form of a password set in another form, for every sample", async () => {
    for (const [i, { input, nfkc }] of fixture.samples.entries()) {
      const email = `sample-${i}@example.com`;
      const up = await json("POST", `${A}/auth/signup`, { email, password: `sample ${input} password` });
      expect(up.status, `${JSON.stringify(input)}: ${up.text}`).toBe(201);
      const inn = await json("POST", `${A}/auth/signin`, { email, password: `sample ${nfkc} password` });
      expect(inn.status, `${JSON.stringify(input)} signed in as ${JSON.stringify(nfkc)}`).toBe(200);
    }
    // Not a lenient comparison: a different password is still refused.
    const wrong = await json("POST", `${A}/auth/signin`, { email: "sample-0@example.com", password: "sample fullwidtk password" });
    expect(wrong.status).toBe(401);
  });

  it("stores the normal form of an email and finds the account by any equivalent form", async () => {
    const up = await json("POST", `${A}/auth/signup`, {
      email: "\uff2e\uff26\uff2b\uff23.User\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
      password: "correct horse battery",
    });
    expect(up.status, up.text).toBe(201);
    expect(up.body.user.email).toBe("nfkc.user@example.com");
    const inn = await json("POST", `${A}/auth/signin`, { email: "NFKC.user@example.com", password: "correct horse battery" });
    expect(inn.status).toBe(200);
  });
});
