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
//    request (about 3 % of it). The handlers are worker-build's own (the class prototype's
//    `fetch`, `queue`, `scheduled`; any other name, or no `fetch`, stops the module from
//    loading), called with the same `env` and `ctx` inside the guard worker-build's Proxy put
//    around each call: re-instantiate the wasm if a trap was seen, note a trap when a call
//    throws one. wasm-bindgen's glue does the same for every call into the wasm (it marks the
//    instance terminated when a call throws out of it, and the worker crate's abort hook
//    schedules a fresh instance for the next call: `--experimental-reset-state-function`,
//    which worker-build passes); the guard also covers a trap outside those calls.
//    tests/e2e/recovery.spec.ts proves a panicked instance is replaced.
//
// Each edit must match exactly once, or the build fails: a new worker-build or wasm-bindgen
// (both pinned: Makefile, Cargo.lock) that changes the generated code is noticed, not
// silently shipped without the edit. Running it twice is harmless (already edited: no-op).
//
//   node scripts/lean-glue.mjs build/index.js [build-edge/index.js …]

import { readFileSync, writeFileSync } from "node:fs";

const MARK = "/* tessera: lean glue */";
// The call inside the guard of each handler (written by edit 2, looked for on a rerun).
const GUARDED_CALL = "try{return await h.call({env:e,ctx:c},a)}";

function edit(file) {
  let text = readFileSync(file, "utf8");
  if (text.startsWith(MARK)) {
    // Edited before: both edits must be there (a marker alone proves nothing).
    const present =
      /(?<![\w$])__tesseraHandlers as default/.test(text) &&
      text.includes(GUARDED_CALL) &&
      !/return \w+\.queueMicrotask\}/.test(text);
    if (!present) {
      throw new Error(`${file}: marked as edited, but the edits are not there: rebuild it`);
    }
    return "already edited";
  }
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

  // 2. `export{…,X as default}` at the end of the bundle: X is worker-build's Proxy of its class
  //    (esbuild's names may start with `$`, so the name is bounded by what cannot be in one).
  const exported = once(String.raw`export\{([^}]*?)(?<![\w$])([\w$]+) as default(?![\w$])([^}]*)\};?\s*$`, "the default export");
  const cls = exported[2];
  // worker-build's own guard, which its Proxy ran around every call: before, re-instantiate if
  // a trap was seen (`Reinitializing Wasm application`); after a throw, note a trap.
  const check = once(String.raw`function ([\w$]+)\(\)\{[\w$]+\.criticalError&&\(console\.log\("Reinitializing Wasm application"\)`, "worker-build's reinitialisation check")[1];
  const mark = once(String.raw`function ([\w$]+)\(([\w$]+)\)\{\2 instanceof WebAssembly\.RuntimeError&&`, "worker-build's trap marker")[1];
  // The class's handlers, each called with the same `env` and `ctx` inside that guard. A
  // handler this script does not know (a new event type), or no `fetch`, stops the module
  // from loading: every request fails, loudly, instead of an event going unanswered.
  const handlers =
    `var __tesseraHandlers=(()=>{const p=${cls}.prototype,known=["fetch","queue","scheduled"],` +
    `names=Object.getOwnPropertyNames(p).filter(n=>n!=="constructor");` +
    `if(typeof p.fetch!="function"||names.some(n=>!known.includes(n)))` +
    `throw new Error("lean glue: unexpected handlers: "+names.join());` +
    `return Object.fromEntries(names.map(n=>{const h=p[n];` +
    `return[n,async(a,e,c)=>{${check}();${GUARDED_CALL}catch(r){throw ${mark}(r),r}}]}))})();\n`;
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
