// Resource names a tenant picks (SPEC 6.4 "Extended resources"): hugepages-<size> with any size is
// valid to the apiserver, so a pod can ask for thousands of made-up sizes. As the built-in quota
// (apiserver plugin/resourcequota controller.go: usage masked to the evaluator's MatchingResources
// of the hard names), tenantguard accounts and publishes only the fixed resources and what the
// Tenant's hard names: the series and the cost of a review are bounded by the hard, not the pods.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { KubeObject } from '../policies/types.js';
import { Metrics } from '../server/telemetry/metrics.js';
import { startServer } from '../server/webhook-server.js';

const NS = 'team-h';
const INVENTED = 5000;
const PODS = 20;

/** A pod asking for 2Mi of real 2Mi hugepages, and `invented` made-up sizes of 1 page each. */
function pod(name: string, invented: number): KubeObject {
  const extra: Record<string, string> = { cpu: '10m', memory: '16Mi', 'hugepages-2Mi': '2Mi' };
  for (let i = 1; i <= invented; i++) extra[`hugepages-${i}`] = String(i);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, uid: `uid-${name}` },
    spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: extra, limits: extra } }] },
  };
}

const TENANT: KubeObject = {
  apiVersion: 'tenantguard.io/v1alpha1',
  kind: 'Tenant',
  metadata: { name: 'tenant-h' },
  spec: { namespaces: [NS], quota: { hard: { 'count/pods': '100', 'requests.cpu': '100', 'requests.hugepages-2Mi': '1Gi' } } },
};

function review(uid: string, operation: 'CREATE' | 'DELETE', obj: KubeObject): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: obj.metadata!.name,
      namespace: NS,
      operation,
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object: operation === 'DELETE' ? null : obj,
      oldObject: operation === 'DELETE' ? obj : null,
    },
  });
}

t.test('20 pods with 5,000 invented hugepage sizes each: the series, and what they cost later reviews, are bounded by the hard', async (t) => {
  const dir = t.testdir({});
  const clean = { ...TENANT, metadata: { name: 'tenant-c' }, spec: { ...TENANT.spec, namespaces: ['team-c'] } };
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-c' } },
    TENANT,
    clean,
    ...Array.from({ length: PODS }, (_, i) => pod(`flood-${i}`, INVENTED)),
  ];
  await writeFile(join(dir, 'state.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', state: dir, 'log-level': 'silent' }, env: {} });
  t.teardown(() => server.stop());
  const dispatcher = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => dispatcher.close());
  const usedSeries = async () => (await server.metrics.render()).split('\n').filter((l) => l.startsWith('tenantguard_quota_used{tenant="tenant-h",'));

  const series = await usedSeries();
  t.equal(series.length, 9, `the six fixed resources, requests.storage, persistentvolumeclaims and requests.hugepages-2Mi:\n${series.slice(0, 12).join('\n')}`);
  t.ok(series.includes(`tenantguard_quota_used{tenant="tenant-h",resource="requests.hugepages-2Mi"} ${PODS * 2 * 1024 * 1024}`), 'the size the hard names is charged');
  t.notOk(series.some((l) => l.includes('hugepages-1"')), 'a made-up size is not');

  const send = async (uid: string, obj: KubeObject, namespace: string) => {
    const body = review(uid, 'CREATE', { ...obj, metadata: { ...obj.metadata, namespace } }).replace(`"namespace":"${NS}"`, `"namespace":"${namespace}"`);
    const started = performance.now();
    const res = await request(`${server.url}/validate`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
    const allowed = ((await res.body.json()) as { response: { allowed: boolean } }).response.allowed;
    return { allowed, ms: performance.now() - started };
  };
  // An ordinary review in the flooded tenant costs what it costs in a clean one (interleaved, so
  // that the machine's load falls on both alike): the invented names stored are never summed.
  const flooded: number[] = [];
  const cleanTimes: number[] = [];
  for (let i = 0; i < 30; i++) {
    const a = await send(`h-${i}`, pod(`plain-${i}`, 0), NS);
    const b = await send(`c-${i}`, pod(`plain-${i}`, 0), 'team-c');
    t.ok(a.allowed && b.allowed);
    flooded.push(a.ms);
    cleanTimes.push(b.ms);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const [mh, mc] = [median(flooded), median(cleanTimes)];
  t.comment(`median review of an ordinary pod: ${mh.toFixed(2)} ms beside ${PODS}x${INVENTED} invented sizes, ${mc.toFixed(2)} ms in a clean tenant`);
  t.ok(mh < mc * 3 + 2, `no slower beside the invented names (${mh.toFixed(2)} vs ${mc.toFixed(2)} ms)`);

  const flood = await send('h-flood', pod('flood-more', INVENTED), NS);
  t.equal(flood.allowed, true);
  t.comment(`review of one more pod with ${INVENTED} invented sizes (its own names read once): ${flood.ms.toFixed(1)} ms`);
  t.equal((await usedSeries()).length, 9, 'still bounded after more such pods');
});

t.test('a usage that falls to 0 reads 0, not its last value', async (t) => {
  const dir = t.testdir({});
  const one = pod('one', 0);
  await writeFile(join(dir, 'state.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, TENANT, one] }));
  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', state: dir, 'log-level': 'silent' }, env: {} });
  t.teardown(() => server.stop());
  const dispatcher = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => dispatcher.close());
  const hugepages = async () => (await server.metrics.render()).split('\n').find((l) => l.startsWith('tenantguard_quota_used{tenant="tenant-h",resource="requests.hugepages-2Mi"}'));
  t.equal(await hugepages(), `tenantguard_quota_used{tenant="tenant-h",resource="requests.hugepages-2Mi"} ${2 * 1024 * 1024}`);
  const res = await request(`${server.url}/validate`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: review('del-1', 'DELETE', one) });
  t.equal(((await res.body.json()) as { response: { allowed: boolean } }).response.allowed, true);
  t.equal(await hugepages(), 'tenantguard_quota_used{tenant="tenant-h",resource="requests.hugepages-2Mi"} 0', 'the pod is gone: 0');
});

t.test('a resource no longer published loses its series', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const lines = async (gauge: string) => (await metrics.render()).split('\n').filter((l) => l.startsWith(`tenantguard_quota_${gauge}{`));
  metrics.setQuotaHard('t', { 'requests.cpu': 2000, 'requests.hugepages-2Mi': 1024 });
  metrics.setQuotaUsed('t', { 'requests.cpu': 500, 'requests.hugepages-2Mi': 512 });
  t.equal((await lines('hard')).length, 2);
  metrics.setQuotaHard('t', { 'requests.cpu': 2000 });
  metrics.setQuotaUsed('t', { 'requests.cpu': 500 });
  t.same(await lines('hard'), ['tenantguard_quota_hard{tenant="t",resource="requests.cpu"} 2'], 'the hard no longer names hugepages: no series, not a frozen one');
  t.same(await lines('used'), ['tenantguard_quota_used{tenant="t",resource="requests.cpu"} 0.5']);
  metrics.forgetTenant('t');
  t.same([await lines('hard'), await lines('used')], [[], []], 'a deleted tenant\'s series go');
});
