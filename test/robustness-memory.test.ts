// Memory stability (issue 6): 100,000 requests, mostly hostile, through the full Fastify pipeline
// (app.inject: routing, body parsing, validation, engine with every policy module, metrics, log
// lines) leave the heap where it was after the first 20,000: nothing is kept per request.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { PolicyEngine } from '../policies/engine.js';
import { MODULES } from '../policies/registry.js';
import { buildApp } from '../server/app.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { engineConfigOf } from '../server/config-load.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { createLogger } from '../server/telemetry/logging.js';
import { MAX_KIND_LABELS, Metrics } from '../server/telemetry/metrics.js';
import { createTracing } from '../server/telemetry/tracing.js';
import { admissionReview, testPki } from './helpers/https-fixture.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = 100_000;
const WARM = 20_000;
const MAX_GROWTH_BYTES = 20 * 1024 * 1024;
const LIMIT = 64 * 1024;
/** The file must finish within 60 s on 2 cores: a slow machine fails here with a count, not a hang. */
const TIME_BOUND_MS = 50_000;

interface Shot {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  contentType?: string;
  body: string | Buffer;
  status: number;
}

function pod(i: number, kind: string): string {
  return JSON.stringify(
    admissionReview({
      uid: `uid-${i}`,
      kind: { group: '', version: 'v1', kind },
      // A dry run writes nothing, so the ledger and the view may not grow with the count.
      dryRun: true,
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p-${i}`, namespace: 'team-a', labels: { app: `a${i}` } },
        spec: { containers: [{ name: 'c', image: 'registry.example/app:1', securityContext: { privileged: i % 2 === 0 } }] },
      },
    }),
  );
}

/** The i-th request: a rotation of hostile inputs, with a real review every fifth. */
function shot(i: number): Shot {
  switch (i % 10) {
    case 0:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: pod(i, 'Pod'), status: 200 };
    case 1:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: `{"apiVersion": "admission.k8s.io/v1", "x": ${i},`, status: 400 };
    case 2:
      return { url: '/mutate', method: 'POST', contentType: 'application/json', body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":${i}}}`, status: 400 };
    case 3:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: `{"request":{"object":{"__proto__":{"n":${i}}}}}`, status: 400 };
    case 4:
      return { url: '/validate', method: 'POST', contentType: 'text/plain', body: `hello ${i}`, status: 400 };
    case 5:
      // Attacker-chosen kinds: the metrics keep a bounded set of kind labels.
      return { url: '/mutate', method: 'POST', contentType: 'application/json', body: pod(i, `Kind${i}`), status: 200 };
    case 6:
      return { url: `/nowhere/${i}`, method: 'GET', body: '', status: 404 };
    case 7:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: '['.repeat(2000) + ']'.repeat(2000), status: 400 };
    case 8:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: 'x'.repeat(LIMIT + 1), status: 400 };
    default:
      return { url: '/validate', method: 'POST', contentType: 'application/json', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400 };
  }
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

t.test(`${TOTAL} hostile and valid requests: heap growth after the first ${WARM} stays under 20 MB`, async (t) => {
  const pki = await testPki();
  const view = new SnapshotView(DEFAULT_CONFIG.defaultTenant);
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  const tracing = createTracing({ serviceName: 'memory-test', env: {} });
  let logLines = 0;
  const logger = createLogger({ level: 'info', destination: { write: () => void logLines++ } });
  const metrics = new Metrics({ defaultMetrics: false });
  const engine = new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view, ledger: new MemoryLedger(view), tracer: tracing.tracer });
  const app = buildApp({
    engine,
    telemetry: { tracing, logger, metrics },
    bodyLimitBytes: LIMIT,
    https: { key: pki.server.key, cert: pki.server.cert },
    readiness: () => ({ ready: true, reasons: [] }),
    serveMetrics: true,
  });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await tracing.shutdown();
  });

  const wrong: string[] = [];
  let heapAtWarm = 0;
  const started = Date.now();
  let sent = 0;
  for (let i = 0; i < TOTAL && Date.now() - started < TIME_BOUND_MS; i++, sent++) {
    const s = shot(i);
    const res = await app.inject({
      method: s.method,
      url: s.url,
      payload: s.body,
      headers: s.contentType === undefined ? {} : { 'content-type': s.contentType },
    });
    if (res.statusCode !== s.status && wrong.length < 10) wrong.push(`request ${i} (${i % 10}): ${res.statusCode} ${res.body.slice(0, 150)}`);
    if (i + 1 === WARM) heapAtWarm = heapAfterGc();
  }
  const heapAtEnd = heapAfterGc();
  const growth = heapAtEnd - heapAtWarm;
  const seconds = (Date.now() - started) / 1000;
  t.comment(`${TOTAL} requests in ${seconds.toFixed(1)} s; heapUsed after gc: ${(heapAtWarm / 1048576).toFixed(1)} MB at ${WARM}, ${(heapAtEnd / 1048576).toFixed(1)} MB at ${TOTAL} (growth ${(growth / 1048576).toFixed(2)} MB)`);

  t.equal(sent, TOTAL, `all ${TOTAL} requests were sent within ${TIME_BOUND_MS / 1000} s`);
  t.same(wrong, [], 'every request got the status its kind of input calls for');
  t.equal(logLines, sent / 5, 'one log line per review answered');
  t.ok(growth < MAX_GROWTH_BYTES, `heap grew ${(growth / 1048576).toFixed(2)} MB between ${WARM} and ${TOTAL} requests`);
  const scraped = await app.inject({ method: 'GET', url: '/metrics' });
  const kindLabels = new Set([...scraped.body.matchAll(/tenantguard_admission_requests_total\{[^}]*kind="([^"]+)"/g)].map((m) => m[1]));
  t.equal(kindLabels.size, MAX_KIND_LABELS + 1, `attacker-chosen kinds do not multiply metric series (${kindLabels.size} kind labels)`);
  t.ok(kindLabels.has('other'), 'kinds past the bound are counted as "other"');
});
