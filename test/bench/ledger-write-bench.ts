// What the quota ledger's writes cost a create (issue 23): pod CREATEs driven through the
// tenant-quota webhook of N replicas (their own LiveView and ledger) against the fake apiserver,
// which charges every Tenant call what a real kube-apiserver does: a base round trip plus
// ~0.35 ms per KB moved (request and response bodies: encoding, etcd, decoding). The tenant is far
// from its limits. Reports, per level of creates in flight: creates/s, the review's p50/p99,
// Tenant status writes and Tenant bytes per admitted create (API calls, plus the watch events every
// replica decodes), and the status size at the end. A smoke, not an assertion.
//   node --import=tsx test/bench/ledger-write-bench.ts [--creates N] [--replicas N] [--levels 1,20,200]
import { parseArgs } from 'node:util';
import type { KubeObject } from '../../policies/types.js';
import { pod } from '../helpers/live-cluster.js';
import { quotaReplicas } from '../helpers/quota-replicas.js';

const { values } = parseArgs({
  options: {
    creates: { type: 'string', default: '600' },
    replicas: { type: 'string', default: '1' },
    levels: { type: 'string', default: '1,20,200' },
    'base-ms': { type: 'string', default: '3' },
    'ms-per-kb': { type: 'string', default: '0.35' },
  },
});
const NS = 'team-a';
const baseMs = Number(values['base-ms']);
const msPerKb = Number(values['ms-per-kb']);

function webPod(name: string): KubeObject {
  const p = pod(NS, name, { cpu: '100m', memory: '64Mi' });
  delete p.status;
  return p;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

interface Row {
  inFlight: number;
  replicas: number;
  admitted: number;
  perSecond: number;
  p50: number;
  p99: number;
  writesPerCreate: number;
  apiKbPerCreate: number;
  watchKbPerCreate: number;
  statusKb: number;
}

async function level(inFlight: number, replicas: number, creates: number): Promise<Row> {
  const teardowns: Array<() => unknown> = [];
  const q = await quotaReplicas({ teardown: (fn: () => unknown) => teardowns.push(fn) }, replicas, NS, {
    'count/pods': '1000000', 'requests.cpu': '100000', 'requests.memory': '1Ti',
  }, { realClock: true });
  try {
    q.c.api.costMs = (req, inBytes, outBytes) => (req.path.includes('/tenants') ? baseMs + (msPerKb * (inBytes + outBytes)) / 1024 : 0);
    // A tenant already at work: each replica has made its first write before the clock starts.
    for (let i = 0; i < replicas; i++) await q.admission.create(webPod(`warm-${i}`));
    q.c.api.traffic = [];
    const latencies: number[] = [];
    let next = 0;
    let admitted = 0;
    const refusals = new Map<string, number>();
    const started = performance.now();
    const worker = async () => {
      while (next < creates) {
        const i = next++;
        const t0 = performance.now();
        const verdict = await q.admission.create(webPod(`p-${i}`));
        latencies.push(performance.now() - t0);
        // Each create is its own HTTP request to the webhook: let I/O run between them, as it would.
        await new Promise((resolve) => setImmediate(resolve));
        if (verdict.allowed) admitted++;
        else refusals.set(verdict.status?.message ?? '', (refusals.get(verdict.status?.message ?? '') ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const tenantCalls = q.c.api.traffic.filter((r) => r.path.includes('/tenants/'));
    const writes = tenantCalls.filter((r) => r.method === 'PUT' || r.method === 'PATCH');
    const apiBytes = tenantCalls.reduce((s, r) => s + r.requestBytes + r.responseBytes, 0);
    // Every accepted write is one watch event of the whole Tenant to every replica.
    const watchBytes = writes.filter((r) => r.responseBytes > 0).reduce((s, r) => s + r.responseBytes, 0) * replicas;
    const status = JSON.stringify(q.tenantStatus() ?? {});
    for (const [message, n] of refusals) console.log(`refused ${n}x at ${inFlight} in flight over ${replicas}: ${message}`);
    return {
      inFlight,
      replicas,
      admitted,
      perSecond: admitted / seconds,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      writesPerCreate: writes.length / Math.max(1, admitted),
      apiKbPerCreate: apiBytes / 1024 / Math.max(1, admitted),
      watchKbPerCreate: watchBytes / 1024 / Math.max(1, admitted),
      statusKb: Buffer.byteLength(status) / 1024,
    };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

const rows: Row[] = [];
for (const replicas of values.replicas!.split(',').map(Number)) {
  for (const inFlight of values.levels!.split(',').map(Number)) {
    rows.push(await level(inFlight, replicas, Math.max(Number(values.creates), inFlight * 3)));
  }
}
console.log(`Tenant calls cost ${baseMs} ms + ${msPerKb} ms/KB moved; creates far from the quota's limits`);
console.log('replicas  in flight  admitted  creates/s  p50 ms  p99 ms  writes/create  API KB/create  watch KB/create  status KB');
for (const r of rows) {
  console.log(
    `${String(r.replicas).padStart(8)}  ${String(r.inFlight).padStart(9)}  ${String(r.admitted).padStart(8)}  ${r.perSecond.toFixed(0).padStart(9)}  ${r.p50.toFixed(1).padStart(6)}  ${r.p99.toFixed(1).padStart(6)}  ${r.writesPerCreate.toFixed(3).padStart(13)}  ${r.apiKbPerCreate.toFixed(2).padStart(13)}  ${r.watchKbPerCreate.toFixed(2).padStart(15)}  ${r.statusKb.toFixed(1).padStart(9)}`,
  );
}
process.exit(0);
