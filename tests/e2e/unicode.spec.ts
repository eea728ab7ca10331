// Unicode normalisation in the worker is workerd's own (`String.prototype.normalize("NFKC")`,
// src/domain/nfkc.rs); natively it is the unicode-normalization crate. This spec proves that
// workerd answers what tests/fixtures/nfkc.json pins (the native test checks the same fixture),
// and that the worker applies it to emails and passwords.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { useWorker, json } from "./harness";
import { createApp, putTenant, base, owner } from "./support";
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

  it("refuses a password or email holding a code point workerd's Unicode has not assigned", async () => {
    // Unassigned in every version, a noncharacter, the characters the crate maps and workerd
    // does not know yet, and a combining mark newer than workerd's ICU (the crate gives it a
    // combining class): without the refusal, their normal form could change under the account
    // when Cloudflare updates the runtime's ICU.
    const unassigned = ["\u0378", "\uffff", ...fixture.newer_than_the_runtime.map((hex) => String.fromCodePoint(parseInt(hex, 16))), "\u{1add}"];
    for (const [i, c] of unassigned.entries()) {
      const up = await json("POST", `${A}/auth/signup`, { email: `unassigned-${i}@example.com`, password: `sample ${c} password` });
      expect(up.status, `U+${c.codePointAt(0)!.toString(16)}: ${up.text}`).toBe(400);
      expect(up.body.detail).toContain("not assigned");
    }
    const mail = await json("POST", `${A}/auth/signup`, { email: "al\u0378ce@example.com", password: "correct horse battery" });
    expect(mail.status).toBe(400);
    // Private use is assigned: the Apple logo a Mac keyboard types is part of a password.
    const apple = await json("POST", `${A}/auth/signup`, { email: "apple@example.com", password: "correct horse \uf8ff" });
    expect(apple.status, apple.text).toBe(201);
    const again = await json("POST", `${A}/auth/signin`, { email: "apple@example.com", password: "correct horse \uf8ff" });
    expect(again.status).toBe(200);
  });

  it("stores the normal form of an email and finds the account by any equivalent form", async () => {
    const up = await json("POST", `${A}/auth/signup`, {
      email: "\uff2e\uff26\uff2b\uff23.User\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
      password: "correct horse battery",
    });
    expect(up.status, up.text).toBe(201);
    expect(up.body.user.email).toBe("nfkc.user@example.com");
    // Lower-cased by the engine after NFKC (final sigma included), not by Rust's case tables.
    const greek = await json("POST", `${A}/auth/signup`, { email: "\u0395\u039b\u039f\u0394\u0399\u0395\u03a3@\u2160.example.com", password: "correct horse battery" });
    expect(greek.status, greek.text).toBe(201);
    expect(greek.body.user.email).toBe("\u03b5\u03bb\u03bf\u03b4\u03b9\u03b5\u03c2@i.example.com");
    const inn = await json("POST", `${A}/auth/signin`, { email: "NFKC.user@example.com", password: "correct horse battery" });
    expect(inn.status).toBe(200);
    // The operators' search by prefix folds the same way: a fullwidth prefix finds it.
    const found = await json("GET", `/admin/apps/unicode/tenants/acme/users?email=${encodeURIComponent("\uff2e\uff26\uff2b\uff23.u")}`, undefined, await owner());
    expect(found.status, found.text).toBe(200);
    expect(found.body.items.map((u: { email: string }) => u.email)).toEqual(["nfkc.user@example.com"]);
  });
});
