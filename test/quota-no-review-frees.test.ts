// Quota that cannot be lied to (SPEC 6.4, issue 9): usage = observed + uid-keyed reservations, over
// three replicas and the reviews a real kube-apiserver sends (test/helpers/apiserver-admission.ts).
import t from 'tap';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { pod, until } from './helpers/live-cluster.js';
import { quotaReplicas } from './helpers/quota-replicas.js';

const NS = 'team-a';

function webPod(name: string, cpu = '100m'): KubeObject {
  const p = pod(NS, name, { cpu, memory: '64Mi' });
  delete p.status;
  return p;
}

t.test('a pod deleted through the real sequence frees exactly once, when the watch shows it gone', async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'count/pods': '2' });
  q.c.api.watchDelayMs = 50;
  t.equal((await q.admission.create(webPod('a'))).allowed, true);
  t.equal((await q.admission.create(webPod('b'))).allowed, true);
  await q.settled();
  t.equal((await q.admission.create(webPod('c'))).allowed, false, 'full');

  // The graceful DELETE and two final DELETE reviews, each with its own uid, spread over the replicas.
  const verdicts = await q.admission.deletePod(NS, 'a', { finalReviews: 2 });
  t.same(verdicts.map((v) => v.allowed), [true, true, true]);
  t.equal(new Set(q.admission.reviews.filter((r) => r.operation === 'DELETE').map((r) => r.uid)).size, 3, 'three reviews, three uids');
  // Until every watch has shown the pod gone, no replica has room: the reviews freed nothing.
  const early = await Promise.all([0, 1, 2].map((i) => q.review(createReview(webPod(`early-${i}`)), i)));
  t.same(early.map((d) => d.allowed), [false, false, false], 'no replica admits before it observes the pod gone');
  await q.settled();
  const after = await Promise.all([0, 1, 2].map((i) => q.admission.create(webPod(`after-${i}`))));
  t.equal(after.filter((d) => d.allowed).length, 1, 'exactly one pod fits once the pod is observed gone');
  await q.settled();
  t.equal(q.c.api.count('v1', 'Pod'), 2, 'never over hard');
});

function createReview(object: KubeObject, uid = `forged-${Math.random()}`): AdmissionRequest {
  return {
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    name: object.metadata!.name!,
    namespace: object.metadata!.namespace!,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object: { ...object, metadata: { ...object.metadata, uid: `obj-${uid}` } },
    oldObject: null,
  };
}

t.test('forged reviews change nothing lasting: a DELETE frees nothing, a CREATE holds only until its TTL', async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'requests.cpu': '2', 'count/pods': '10' }, { ttlMs: 120_000 });
  t.equal((await q.admission.create(webPod('real', '1500m'))).allowed, true);
  await q.settled();
  // Anyone who can reach the Service can post this: a DELETE of a 1000-CPU pod that does not exist.
  const ghost = webPod('ghost', '1000');
  const forgedDelete: AdmissionRequest = { ...createReview(ghost), operation: 'DELETE', object: null, oldObject: ghost };
  t.equal((await q.review(forgedDelete, 0)).allowed, true, 'a DELETE is not quota\'s to refuse');
  const blocked = await q.review(createReview(webPod('next', '1')), 0);
  t.equal(blocked.allowed, false, 'and it freed nothing');
  t.match(blocked.status?.message, 'used: requests.cpu=1500m');

  // A forged CREATE in the tenant's namespace reserves, and the object never appears.
  t.equal((await q.review(createReview(webPod('phantom', '500m'), 'phantom-uid'), 1)).allowed, true);
  await until('every replica sees the reservation', () => q.replicas.every((r) => r.ledger.used('tenant-a')['requests.cpu'] === 2000));
  t.equal((await q.review(createReview(webPod('small', '100m')), 2)).allowed, false, 'held while the reservation lives');
  q.clock.now += 121_000;
  t.equal(q.replicas[1]!.ledger.used('tenant-a')['requests.cpu'], 1500, 'gone after the TTL');
  t.same(q.replicas[1]!.expired.map((e) => e.uid), ['phantom-uid'], 'counted as expired where it was made');
  t.same(q.replicas[0]!.expired.filter((e) => e.local), [], 'and only there');
  t.equal((await q.review(createReview(webPod('small', '100m')), 2)).allowed, true);
});

t.test('a review retried on another replica reserves once', async (t) => {
  const q = await quotaReplicas(t, 3, NS, { 'count/pods': '2' });
  const request = createReview(webPod('web'), 'retried-uid');
  t.equal((await q.review(request, 0)).allowed, true);
  t.equal((await q.review(request, 1)).allowed, true, 'the apiserver retries after a timeout');
  t.equal((await q.review(request, 2)).allowed, true);
  t.equal(q.tenantStatus()?.reservations.length, 1);
  t.match(q.tenantStatus()?.reserved, { 'count/pods': '1', 'requests.cpu': '100m' });
  t.equal((await q.review(createReview(webPod('other')), 1)).allowed, true, 'one unit is still free');
});

t.test('a create admitted here and refused later in the chain is released at the TTL', async (t) => {
  const q = await quotaReplicas(t, 2, NS, { 'count/pods': '1' }, { ttlMs: 60_000 });
  t.equal((await q.admission.create(webPod('refused'), { refusedLater: true })).allowed, true);
  t.equal((await q.admission.create(webPod('waits'))).allowed, false, 'the refused create still holds its unit');
  q.clock.now += 61_000;
  t.equal((await q.admission.create(webPod('fits'))).allowed, true, 'freed at the TTL');
  await q.settled();
  t.equal(q.c.api.count('v1', 'Pod'), 1);
});

t.test('a watch that delivers the object late keeps the reservation counted until then', async (t) => {
  const q = await quotaReplicas(t, 2, NS, { 'count/pods': '1' });
  q.c.api.watchDelayMs = 300;
  t.equal((await q.admission.create(webPod('slow'))).allowed, true);
  t.equal((await q.admission.create(webPod('second'))).allowed, false, 'reserved, not yet observed: still counted');
  await q.settled();
  t.equal(q.replicas[0]!.ledger.book.count('tenant-a'), 0, 'released once observed');
  t.equal((await q.admission.create(webPod('third'))).allowed, false, 'and counted as observed');
});
