// Heap and cost per review over a long run (SPEC 12: no leak, cost flat as the state changes): the
// whole server (startServer over test/bench/state, log line to a sink) driven in process with
// Fastify's inject (no TLS or sockets), so a million reviews take minutes. The reviews are new Pod
// CREATEs in the tenant namespace (all modules, quota charged and committed) and, once `--live`
// Pods are held, each followed by the DELETE review of the oldest, as in a cluster of steady size.
// Heap is read after a full GC at checkpoints.
//   node --expose-gc --import=tsx test/bench/review-heap-bench.ts [--reviews N] [--live PODS]
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { startServer } from '../../server/webhook-server.js';
import { podReviews, TENANT_NAMESPACE } from './bench-reviews.js';

const { values } = parseArgs({ options: { reviews: { type: 'string', default: '1000000' }, live: { type: 'string', default: '10000' } } });
const total = Number(values.reviews);
const live = Number(values.live);
if (!Number.isInteger(total) || total <= 0) throw new Error(`--reviews: expected a positive integer, got "${values.reviews}"`);
if (!Number.isInteger(live) || live < 0) throw new Error(`--live: expected a non-negative integer, got "${values.live}"`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc: heap is read after a full collection');

let logged = 0;
const sink = new Writable({
  write: (_chunk, _enc, cb) => {
    logged++;
    cb();
  },
});
const server = await startServer({ flags: { state: `${import.meta.dirname}/state`, port: '0', host: '127.0.0.1', 'log-level': 'info' }, logDestination: sink as never });
const pods = podReviews(TENANT_NAMESPACE);
const headers = { 'content-type': 'application/json', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' };

/** Reviews denied: only a module over its time budget (a stall on a loaded machine) can deny these. */
let denied = 0;
async function send(body: string): Promise<void> {
  const res = await server.app.inject({ method: 'POST', url: '/validate', headers, payload: body });
  if (res.statusCode !== 200) throw new Error(`review failed (${res.statusCode}): ${res.body.slice(0, 300)}`);
  const response = (res.json() as { response: { allowed: boolean; status?: { message: string } } }).response;
  if (response.allowed) return;
  if (!/exceeded its time budget/.test(response.status?.message ?? '')) throw new Error(`review denied: ${response.status?.message}`);
  denied++;
}

/** Pods the tenant is charged for, as /metrics reports it: the state the server holds. */
async function podsCharged(): Promise<number> {
  const text = await server.metrics.render();
  const m = /^tenantguard_quota_used\{[^}]*resource="count\/pods"[^}]*\} (\S+)$/m.exec(text);
  if (!m) throw new Error('tenantguard_quota_used{resource="count/pods"} is missing from /metrics');
  return Number(m[1]);
}

const checkpoints = new Set([Math.min(total, 10_000), 100_000, 250_000, 500_000, 750_000, total].filter((n) => n <= total));
console.log(`\n${total.toLocaleString('en')} reviews through the server in process (inject): Pod CREATEs, each Pod deleted (a DELETE review) ${live.toLocaleString('en')} creates later`);
console.log(`${'reviews'.padStart(10)} ${'heap MB'.padStart(8)} ${'RSS MB'.padStart(8)} ${'µs per review'.padStart(14)} ${'pods charged'.padStart(13)}`);
let since = performance.now();
let sinceN = 0;
let created = 0;
let deleted = 0;
for (let n = 1; n <= total; n++) {
  // Creates run ahead of deletes by `live` pods; from then on they alternate.
  if (created - deleted < live || created === deleted) await send(pods.create(++created));
  else await send(pods.remove(++deleted));
  if (checkpoints.has(n)) {
    const micros = ((performance.now() - since) * 1000) / (n - sinceN);
    gc();
    const mem = process.memoryUsage();
    const charged = await podsCharged();
    console.log(
      `${n.toLocaleString('en').padStart(10)} ${(mem.heapUsed / 2 ** 20).toFixed(1).padStart(8)} ${(mem.rss / 2 ** 20).toFixed(0).padStart(8)} ${micros.toFixed(1).padStart(14)} ${charged.toLocaleString('en').padStart(13)}`,
    );
    since = performance.now();
    sinceN = n;
  }
}
await server.stop();
if (denied > 0) console.log(`${denied} reviews denied because a module exceeded its time budget (machine stalls)`);
if (logged < total) throw new Error(`expected a log line per review, got ${logged}`);
