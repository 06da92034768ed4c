// TenantStatusLedger against the fake apiserver: usage = observed (the replica's view) + reserved
// (this replica's grant and status.reservations near a limit, shared by replicas; the escrow's own
// races are in quota-escrow-exactness.test.ts). A reservation is written with a resourceVersion
// precondition, retried on 409, idempotent per request uid, bounded per tenant, released when the
// view observes its object and expired at its TTL; dryRun writes nothing; nothing a review says frees.
import t, { type Test } from 'tap';
import type { Reservation, ReservedObject } from '../policies/types.js';
import type { ReservationEntry } from '../server/quota-ledger/reservation-book.js';
import { TenantStatusLedger, type TenantLedgerOptions } from '../server/quota-ledger/tenant-ledger.js';
import { formatUsed, parseUsed } from '../server/cluster/tenant-status.js';
import { liveCluster, namespace, pod, tenant, until, type LiveCluster } from './helpers/live-cluster.js';

const GI = 1024 ** 3;
const HARD = { 'count/pods': 3, 'requests.cpu': 2000, 'requests.memory': 4 * GI };
const T = 'tenantguard.io/v1alpha1';

function reservation(uid: string, increase: Record<string, number>, object: Partial<ReservedObject> = {}): Reservation {
  return { tenant: 'tenant-a', uid, object: { kind: 'Pod', namespace: 'team-a', name: `pod-${uid}`, ...object }, increase, hard: HARD };
}

const run = () => ({ dryRun: false, signal: AbortSignal.timeout(5000) });
const dry = () => ({ dryRun: true, signal: AbortSignal.timeout(5000) });

async function setup(t: Test, opts: TenantLedgerOptions = {}) {
  const c: LiveCluster = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'count/pods': '3', 'requests.cpu': '2', 'requests.memory': '4Gi' } } }));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
  const expired: ReservationEntry[] = [];
  const ledger = new TenantStatusLedger(c.client(), view, { backoffMs: 1, events: { expired: (e) => expired.push(e) }, ...opts });
  const status = () => c.api.get(T, 'Tenant', undefined, 'tenant-a')?.status as Record<string, any> | undefined;
  const statusWrites = () => c.api.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/tenants/tenant-a/status')).length;
  return { c, view, ledger, status, statusWrites, expired };
}

t.test('quantities round-trip between status strings and canonical amounts', async (t) => {
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

t.test('a reservation within hard is written to status.reservations, summed in status.reserved', async (t) => {
  const { ledger, status } = await setup(t);
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1, 'requests.cpu': 1500, 'requests.memory': GI }, { name: 'web-1', uid: 'pod-uid-1' }), run());
  t.match(out, { ok: true, used: { 'count/pods': 1, 'requests.cpu': 1500, 'requests.memory': GI } });
  t.same(status()?.reserved, { 'count/pods': '1', 'requests.cpu': '1500m', 'requests.memory': '1Gi' });
  t.match(status()?.reservations, [{ uid: 'uid-1', kind: 'Pod', namespace: 'team-a', name: 'web-1', objectUID: 'pod-uid-1', amounts: { 'count/pods': '1', 'requests.cpu': '1500m' } }]);
  t.equal(status()?.used, undefined, 'status.used is the reconcile\'s (observed), not the reservation\'s');
  t.equal(ledger.used('tenant-a')['requests.cpu'], 1500, 'usage counts the reservation');
});

t.test('a reservation beyond hard is refused with the numbers, and nothing is written', async (t) => {
  const { c, ledger, statusWrites, view } = await setup(t);
  c.api.apply(pod('team-a', 'big', { cpu: '1800m', memory: '1Gi' }));
  await until('the pod is observed', () => ledger.used('tenant-a')['requests.cpu'] === 1800);
  const out = await ledger.reserve(reservation('uid-1', { 'count/pods': 1, 'requests.cpu': 500 }), run());
  t.same(out, { ok: false, exceeded: [{ resource: 'requests.cpu', requested: 500, used: 1800, hard: 2000 }] });
  t.equal(statusWrites(), 0);
  t.ok(view.get('Pod', 'team-a', 'big'));
});

t.test('the reservation is released when the view observes its object, and its charge moves to observed', async (t) => {
  const { c, ledger } = await setup(t);
  await ledger.reserve(reservation('uid-1', { 'count/pods': 1, 'requests.cpu': 250, 'requests.memory': 64 * 1024 ** 2 }, { name: 'web-1' }), run());
  t.equal(ledger.reservationCount('tenant-a'), 1);
  c.api.apply(pod('team-a', 'web-1', { cpu: '250m', memory: '64Mi' }));
  await until('released', () => ledger.reservationCount('tenant-a') === 0);
  t.equal(ledger.used('tenant-a')['requests.cpu'], 250, 'counted once: observed, no longer reserved');
  t.equal(ledger.used('tenant-a')['count/pods'], 1);
});

t.test('a same-named object with another uid does not release a CREATE reservation', async (t) => {
  const { c, ledger } = await setup(t);
  c.api.apply(pod('team-a', 'web-1', { cpu: '250m', memory: '64Mi' }));
  await until('old pod observed', () => ledger.used('tenant-a')['count/pods'] === 1);
  await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }, { name: 'web-1', uid: 'the-new-one' }), run());
  t.equal(ledger.reservationCount('tenant-a'), 1, 'the terminating namesake is not the object reserved for');
  t.equal(ledger.used('tenant-a')['count/pods'], 2);
});

t.test('dryRun checks observed + reserved and writes nothing', async (t) => {
  const { ledger, statusWrites } = await setup(t);
  await ledger.reserve(reservation('uid-1', { 'count/pods': 2 }), run());
  const writes = statusWrites();
  t.match(await ledger.reserve(reservation('dry-1', { 'count/pods': 1 }), dry()), { ok: true });
  t.same(await ledger.reserve(reservation('dry-2', { 'count/pods': 2 }), dry()), {
    ok: false,
    exceeded: [{ resource: 'count/pods', requested: 2, used: 2, hard: 3 }],
  });
  t.equal(statusWrites(), writes);
  t.equal(ledger.reservationCount('tenant-a'), 1);
});

t.test('the same request uid reserves once, concurrently, sequentially, and on another replica', async (t) => {
  const { c, ledger, status } = await setup(t);
  // Near the limit (2 of 3 pods), a reservation is a per-uid entry every replica reads.
  const r = reservation('uid-1', { 'count/pods': 2 });
  await Promise.all([ledger.reserve(r, run()), ledger.reserve(r, run())]);
  await ledger.reserve(r, run());
  const other = new TenantStatusLedger(c.client(), await c.view(), { backoffMs: 1 });
  await other.reserve(r, run());
  t.equal(status()?.reservations.length, 1);
  t.same(status()?.reserved, { 'count/pods': '2' });
  t.equal(other.used('tenant-a')['count/pods'], 2, 'the other replica counts it once');
});

t.test('a reservation whose object never appears expires at the TTL, is counted, and frees its quota', async (t) => {
  let now = Date.now();
  const { ledger, expired } = await setup(t, { ttlMs: 120_000, now: () => now });
  await ledger.reserve(reservation('never-stored', { 'count/pods': 3 }), run());
  t.same(await ledger.reserve(reservation('next', { 'count/pods': 1 }), dry()), { ok: false, exceeded: [{ resource: 'count/pods', requested: 1, used: 3, hard: 3 }] });
  now += 119_000;
  t.equal(ledger.used('tenant-a')['count/pods'], 3, 'still held before the TTL');
  now += 2_000;
  t.equal(ledger.used('tenant-a')['count/pods'], 0, 'freed after the TTL');
  t.same(expired.map((e) => e.uid), ['never-stored']);
  t.equal(expired[0]!.local, true, 'made here: this replica counts and logs it');
});

t.test('reservations in flight are bounded per tenant: a flood is denied, not stored', async (t) => {
  const { ledger, status } = await setup(t, { maxReservations: 2 });
  await ledger.reserve(reservation('a', { 'requests.cpu': 1 }), run());
  await ledger.reserve(reservation('b', { 'requests.cpu': 1 }), run());
  t.same(await ledger.reserve(reservation('c', { 'requests.cpu': 1 }), run()), { ok: false, tooMany: { inFlight: 2, limit: 2 } });
  t.equal(ledger.reservationCount('tenant-a'), 2);
  t.same(status()?.reserved, { 'requests.cpu': '1m' }, 'the first write recorded one; the second came from its grant');
});

t.test('write conflicts are retried; contention past maxAttempts is an error naming the Tenant', async (t) => {
  const { c, ledger } = await setup(t, { maxAttempts: 3 });
  let conflicts = 2;
  c.api.intercept = (req) => {
    if (req.method === 'PUT' && req.path.endsWith('/status') && conflicts-- > 0) {
      return { status: 409, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'modified' } };
    }
    return undefined;
  };
  t.match(await ledger.reserve(reservation('uid-1', { 'count/pods': 1 }), run()), { ok: true });
  conflicts = 10;
  // Two more pods do not fit the grant the first write took: a write is needed, and it keeps losing.
  await t.rejects(ledger.reserve(reservation('uid-2', { 'count/pods': 2 }), run()), {
    name: 'TenantStatusConflictError',
    message: /Tenant "tenant-a": status update still conflicting after 3 attempts/,
  });
  t.equal(ledger.reservationCount('tenant-a'), 1, 'the refused write recorded nothing');
});

t.test('a missing Tenant is an error, an unreadable reservation entry is not counted', async (t) => {
  const { c, ledger } = await setup(t);
  await t.rejects(ledger.reserve({ ...reservation('u1', { 'count/pods': 1 }), tenant: 'ghost' }, run()), /Tenant "ghost" not found/);
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'] }, { reservations: [{ uid: 'x', kind: 'Pod', amounts: { 'count/pods': 'lots' } }] }));
  t.match(await ledger.reserve(reservation('u2', { 'count/pods': 1 }), run()), { ok: true });
  t.equal(ledger.used('tenant-a')['count/pods'], 1);
});

t.test('a review that gave up before its write is not charged', async (t) => {
  const { ledger } = await setup(t);
  const gaveUp = new AbortController();
  gaveUp.abort(new Error('time budget exceeded'));
  const [late, ok] = await Promise.allSettled([
    ledger.reserve(reservation('late', { 'count/pods': 1 }), { dryRun: false, signal: gaveUp.signal }),
    ledger.reserve(reservation('ok', { 'count/pods': 1 }), run()),
  ]);
  t.equal(late.status, 'rejected');
  t.equal(ok.status, 'fulfilled');
  t.equal(ledger.used('tenant-a')['count/pods'], 1);
});
