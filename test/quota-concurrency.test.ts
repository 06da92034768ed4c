// Quota under concurrency across replicas (SPEC 6.4): three replicas, each with its own LiveView,
// TenantStatusLedger and the real tenant-quota module, against one apiserver that sends reviews as
// a real one does. Creates race each other and pod deletions (graceful, then final, reviewed more
// than once): the tenant never holds more pods than `hard`, none fails for contention, and after
// one reconcile period every replica's observed + reserved, and the Tenant's status, is the truth.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { pod } from './helpers/live-cluster.js';
import { quotaReplicas } from './helpers/quota-replicas.js';

const NS = 'team-a';
const HARD = 60;
const EXISTING = 20;
const CREATES = 200;

function webPod(name: string): KubeObject {
  const p = pod(NS, name, { cpu: '100m', memory: '128Mi' });
  delete p.status;
  return p;
}

t.test(`${CREATES} concurrent creates and ${EXISTING} deletes over 3 replicas never exceed hard; one period later all agree with the truth`, async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'count/pods': String(HARD), 'requests.cpu': '1000', 'requests.memory': '1Ti' }, { ttlMs: 60_000 });
  q.c.api.watchDelayMs = 5;
  for (let i = 0; i < EXISTING; i++) await q.admission.create(webPod(`old-${i}`));
  await q.settled();

  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, q.c.api.count('v1', 'Pod'))), 1);
  const started = performance.now();
  const [creates] = await Promise.all([
    Promise.all(Array.from({ length: CREATES }, (_, i) => q.admission.create(webPod(`new-${i}`), { refusedLater: i % 25 === 0 }))),
    Promise.all(Array.from({ length: EXISTING }, (_, i) => q.admission.deletePod(NS, `old-${i}`, { finalReviews: 2 }))),
  ]);
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  most = Math.max(most, q.c.api.count('v1', 'Pod'));

  const denials = creates.filter((c) => !c.allowed).map((c) => c.status?.message ?? '');
  t.same(denials.filter((m) => !/exceeded quota: tenant-a, requested: count\/pods=1.*limited: count\/pods=60/.test(m)), [], 'every denial is the quota verdict (none from contention or errors)');
  t.ok(most <= HARD, `never more than ${HARD} pods stored (most seen: ${most})`);
  const admitted = creates.filter((c) => c.allowed).length;
  t.ok(admitted >= HARD - EXISTING && admitted <= HARD, `admitted ${admitted}: at least what was free, at most hard`);

  await q.settled();
  q.clock.now += 61_000;
  for (const r of q.replicas) await r.reconciler.runOnce();
  const truth = q.c.api.count('v1', 'Pod');
  for (const [i, r] of q.replicas.entries()) {
    t.equal(r.ledger.used('tenant-a')['count/pods'], truth, `replica ${i}: observed + reserved = the ${truth} pods that exist`);
    t.equal(r.ledger.used('tenant-a')['requests.cpu'], truth * 100);
  }
  t.equal(q.tenantStatus()?.used['count/pods'], String(truth), 'status.used is what exists');
  t.same(q.tenantStatus()?.reservations, [], 'no reservation left');
  const expired = q.replicas.flatMap((r) => r.expired.filter((e) => e.local)).length;
  t.equal(expired, creates.filter((c, i) => c.allowed && i % 25 === 0).length, 'each create refused later in the chain expired once, where it was made');
  t.comment(`${CREATES} creates + ${EXISTING} deletes in ${elapsed.toFixed(0)}ms; ${q.c.api.conflicts} status writes lost a race (409) and were retried; ${admitted} admitted`);
});

t.test('dryRun creates racing real ones are judged but consume nothing', async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'count/pods': '30' });
  const results = await Promise.all(
    Array.from({ length: 90 }, async (_, i) => {
      if (i % 3 !== 0) return { dry: false, ...(await q.admission.create(webPod(`p-${i}`))) };
      const review = await q.review({
        uid: `dry-${i}`,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        name: `dry-${i}`,
        namespace: NS,
        operation: 'CREATE',
        userInfo: { username: 'alice' },
        object: webPod(`dry-${i}`),
        oldObject: null,
        dryRun: true,
      }, i);
      return { dry: true, ...review };
    }),
  );
  t.equal(results.filter((r) => !r.dry && r.allowed).length, 30, 'exactly 30 real creates admitted');
  t.ok(results.some((r) => r.dry && r.allowed), 'dryRun requests were judged');
  await q.settled();
  t.equal(q.c.api.count('v1', 'Pod'), 30);
  t.equal(q.replicas[0]!.ledger.used('tenant-a')['count/pods'], 30, 'dry runs reserved nothing');
});
