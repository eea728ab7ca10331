#!/usr/bin/env node
// Two edits to the JavaScript that worker-build generates (`<build>/index.js`), made by the
// Makefile after every worker-build run, each measured on the cold introspection path
// (BENCHMARKS.md, "Less JavaScript per request"):
//
// 1. Rust futures are woken through promise jobs instead of the global `queueMicrotask`.
//    wasm-bindgen's executor (js-sys `futures::queue`) schedules its next poll with
//    `queueMicrotask` when the global has one and with `Promise.prototype.then` otherwise; it
//    asks once, when its queue is created. workerd's `queueMicrotask` costs far more per call
//    than a promise reaction (it wraps each callback in a new function): 7–8 % of the
//    isolate's time under cold introspection, four calls per request. Both run in the same
//    microtask queue, in the same order, so only the cost changes. The edit makes the
//    executor's one question (`globalThis.queueMicrotask`, a getter in the import object)
//    answer `undefined`; the global itself is untouched.
//
// 2. The module's default export is a plain handler object instead of worker-build's class
//    behind a Proxy, which made workerd construct a `WorkerEntrypoint` and two Proxies per
//    request (about 3 % of it). The handlers are worker-build's own (`fetch`, `queue`,
//    `scheduled` of its class's prototype), called with the same `env` and `ctx`. Recovery
//    from a panic or a trap stays: wasm-bindgen's glue marks the instance terminated when a
//    call throws out of the wasm, and the worker crate's abort hook schedules a fresh
//    instance for the next call (`--experimental-reset-state-function`, which worker-build
//    passes); worker-build's Proxy only repeated that check.
//
// Each edit must match exactly once, or the build fails: a new worker-build or wasm-bindgen
// (both pinned: Makefile, Cargo.lock) that changes the generated code is noticed, not
// silently shipped without the edit. Running it twice is harmless (already edited: no-op).
//
//   node scripts/lean-glue.mjs build/index.js [build-edge/index.js …]

import { readFileSync, writeFileSync } from "node:fs";

const MARK = "/* tessera: lean glue */";

function edit(file) {
  let text = readFileSync(file, "utf8");
  if (text.startsWith(MARK)) return "already edited";
  const once = (pattern, what) => {
    const found = [...text.matchAll(new RegExp(pattern, "g"))];
    if (found.length !== 1) {
      throw new Error(`${file}: ${what}: expected one match of ${pattern}, found ${found.length} (did worker-build or wasm-bindgen change?)`);
    }
    return found[0];
  };

  // 1. The executor's question: `__wbg_queueMicrotask_<hash>:function(e){return e.queueMicrotask}`
  //    (the other import of that name, `{queueMicrotask(e)}`, calls it and is left alone).
  const getter = once(String.raw`(__wbg_queueMicrotask_[0-9a-f]+:function\((\w+)\)\{)return \2\.queueMicrotask\}`, "the executor's queueMicrotask getter");
  text = text.replace(getter[0], `${getter[1]}return void 0}`);

  // 2. `export{…,X as default}` at the end of the bundle: X is worker-build's Proxy of its class.
  const exported = once(String.raw`export\{([^}]*?)\b([\w$]+) as default\b([^}]*)\};?\s*$`, "the default export");
  const cls = exported[2];
  // The handlers the class has (the edge build has no `queue` or `scheduled`).
  const handlers =
    `var __tesseraHandlers=Object.fromEntries(["fetch","queue","scheduled"]` +
    `.filter(n=>typeof ${cls}.prototype[n]=="function")` +
    `.map(n=>{const h=${cls}.prototype[n];return[n,(a,e,c)=>h.call({env:e,ctx:c},a)]}));\n`;
  text = text.slice(0, exported.index) + handlers + exported[0].replace(`${cls} as default`, "__tesseraHandlers as default");

  writeFileSync(file, `${MARK}\n${text}`);
  return "edited";
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/lean-glue.mjs <build>/index.js …");
  process.exit(2);
}
for (const file of files) console.log(`lean-glue: ${file}: ${edit(file)}`);
