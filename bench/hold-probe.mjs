// Diagnostic (never part of the figures): every request's own latency on a few connections to
// one worker of a runtime kept up by `BENCH_HOLD=1` (bench/out/hold.json), typically while
// wrk loads another worker of the same runtime — whether a stall under one worker's load is
// that isolate's, or the whole workerd process's (every isolate waits alike).
//
//   node bench/hold-probe.mjs <tessera|openauth> [seconds=10] [connections=2]
//
// Prints req/s, p50, p99, max, the gaps in which no request completed, and the requests
// slower than 150 ms with when they started. Loopback only; bounded by the seconds given.
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), "out");
const hold = JSON.parse(readFileSync(path.join(OUT, "hold.json"), "utf8"));
const which = process.argv[2] ?? "tessera";
const seconds = Number(process.argv[3] ?? 10);
const connections = Number(process.argv[4] ?? 2);
if (!["tessera", "openauth"].includes(which)) throw new Error("worker: tessera or openauth");
if (!(seconds > 0 && seconds <= 120)) throw new Error("seconds: more than 0, at most 120");
if (!(Number.isInteger(connections) && connections >= 1 && connections <= 20)) throw new Error("connections: 1 to 20");

const tokens = readFileSync(which === "tessera" ? hold.files.tessera : hold.files.openauth, "utf8").split("\n").filter(Boolean);
const url = which === "tessera" ? new URL(`${hold.E}/oauth/introspect`, hold.urls["tessera-counted"]) : new URL("/api/check", hold.urls["peer-openauth"]);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let next = Math.floor(Math.random() * tokens.length);
const latencies = [];
const ends = [];
const slow = [];
const t0 = performance.now();

function one() {
  const token = tokens[next++ % tokens.length];
  const body = which === "tessera" ? `token=${encodeURIComponent(token)}` : "";
  const headers =
    which === "tessera"
      ? { authorization: `Bearer ${hold.key}`, "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) }
      : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(url, { method: which === "tessera" ? "POST" : "GET", headers, agent }, (res) => {
      res.resume();
      res.on("end", () => {
        const ended = performance.now();
        latencies.push(ended - started);
        ends.push(ended - t0);
        if (res.statusCode !== 200) reject(new Error(`answered ${res.statusCode}`));
        if (ended - started > 150) slow.push(`${((started - t0) / 1000).toFixed(2)} s: ${(ended - started).toFixed(0)} ms`);
        resolve();
      });
    });
    req.on("error", reject);
    // No request outlives the run by more than 30 s.
    req.setTimeout(30_000, () => req.destroy(new Error("no answer in 30 s")));
    req.end(body);
  });
}

await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() - t0 < seconds * 1000) await one();
  }),
);
agent.destroy();
ends.sort((a, b) => a - b);
const gaps = [];
for (let k = 1; k < ends.length; k++) if (ends[k] - ends[k - 1] > 50) gaps.push(`${(ends[k - 1] / 1000).toFixed(2)} s +${(ends[k] - ends[k - 1]).toFixed(0)} ms`);
if (latencies.length === 0) throw new Error("no request completed");
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))].toFixed(1);
console.log(`${which}: ${latencies.length} requests, ${(latencies.length / seconds).toFixed(0)} req/s, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${latencies.at(-1).toFixed(0)} ms`);
console.log(`gaps > 50 ms with no answer: ${gaps.join(", ") || "none"}`);
console.log(`slower than 150 ms: ${slow.join(", ") || "none"}`);
