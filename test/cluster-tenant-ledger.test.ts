// TenantStatusLedger against the fake apiserver: reservations are checked against and committed to
// the Tenant's status.used with a resourceVersion precondition, retried on 409, idempotent per
// request uid, and dryRun writes nothing.
import t, { type Test } from 'tap';
import type { Reservation } from '../policies/types.js';
import { formatUsed, parseUsed, TenantStatusConflictError, TenantStatusLedger } from '../server/cluster/tenant-ledger.js';
import { liveCluster, tenant, until, type LiveCluster } from './helpers/live-cluster.js';

const GI = 1024 ** 3;
const HARD = { 'count/pods': 3, 'requests.cpu': 2000, 'requests.memory': 4 * GI };

function reservation(uid: string, increase: Record<string, number>): Reservation {
  return { tenant: 'tenant-a', uid, increase, hard: HARD };
}

const run = () => ({ dryRun: false, signal: AbortSignal.timeout(5000) });
const dry = () => ({ dryRun: true, signal: AbortSignal.timeout(5000) });

async function setup(t: Test, status?: Record<string, unknown>) {
  const c: LiveCluster = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'count/pods': '3', 'requests.cpu': '2', 'requests.memory': '4Gi' } } }, status));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  const ledger = new TenantStatusLedger(c.client(), view, { backoffMs: 1 });
  const used = () => c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.used as Record<string, string> | undefined;
  const statusWrites = () => c.api.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/tenants/tenant-a/status')).length;
  return { c, view, ledger, used, statusWrites };
}

t.test('quantities round-trip between status.used strings and canonical amounts', async (t) => {
  t.same(formatUsed({ 'requests.cpu': 1500, 'limits.cpu': 2000, 'requests.memory': 3 * GI, 'count/pods': 7 }), {
    'count/pods': '7',
    'limits.cpu': '2',
    'requests.cpu': '1500m',
    'requests.memory': '3Gi',
  });
  t.same(parseUsed('x', { 'requests.cpu': '0.1', 'requests.memory': '1536Mi', 'count/pods': '2' }), {
    'requests.cpu': 100,
    'requests.memory': 1536 * 1024 ** 2,
    'count/pods': 2,
  });
  t.throws(() => parseUsed('x', { 'requests.cpu': 'lots' }), /Tenant "x": status.used\["requests.cpu"\]: invalid quantity "lots"/);
  t.throws(() => parseUsed('x', ['1']), /status.used is not a map/);
});

t.test('a reservation within hard is committed to status.used as quantity strings', async (t) => {
  const { ledger, used, view } = await setup(t);
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1, 'requests.cpu': 1500, 'requests.memory': GI }), run());
  t.same(out, { ok: true, used: { 'count/pods': 1, 'requests.cpu': 1500, 'requests.memory': GI } });
  t.same(used(), { 'count/pods': '1', 'requests.cpu': '1500m', 'requests.memory': '1Gi' });
  await until('the informer sees the new status', () => ledger.used('tenant-a')['requests.cpu'] === 1500);
  t.same(ledger.used('tenant-a'), { 'count/pods': 1, 'requests.cpu': 1500, 'requests.memory': GI }, 'used() reads the cached Tenant');
  t.same(view.get('Tenant', undefined, 'tenant-a')?.spec?.namespaces, ['team-a'], 'spec untouched');
});

t.test('a reservation beyond hard is refused with the numbers, and nothing is written', async (t) => {
  const { ledger, used, statusWrites } = await setup(t, { used: { 'count/pods': '2', 'requests.cpu': '1800m' } });
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1, 'requests.cpu': 500 }), run());
  t.same(out, { ok: false, exceeded: [{ resource: 'requests.cpu', requested: 500, used: 1800, hard: 2000 }] });
  t.same(used(), { 'count/pods': '2', 'requests.cpu': '1800m' });
  t.equal(statusWrites(), 0);
});

t.test('dryRun checks against the fresh Tenant and writes nothing', async (t) => {
  const { ledger, used, statusWrites } = await setup(t, { used: { 'count/pods': '2' } });
  t.same(await ledger.reserve(reservation('dry-1', { 'count/pods': 1 }), dry()), { ok: true, used: { 'count/pods': 3 } });
  t.same(await ledger.reserve(reservation('dry-2', { 'count/pods': 2 }), dry()), {
    ok: false,
    exceeded: [{ resource: 'count/pods', requested: 2, used: 2, hard: 3 }],
  });
  t.same(used(), { 'count/pods': '2' });
  t.equal(statusWrites(), 0);
});

t.test('the same request uid is charged once (the apiserver may retry a webhook call)', async (t) => {
  const { ledger, used } = await setup(t);
  const r = reservation('retried', { 'count/pods': 1 });
  const [a, b] = await Promise.all([ledger.reserve(r, run()), ledger.reserve(r, run())]);
  const c = await ledger.reserve(r, run());
  t.same([a, b, c].map((o) => o.ok), [true, true, true]);
  t.same(used(), { 'count/pods': '1' });
});

t.test('a committed uid is forgotten after the dedupe window', async (t) => {
  const { c, view, used } = await setup(t);
  let now = 1_000_000;
  const ledger = new TenantStatusLedger(c.client(), view, { dedupeTtlMs: 60_000, now: () => now });
  await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run());
  await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run());
  t.same(used(), { 'count/pods': '1' });
  now += 60_001;
  await ledger.reserve(reservation('uid-2', { 'count/pods': 1 }), run());
  await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run());
  t.same(used(), { 'count/pods': '3' }, 'uid-1 charged again once its entry expired');
});

t.test('409 Conflict: re-read and check again, against what the other writer committed', async (t) => {
  const { c, ledger, used } = await setup(t, { used: { 'count/pods': '1' } });
  let conflicts = 0;
  c.api.intercept = (req) => {
    if (req.method !== 'PUT' || !req.path.endsWith('/status') || conflicts >= 2) return undefined;
    conflicts++;
    // Another replica commits a pod in between our read and our write.
    const cur = c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')!;
    const pods = Number((cur.status?.used as Record<string, string>)['count/pods']);
    c.api.apply({ ...cur, status: { used: { 'count/pods': String(pods + 1) } } });
    return { status: 409, body: { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' } };
  };
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run());
  t.same(out, { ok: false, exceeded: [{ resource: 'count/pods', requested: 1, used: 3, hard: 3 }] }, 'the last unit went to the other replica');
  t.equal(conflicts, 2);
  t.same(used(), { 'count/pods': '3' });
});

t.test('contention that never ends: bounded attempts, then an error for the failure mode to judge', async (t) => {
  const { c, ledger, statusWrites } = await setup(t);
  c.api.intercept = (req) =>
    req.method === 'PUT' && req.path.endsWith('/status')
      ? { status: 409, body: { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' } }
      : undefined;
  await t.rejects(ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run()), { name: 'TenantStatusConflictError', message: /Tenant "tenant-a": status update still conflicting after 8 attempts/ });
  t.equal(statusWrites(), 8, 'eight attempts');
});

t.test('errors name the Tenant: missing Tenant, bad status.used, apiserver failure', async (t) => {
  const { c, ledger } = await setup(t, { used: { 'requests.memory': 'plenty' } });
  await t.rejects(ledger.reserve({ ...reservation('u1', { 'count/pods': 1 }), tenant: 'ghost' }, run()), /Tenant "ghost" not found/);
  await t.rejects(ledger.reserve(reservation('u2', { 'count/pods': 1 }), run()), /Tenant "tenant-a": status.used\["requests.memory"\]: invalid quantity "plenty"/);
  c.api.intercept = () => ({ status: 500, body: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd down' } });
  await t.rejects(ledger.reserve(reservation('u3', { 'count/pods': 1 }), dry()), /GET \/apis\/tenantguard.io\/v1alpha1\/tenants\/tenant-a: 500 InternalError: etcd down/);
});

t.test('a request that gave up before its turn is not charged', async (t) => {
  const { ledger, used } = await setup(t);
  const gaveUp = new AbortController();
  gaveUp.abort(new Error('time budget spent'));
  const [late, ok] = await Promise.allSettled([
    ledger.reserve(reservation('late', { 'count/pods': 1 }), { dryRun: false, signal: gaveUp.signal }),
    ledger.reserve(reservation('ok', { 'count/pods': 1 }), run()),
  ]);
  t.equal(late.status, 'rejected');
  t.match((late as PromiseRejectedResult).reason, /abandoned/);
  t.same((ok as PromiseFulfilledResult<unknown>).value, { ok: true, used: { 'count/pods': 1 } });
  t.same(used(), { 'count/pods': '1' });
});

t.test('a Tenant without status.used starts from the initial usage it is given', async (t) => {
  const { c, view, used } = await setup(t);
  const ledger = new TenantStatusLedger(c.client(), view, { initialUsed: () => ({ 'count/pods': 2, 'requests.cpu': 500 }) });
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run());
  t.same(out, { ok: true, used: { 'count/pods': 3, 'requests.cpu': 500 } });
  t.same(used(), { 'count/pods': '3', 'requests.cpu': '500m' });
  t.same(await ledger.reserve(reservation('uid-2', { 'count/pods': 1 }), run()), {
    ok: false,
    exceeded: [{ resource: 'count/pods', requested: 1, used: 3, hard: 3 }],
  });
});

t.test('a reservation with no increase neither reads nor writes', async (t) => {
  const { c, ledger } = await setup(t);
  const before = c.api.requests.length;
  t.same(await ledger.reserve(reservation('uid-1', { 'count/pods': 0 }), run()), { ok: true, used: {} });
  t.equal(c.api.requests.length, before);
});

t.test('what a request frees is applied with the same write, never below zero', async (t) => {
  const { ledger, used } = await setup(t, { used: { 'count/pods': '2', 'requests.cpu': '1500m' } });
  const freed = { ...reservation('delete-1', {}), decrease: { 'count/pods': 1, 'requests.cpu': 2000 } };
  t.same(await ledger.reserve(freed, run()), { ok: true, used: { 'count/pods': 1, 'requests.cpu': 0 } });
  t.same(used(), { 'count/pods': '1', 'requests.cpu': '0' });
});
