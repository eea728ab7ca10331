// Renews tests/fixtures/nfkc.json after a Unicode version change in the unicode-normalization
// crate or in workerd (src/domain/nfkc.rs says when and why): run `node scripts/nfkc-fixture.mjs`
// from the project's root after `make tools`. It compares the native NFKC (`cargo run --example
// nfkc_dump`) with workerd's, code point by code point, and writes the characters the crate maps
// and workerd does not know yet, and the digest of everything else. It refuses to write when
// the two disagree in any other way (workerd newer than the crate: update the crate first).
// The samples are kept as they are.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { runtimeNfkc } from "./nfkc.mjs";

const FIXTURE = "tests/fixtures/nfkc.json";
const hex = (cp) => cp.toString(16).toUpperCase().padStart(4, "0");
const form = (s) => [...s].map((c) => hex(c.codePointAt(0))).join(" ");

const native = new Map(
  execFileSync("cargo", ["run", "--quiet", "--example", "nfkc_dump"], { encoding: "utf8", maxBuffer: 64 << 20 })
    .trim()
    .split("\n")
    .map((line) => line.split("\t")),
);
const { mappings } = await runtimeNfkc({ dump: true });
const runtime = new Map(mappings.map(([cp, n]) => [hex(cp), form(n)]));

const newer = [];
const conflicts = [];
for (const [cp, n] of native) {
  if (!runtime.has(cp)) newer.push(cp);
  else if (runtime.get(cp) !== n) conflicts.push(`U+${cp}: native ${n}, workerd ${runtime.get(cp)}`);
}
for (const [cp, n] of runtime) if (!native.has(cp)) conflicts.push(`U+${cp}: native leaves it, workerd ${n}`);
if (conflicts.length) {
  console.error(`native and workerd NFKC disagree beyond a newer crate:\n${conflicts.join("\n")}`);
  process.exit(1);
}
const { sha256, unchanged } = await runtimeNfkc({ skip: newer });
if (unchanged.length !== newer.length) throw new Error("workerd changed a character it was seen to leave");
const fixture = JSON.parse(readFileSync(FIXTURE, "utf8"));
fixture.newer_than_the_runtime = newer;
fixture.sha256 = sha256;
// Non-ASCII escaped, so that combining marks and look-alikes stay visible in a diff.
const escaped = JSON.stringify(fixture, null, 2).replace(
  /[\u007f-\uffff]/g,
  (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
);
writeFileSync(FIXTURE, escaped + "\n");
console.log(`${FIXTURE}: ${native.size} characters change under NFKC natively, ${newer.length} of them unknown to workerd; sha256 ${sha256}`);
