// Where a review's microseconds go, stage by stage, in process and without HTTP or TLS: the same
// pieces `serve` builds over test/bench/state (default config, every module, the review log line to
// a sink, unsampled tracing), fed a new ~6 KB Pod CREATE per iteration. JSON.parse is the part the
// no-op route pays too; everything after it is what tenantguard adds to a request.
//   node --import=tsx test/bench/review-stages-bench.ts [--iterations N] [--namespace NS]
import { parseArgs } from 'node:util';
import { PolicyEngine } from '../../policies/engine.js';
import { MODULES } from '../../policies/registry.js';
import type { AdmissionRequest } from '../../policies/types.js';
import { decodeReview, encodeResponse, parseJsonBody } from '../../server/admission-codec.js';
import { MemoryLedger } from '../../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { DEFAULT_CONFIG } from '../../server/config.js';
import { engineConfigOf } from '../../server/config-load.js';
import { recordReview } from '../../server/http/review-record.js';
import { createLogger } from '../../server/telemetry/logging.js';
import { Metrics } from '../../server/telemetry/metrics.js';
import { createTracing } from '../../server/telemetry/tracing.js';
import { podReviews, TENANT_NAMESPACE } from './bench-reviews.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '50000' }, namespace: { type: 'string', default: TENANT_NAMESPACE } } });
const iterations = Number(values.iterations);
if (!Number.isInteger(iterations) || iterations <= 0) throw new Error(`--iterations: expected a positive integer, got "${values.iterations}"`);

const view = await SnapshotView.load(`${import.meta.dirname}/state`, DEFAULT_CONFIG.defaultTenant);
const ledger = new MemoryLedger(view);
const tracing = createTracing({ serviceName: 'bench', env: {} });
const telemetry = { logger: createLogger({ level: 'info', destination: { write: () => {} } }), metrics: new Metrics({ defaultMetrics: false }) };
const engine = new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view, ledger, tracer: tracing.tracer });
const reviews = podReviews(values.namespace!).create;
const headers = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' };

const STAGES = [
  'JSON.parse alone (the no-op pays this too)',
  'parseJsonBody: JSON.parse + prototype check',
  'envelope check (decodeReview)',
  'review span (unsampled)',
  'engine: modules + quota commit',
  'apply to the state (snapshot mode)',
  'metrics + review log line',
  'encode response + JSON.stringify',
] as const;
const totals = new Float64Array(STAGES.length);

async function one(n: number, record: boolean): Promise<void> {
  // A flat string decoded from bytes, as Fastify hands the body over (not the template's rope).
  const text = Buffer.from(reviews(n)).toString('utf8');
  const t: number[] = [performance.now()];
  JSON.parse(text);
  t.push(performance.now());
  // parseJsonBody parses again; its own share is what it costs beyond the plain JSON.parse above.
  const body = parseJsonBody(text);
  t.push(performance.now());
  const decoded = decodeReview(body);
  if (!decoded.ok) throw new Error(decoded.error);
  const req: AdmissionRequest = decoded.request;
  t.push(performance.now());
  const span = tracing.startReviewSpan('admission validate', headers);
  t.push(performance.now());
  const decision = await engine.review(req, 'validate');
  if (!decision.allowed) throw new Error(`not admitted: ${decision.status?.message}`);
  span.end();
  t.push(performance.now());
  view.apply(req, req.object ?? undefined);
  t.push(performance.now());
  recordReview(telemetry, 'validate', req, decision, span, t[5]! - t[0]!);
  t.push(performance.now());
  JSON.stringify(encodeResponse(req.uid, decision));
  t.push(performance.now());
  if (!record) return;
  for (let i = 0; i < STAGES.length; i++) totals[i]! += t[i + 1]! - t[i]!;
}

for (let n = 0; n < Math.min(5000, iterations); n++) await one(n, false);
for (let n = 0; n < iterations; n++) await one(1_000_000 + n, true);

console.log(`\nA review's stages in process, mean µs over ${iterations.toLocaleString('en')} new Pod CREATEs in namespace ${values.namespace}`);
const us = Array.from(totals, (total) => (1000 * total) / iterations);
for (let i = 0; i < STAGES.length; i++) console.log(`${STAGES[i]!.padEnd(44)} ${us[i]!.toFixed(1).padStart(7)}`);
// Everything after parseJsonBody, plus what parseJsonBody costs beyond a plain JSON.parse.
const added = us.slice(1).reduce((a, b) => a + b, 0) - us[0]!;
console.log(`${'tenantguard adds (all but one JSON.parse)'.padEnd(44)} ${added.toFixed(1).padStart(7)}`);
await tracing.shutdown();
