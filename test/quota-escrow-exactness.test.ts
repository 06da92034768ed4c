// The escrow ledger stays exact (README "Quota ledger"): replicas admit from grants far from a
// limit and with per-uid entries near it, and still never admit more than hard, nor fewer than
// fit, whatever the interleaving: the 20-of-20 race over 3 replicas with random watch lag and lost
// writes, a replica whose view lags behind a published watermark, a grant given back on recall,
// and far from the limit creates that cost no Tenant write and leave the status small.
import t from 'tap';
import type { AdmissionRequest, KubeObject, Reservation } from '../policies/types.js';
import { crdValidator } from './helpers/crd-schema.js';
import { pod, tenant, until } from './helpers/live-cluster.js';
import { readOne } from './helpers/manifests.js';
import { quotaReplicas } from './helpers/quota-replicas.js';

const NS = 'team-a';
const run = () => ({ dryRun: false, signal: AbortSignal.timeout(5000) });

function webPod(name: string): KubeObject {
  const p = pod(NS, name, { cpu: '100m', memory: '64Mi' });
  delete p.status;
  return p;
}

const statusPuts = (requests: Array<{ method: string; path: string }>) => requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/tenants/tenant-a/status')).length;

t.test('150 concurrent creates over 3 replicas admit exactly 20 of 20, run after run, with random watch lag and lost writes', async (t) => {
  for (let round = 0; round < 5; round++) {
    const q = await quotaReplicas(t, 3, NS, { 'count/pods': '20' });
    q.c.api.watchDelayMs = Math.floor(Math.random() * 30);
    // A status write now and then loses a race it did not see coming (409 with nothing changed).
    q.c.api.intercept = (req) =>
      req.method === 'PUT' && req.path.endsWith('/status') && Math.random() < 0.2
        ? { status: 409, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'modified' } }
        : undefined;
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, q.c.api.count('v1', 'Pod'))), 1);
    const creates = await Promise.all(Array.from({ length: 150 }, (_, i) => q.admission.create(webPod(`p-${i}`))));
    clearInterval(sampler);
    const admitted = creates.filter((c) => c.allowed).length;
    const denials = creates.filter((c) => !c.allowed).map((c) => c.status?.message ?? '');
    t.equal(admitted, 20, `round ${round} (watch lag ${q.c.api.watchDelayMs} ms): exactly 20 admitted`);
    t.same(denials.filter((m) => !/exceeded quota: tenant-a, requested: count\/pods=1.*limited: count\/pods=20/.test(m)), [], 'every denial is the quota verdict');
    t.ok(Math.max(most, q.c.api.count('v1', 'Pod')) <= 20, 'never more than 20 stored');
    q.c.api.intercept = undefined;
    await q.settled();
    t.equal(q.c.api.count('v1', 'Pod'), 20);
  }
});

t.test('far from the limit, creates are admitted from the grant: a handful of Tenant writes for 300 creates, and no per-create entries', async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'count/pods': '100000', 'requests.cpu': '10000', 'requests.memory': '1Ti' });
  const creates = await Promise.all(Array.from({ length: 300 }, (_, i) => q.admission.create(webPod(`p-${i}`))));
  t.equal(creates.filter((c) => c.allowed).length, 300);
  const writes = statusPuts(q.c.api.requests);
  t.ok(writes <= 15, `${writes} status writes for 300 creates over 3 replicas (one grant each, and the races between them)`);
  await q.settled();
  // Another 300, once every replica has observed the first ones: all from the grants.
  await Promise.all(Array.from({ length: 300 }, (_, i) => q.admission.create(webPod(`q-${i}`))));
  t.equal(statusPuts(q.c.api.requests), writes, 'no status write at all for the next 300');
  const status = q.tenantStatus()!;
  t.same(status.reservations ?? [], [], 'no per-create entry in the status');
  t.same(Object.keys(status.escrow).sort(), ['replica-0', 'replica-1', 'replica-2'], 'one record per replica');
  const bytes = Buffer.byteLength(JSON.stringify(status));
  t.ok(bytes < 2048, `the status is ${bytes} bytes after 600 creates`);
});

t.test('a replica whose view lags behind a published watermark never over-admits', async (t) => {
  const q = await quotaReplicas(t, 2, NS, { 'count/pods': '10' }, { ledger: { lagWaitMs: 200 } });
  const [a, b] = q.replicas as [(typeof q.replicas)[0], (typeof q.replicas)[0]];
  // b's Pod watch (a's view started first, so a's is the first one opened) falls far behind from here on.
  const aPodWatch = q.c.api.requests.find((r) => r.path === '/api/v1/pods' && r.query.get('watch') === 'true');
  q.c.api.watchDelayFor = (w) => (w.path === '/api/v1/pods' && w !== aPodWatch ? 3000 : undefined);
  const review = (name: string, uid = `uid-${name}`): AdmissionRequest => ({
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    name,
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object: { ...webPod(name), metadata: { ...webPod(name).metadata, uid: `obj-${uid}` } },
    oldObject: null,
  });
  for (let i = 0; i < 5; i++) {
    t.equal((await a.engine.review(review(`a-${i}`), 'validate')).allowed, true);
    q.c.api.apply({ ...webPod(`a-${i}`), metadata: { ...webPod(`a-${i}`).metadata, uid: `obj-uid-a-${i}` } });
  }
  await until('a observed its five pods', () => a.ledger.reservationCount('tenant-a') === 0);
  // a's next create needs a write, which publishes the Pod watermark past the five it observed.
  t.equal((await a.engine.review(review('a-5'), 'validate')).allowed, true);
  t.ok(Number(q.tenantStatus()?.watermarks.Pod) > 0, 'watermark published');
  // b counts none of a's pods in its view; relying on it would admit up to 10 more.
  const fromB = await Promise.all(Array.from({ length: 10 }, (_, i) => b.engine.review(review(`b-${i}`), 'validate')));
  t.equal(fromB.filter((v) => v.allowed).length, 0, 'b refuses while its view is behind');
  t.match(fromB[0]!.status?.message, /view of Pod has not reached resourceVersion/);
  await q.settled();
  const later = await Promise.all(Array.from({ length: 10 }, (_, i) => b.engine.review(review(`c-${i}`), 'validate')));
  t.equal(later.filter((v) => v.allowed).length, 4, 'once caught up, b admits exactly the 4 left');
});

t.test('a grant held unused on one replica is given back when another needs the room', async (t) => {
  const q = await quotaReplicas(t, 2, NS, { 'count/pods': '10' });
  const [a, b] = q.replicas as [(typeof q.replicas)[0], (typeof q.replicas)[0]];
  const reservation = (uid: string, pods: number): Reservation => ({
    tenant: 'tenant-a', uid, object: { kind: 'Pod', namespace: NS, name: uid }, increase: { 'count/pods': pods }, hard: { 'count/pods': 10 },
  });
  t.match(await a.ledger.reserve(reservation('one', 1), run()), { ok: true });
  t.ok(a.ledger.grantOf('tenant-a')!['count/pods']! > 1, `a holds room beyond its one pod (${a.ledger.grantOf('tenant-a')!['count/pods']})`);
  await until('b sees a\'s grant', () => b.view.get('Tenant', undefined, 'tenant-a')?.status?.escrow?.['replica-0'] !== undefined);
  t.match(await b.ledger.reserve(reservation('nine', 9), run()), { ok: true }, 'all nine free pods, although a held some of them');
  t.same(a.ledger.grantOf('tenant-a'), { 'count/pods': 1 }, 'a gave back what it did not use');
  t.same(await b.ledger.reserve(reservation('more', 1), run()), {
    ok: false,
    exceeded: [{ resource: 'count/pods', requested: 1, used: 10, hard: 10 }],
  }, 'and nothing is left');
  t.same(q.tenantStatus()?.reservations.map((r: { uid: string }) => r.uid), ['nine'], 'near the limit, a per-uid entry');
  // A real apiserver prunes what the CRD does not declare: every field the ledger writes is declared, within bounds.
  const validate = crdValidator(readOne('base/crd-tenant.yaml').spec.versions[0].schema.openAPIV3Schema);
  const written = q.c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')!;
  t.ok(written.status?.recall && written.status?.escrow && written.status?.watermarks, 'grants, watermarks and a recall were written');
  t.same(validate(written), [], 'the status the ledger writes is valid under the CRD');
});

t.test('a forged create admitted from a grant holds its room only until its TTL, and is counted as expired where it was made', async (t) => {
  const q = await quotaReplicas(t, 1, NS, { 'count/pods': '100' }, { ttlMs: 60_000 });
  const a = q.replicas[0]!;
  const forged = (uid: string): Reservation => ({
    tenant: 'tenant-a', uid, object: { kind: 'Pod', namespace: NS, name: uid }, increase: { 'count/pods': 1 }, hard: { 'count/pods': 100 },
  });
  t.match(await a.ledger.reserve(forged('first'), run()), { ok: true });
  const writes = statusPuts(q.c.api.requests);
  t.match(await a.ledger.reserve(forged('phantom'), run()), { ok: true });
  t.equal(statusPuts(q.c.api.requests), writes, 'admitted from the grant, no write');
  t.equal(a.ledger.used('tenant-a')['count/pods'], 2);
  q.clock.now += 61_000;
  t.equal(a.ledger.used('tenant-a')['count/pods'], 0, 'neither object ever appeared: both freed at the TTL');
  t.same(a.expired.map((e) => e.uid).sort(), ['first', 'phantom']);
  t.match(await a.ledger.reserve(forged('after'), run()), { ok: true }, 'the lease ran out meanwhile: a write takes a new grant');
  t.same(q.tenantStatus()?.escrow['replica-0'].consumed, { 'count/pods': '1' }, 'counting only what is waiting now');
});

t.test('a replica idle past its lease still gives back its grant when asked', async (t) => {
  const q = await quotaReplicas(t, 2, NS, { 'count/pods': '10' });
  const [a, b] = q.replicas as [(typeof q.replicas)[0], (typeof q.replicas)[0]];
  const reservation = (uid: string, pods: number): Reservation => ({
    tenant: 'tenant-a', uid, object: { kind: 'Pod', namespace: NS, name: uid }, increase: { 'count/pods': pods }, hard: { 'count/pods': 10 },
  });
  t.match(await a.ledger.reserve(reservation('one', 1), run()), { ok: true });
  await until('b sees a\'s grant', () => b.view.get('Tenant', undefined, 'tenant-a')?.status?.escrow?.['replica-0'] !== undefined);
  q.clock.now += 61_000;
  t.match(await b.ledger.reserve(reservation('nine', 9), run()), { ok: true }, 'a\'s lease ran out, but its grant still counted until a gave it back');
  t.same(a.ledger.grantOf('tenant-a'), { 'count/pods': 1 });
});

t.test('a replica gone without a word holds its grant until its lease and the reservation TTL have passed, then any writer drops it', async (t) => {
  const q = await quotaReplicas(t, 1, NS, { 'count/pods': '10' }, { ttlMs: 120_000, ledger: { recallWaitMs: 200 } });
  const b = q.replicas[0]!;
  q.c.api.apply(tenant('tenant-a', { namespaces: [NS], quota: { hard: { 'count/pods': '10' } } }, {
    escrow: { 'gone-replica': { grant: { 'count/pods': '8' }, consumed: { 'count/pods': '8' }, expires: new Date(q.clock.now).toISOString() } },
  }));
  await until('b sees the record', () => b.view.get('Tenant', undefined, 'tenant-a')?.status?.escrow?.['gone-replica'] !== undefined);
  const reservation = (uid: string): Reservation => ({
    tenant: 'tenant-a', uid, object: { kind: 'Pod', namespace: NS, name: uid }, increase: { 'count/pods': 3 }, hard: { 'count/pods': 10 },
  });
  t.same(await b.ledger.reserve(reservation('early'), run()), {
    ok: false,
    exceeded: [{ resource: 'count/pods', requested: 3, used: 8, hard: 10 }],
  }, 'what it may have admitted could still appear: its grant counts');
  q.clock.now += 120_001;
  t.match(await b.ledger.reserve(reservation('late'), run()), { ok: true }, 'past its lease and the TTL, its room is free');
  t.notOk(q.tenantStatus()?.escrow['gone-replica'], 'and its record is gone');
});
