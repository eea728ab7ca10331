// Load generation: wrk (C, event loop) for the measurements, a bounded Node loop for the smoke.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The installed wrk's version line, or null when wrk is absent. */
export async function wrkVersion() {
  try {
    const { stdout, stderr } = await run("wrk", ["-v"]).catch((e) => e);
    const text = `${stdout ?? ""}${stderr ?? ""}`;
    const m = /wrk\s+(\S+)/.exec(text);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

const lua = (s) => JSON.stringify(String(s)); // a JSON string is a valid Lua string literal here

/** A wrk script sending one fixed request. */
export function fixedScript({ method = "GET", body, headers = {} }) {
  const lines = [`wrk.method = ${lua(method)}`];
  if (body !== undefined) lines.push(`wrk.body = ${lua(body)}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${lua(k)}] = ${lua(v)}`);
  return lines.join("\n") + "\n";
}

/**
 * A wrk script for refresh rotation: each thread holds a pool of refresh tokens (its share of
 * `tokens`); a request takes one, its 200 answer gives the successor back to the pool. Needs at
 * least connections/threads tokens per thread; a failed refresh shrinks the pool, so errors show.
 */
export function refreshScript(tokens, threads) {
  return `
local ALL = { ${tokens.map(lua).join(", ")} }
local THREADS = ${threads}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
local pool = {}
function init(args)
  for i = tid, #ALL, THREADS do pool[#pool + 1] = ALL[i] end
end
function request()
  local t = table.remove(pool)
  if t == nil then t = "tsr_exhausted" end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, '{"refresh_token":"' .. t .. '"}')
end
function response(status, headers, body)
  local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if t then pool[#pool + 1] = t end
end
`;
}

/**
 * A wrk script that walks a file of tokens (one per line). The list is cut into one share per
 * wrk thread (`threads`, which must be the run's `-t`); each thread walks only its own share,
 * sending each token once in turn and wrapping around within its share. A thread starts at
 * `starts[tid - 1]` (1-based, within its share) when given — where the same thread's walk
 * stopped in the previous run of the same path, so no run re-walks what an earlier one walked —
 * and otherwise at a random point (`seed`). With `posFile`, the script writes each thread's
 * next position there, one per line, when the run ends (`walkShare` reads them back).
 * Disjoint shares and carried positions matter: a token sent again while the isolate's
 * verified-token cache still holds it is answered without its signature verify — hot in
 * disguise, in some rounds and not others. `as` says where the token goes: "form" (RFC 7662
 * body `token=…`), "bearer" (the Authorization header) or "path" (the request path is
 * `<prefix><token>`, `/k/` unless told, with `body` as the request's body when given). Other
 * headers are fixed.
 */
export function walkScript({ file, as, method = "GET", headers = {}, body = null, seed, threads, prefix = "/k/", starts = null, posFile = null }) {
  if (!Number.isInteger(threads) || threads < 1) throw new Error("walkScript: threads must be the run's -t");
  if (starts && (starts.length !== threads || !starts.every((n) => Number.isInteger(n) && n >= 1))) {
    throw new Error(`walkScript: starts must be ${threads} positions from 1`);
  }
  const fixed = Object.entries(headers)
    .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
    .join(", ");
  const build =
    as === "form"
      ? `return wrk.format(${lua(method)}, nil, HEADERS, "token=" .. t)`
      : as === "path"
      ? `return wrk.format(${lua(method)}, ${lua(prefix)} .. t, HEADERS, ${body === null ? "nil" : lua(body)})`
      : `local h = { ${fixed} }
  h["Authorization"] = "Bearer " .. t
  return wrk.format(${lua(method)}, nil, h, nil)`;
  const done = posFile
    ? `
function done(summary, latency, requests)
  local f = assert(io.open(${lua(posFile)}, "w"))
  for _, thread in ipairs(threads) do f:write(tostring(thread:get("i")), "\\n") end
  f:close()
end`
    : "";
  return `
local FILE = ${lua(file)}
local SEED = ${Math.floor(seed)}
local THREADS = ${threads}
local STARTS = { ${(starts ?? []).join(", ")} }
local HEADERS = { ${fixed} }
local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[counter] = thread
end
local tokens = {}
-- A global, so that done() can read each thread's position (thread:get).
i = 1
function init(args)
  local all = {}
  for line in io.lines(FILE) do
    if #line > 0 then all[#all + 1] = line end
  end
  -- This thread's share: lines first .. last of the list (threads 1 .. THREADS).
  local first = math.floor((tid - 1) * #all / THREADS) + 1
  local last = math.floor(tid * #all / THREADS)
  for k = first, last do tokens[#tokens + 1] = all[k] end
  if #tokens == 0 then error("walk: no tokens for thread " .. tid) end
  if STARTS[tid] and STARTS[tid] <= #tokens then
    i = STARTS[tid]
  else
    math.randomseed(SEED + tid * 7919)
    i = math.random(#tokens)
  end
end
function request()
  local t = tokens[i]
  i = i + 1
  if i > #tokens then i = 1 end
  ${build}
end${done}
`;
}

function toMs(value, unit) {
  const v = Number(value);
  switch (unit) {
    case "us":
      return v / 1000;
    case "ms":
      return v;
    case "s":
      return v * 1000;
    case "m":
      return v * 60_000;
    default:
      return NaN;
  }
}

/** Parses `wrk --latency` output into { req_per_s, p50_ms, p90_ms, p99_ms, requests, errors }. */
export function parseWrk(text) {
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, "m").exec(text);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(text);
  const reqs = /(\d+) requests in/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    req_per_s: rps ? Number(rps[1]) : NaN,
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    requests: reqs ? Number(reqs[1]) : 0,
    errors: (non2xx ? Number(non2xx[1]) : 0) + socketErrors,
  };
}

/**
 * One wrk run, bounded in time (wrk's -d plus a hard kill after `seconds + 20`).
 * `script` is the Lua text; it is written under `workDir`.
 */
export async function wrk({ url, script, seconds, connections, threads, workDir, name }) {
  mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, `${name}.lua`);
  writeFileSync(file, script);
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    file,
    url,
  ];
  const { stdout } = await run("wrk", args, { timeout: (seconds + 20) * 1000, maxBuffer: 1 << 20 });
  const parsed = parseWrk(stdout);
  if (!Number.isFinite(parsed.req_per_s)) throw new Error(`could not parse wrk output:\n${stdout}`);
  return parsed;
}

/**
 * A bounded Node loop (the smoke test's load generator; no wrk needed): `requests` sequential
 * requests built by `make()`, each must answer `ok(res)`. Returns the same shape as wrk().
 */
export async function nodeLoop({ url, make, requests, ok = (r) => r.status < 300, deadlineMs = 10_000 }) {
  const started = performance.now();
  const lat = [];
  let errors = 0;
  for (let i = 0; i < requests && performance.now() - started < deadlineMs; i++) {
    const init = await make();
    const t = performance.now();
    const res = await fetch(init.url ?? url, { ...init, signal: AbortSignal.timeout(deadlineMs) });
    const text = await res.text();
    lat.push(performance.now() - t);
    if (!(await ok(res, text))) errors++;
    if (init.after) await init.after(res, text);
  }
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  const seconds = (performance.now() - started) / 1000;
  return {
    req_per_s: lat.length / seconds,
    p50_ms: q(50),
    p90_ms: q(90),
    p99_ms: q(99),
    requests: lat.length,
    errors: errors + (requests - lat.length),
  };
}

/**
 * A timeline: `connections` Node loops for `seconds`, each request's start and end recorded —
 * each request's own latency, without wrk's coordinated-omission correction (the full run's
 * "own latency" table), and, for `BENCH_ONLY` diagnostics, the slowest ones placed in time: a
 * stall shows as a gap in which no request completes, a slow storage read as a lone slow
 * request among fast ones. `errors` counts answers `ok` refuses.
 */
export async function timeline({ url, make, seconds, connections, ok = (r) => r.status < 300 }) {
  const t0 = performance.now();
  const records = [];
  const loop = async () => {
    while (performance.now() - t0 < seconds * 1000) {
      const init = await make();
      const start = performance.now() - t0;
      const res = await fetch(init.url ?? url, { ...init, signal: AbortSignal.timeout(30_000) });
      const text = await res.text();
      records.push({ start, end: performance.now() - t0, good: await ok(res, text) });
      if (init.after) await init.after(res, text);
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  if (records.length === 0) throw new Error(`timeline: no request to ${url} completed in ${seconds} s`);
  const lat = records.map((r) => r.end - r.start).sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  const ends = records.map((r) => r.end).sort((a, b) => a - b);
  const gaps = [];
  for (let i = 1; i < ends.length; i++) if (ends[i] - ends[i - 1] >= 50) gaps.push({ at_ms: Math.round(ends[i - 1]), ms: Math.round(ends[i] - ends[i - 1]) });
  const slow = [...records].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, Math.max(1, Math.floor(records.length / 100)));
  return {
    requests: records.length,
    errors: records.filter((r) => !r.good).length,
    req_per_s: Math.round(records.length / seconds),
    p50_ms: Number(q(50).toFixed(2)),
    p99_ms: Number(q(99).toFixed(2)),
    max_ms: Number(lat[lat.length - 1].toFixed(2)),
    gaps_over_50ms: gaps,
    slowest_1pct_starts_ms: slow.map((r) => `${Math.round(r.start)}+${Math.round(r.end - r.start)}`).join(" "),
  };
}
