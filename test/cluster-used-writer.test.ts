// status.used follows the cluster within the writer's debounce, not a reconcile period (issue 20
// item 9), and shows which namespaces use the quota, bounded (issue 22); written as a merge patch of
// the usage fields only, so reservations the ledger keeps are never rewritten. Against the fake
// apiserver through a LiveView, as `serve` runs it.
import t, { type Test } from 'tap';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { UsedStatusWriter } from '../server/cluster/used-writer.js';
import { TOP_NAMESPACES, usedStatus } from '../server/cluster/used-status.js';
import { crdValidator } from './helpers/crd-schema.js';
import { liveCluster, namespace, pod, tenant, until } from './helpers/live-cluster.js';
import { readOne } from './helpers/manifests.js';

const T = 'tenantguard.io/v1alpha1';
const DEBOUNCE_MS = 200;
const tenantErrors = crdValidator(readOne('base/crd-tenant.yaml').spec.versions[0].schema.openAPIV3Schema);

async function setup(t: Test, hard: Record<string, string> = { 'count/pods': '10', 'requests.cpu': '4' }) {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a', { tenant: 'a' }));
  c.api.apply(namespace('team-b', { tenant: 'b' }));
  c.api.apply(pod('team-a', 'web-1', { cpu: '500m', memory: '256Mi' }));
  c.api.apply(pod('team-a', 'web-2', { cpu: '500m', memory: '256Mi' }));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, quota: { hard } }));
  c.api.apply(tenant('tenant-b', { namespaceSelector: { matchLabels: { tenant: 'b' } }, quota: { hard } }));
  const view = await c.view();
  const ledger = new TenantStatusLedger(c.client(), view, { backoffMs: 1 });
  const errors: string[] = [];
  const writer = new UsedStatusWriter(c.client(), view.store, ledger.observed, {
    debounceMs: DEBOUNCE_MS,
    synced: () => view.synced(),
    onError: (tenant, err) => errors.push(`${tenant}: ${err.message}`),
  });
  writer.start();
  t.teardown(() => writer.stop());
  await view.waitForSync(AbortSignal.timeout(5000));
  const status = (name = 'tenant-a') => c.api.get(T, 'Tenant', undefined, name)?.status as Record<string, any> | undefined;
  const patches = () => c.api.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status')).length;
  return { c, view, ledger, writer, status, patches, errors };
}

t.test('a deleted pod leaves status.used within the debounce, without waiting for a reconcile', async (t) => {
  const { c, status, errors } = await setup(t);
  await until('the first usage written', () => status()?.used?.['count/pods'] === '2', 3000);
  t.equal(status()?.used?.['requests.cpu'], '1');
  const deletedAt = Date.now();
  c.api.remove('v1', 'Pod', 'team-a', 'web-1');
  await until('the deletion shown', () => status()?.used?.['count/pods'] === '1', 5000);
  const lag = Date.now() - deletedAt;
  // Within seconds, not a reconcile period; the margin over the debounce is for a loaded CI machine.
  t.ok(lag < 3000, `shown ${lag} ms after the delete (debounce ${DEBOUNCE_MS} ms; the reconcile period is 30 s)`);
  t.equal(status()?.used?.['requests.cpu'], '500m');
  c.api.apply(pod('team-a', 'web-3', { cpu: '2', memory: '1Gi' }));
  await until('a new pod shown', () => status()?.used?.['count/pods'] === '2', 3000);
  t.equal(status()?.used?.['requests.cpu'], '2500m');
  t.same(errors, []);
});

t.test('the write touches only the usage fields: the reservations the ledger wrote stay', async (t) => {
  const { c, status } = await setup(t);
  const reservation = {
    uid: 'review-1',
    kind: 'Pod',
    namespace: 'team-a',
    name: 'web-9',
    amounts: { 'count/pods': '1' },
    created: '2026-01-01T00:00:00Z',
    expires: '2099-01-01T00:00:00Z',
  };
  const current = c.api.get(T, 'Tenant', undefined, 'tenant-a')!;
  c.api.apply({ ...current, status: { ...current.status, reservations: [reservation], reserved: { 'count/pods': '1' } } });
  c.api.remove('v1', 'Pod', 'team-a', 'web-2');
  await until('the deletion shown', () => status()?.used?.['count/pods'] === '1', 3000);
  t.same(status()?.reservations, [reservation], 'the reservation the ledger keeps is untouched');
  t.same(status()?.reserved, { 'count/pods': '1' });
});

t.test('a status already right is not written again, and another tenant\'s pod wakes no write here', async (t) => {
  const { c, status, patches } = await setup(t);
  await until('the first usage written', () => status()?.used?.['count/pods'] === '2' && status('tenant-b')?.used !== undefined, 3000);
  await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 3));
  const before = patches();
  const rv = c.api.get(T, 'Tenant', undefined, 'tenant-a')?.metadata?.resourceVersion;
  c.api.apply(pod('team-b', 'other', { cpu: '100m', memory: '64Mi' }));
  await until('tenant-b shows its pod', () => status('tenant-b')?.used?.['count/pods'] === '1', 3000);
  await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 3));
  t.equal(patches() - before, 1, 'one write: tenant-b\'s');
  t.equal(c.api.get(T, 'Tenant', undefined, 'tenant-a')?.metadata?.resourceVersion, rv, 'tenant-a not rewritten');
});

t.test('a namespace moved to another Tenant moves its usage on both statuses', async (t) => {
  const { c, status } = await setup(t);
  await until('the first usage written', () => status()?.used?.['count/pods'] === '2', 3000);
  c.api.apply(namespace('team-a', { tenant: 'b' }));
  await until('tenant-b now pays for team-a', () => status('tenant-b')?.used?.['count/pods'] === '2' && status()?.used?.['count/pods'] === '0', 3000);
  t.same(status('tenant-b')?.usedByNamespace, [{ namespace: 'team-a', used: { 'count/pods': '2', 'requests.cpu': '1' } }]);
  t.same(status()?.usedByNamespace, [], 'nothing left for tenant-a');
});

t.test('usedByNamespace answers which namespace uses the quota: by share of hard, largest first, the rest summed', async (t) => {
  const { c, status } = await setup(t, { 'count/pods': '100', 'requests.cpu': '100' });
  // team-a: 2 pods, 1 CPU. Twelve more namespaces: ns-k holds k+1 pods of 100m.
  for (let k = 0; k < 12; k++) {
    c.api.apply(namespace(`ns-${k}`, { tenant: 'a' }));
    for (let i = 0; i <= k; i++) c.api.apply(pod(`ns-${k}`, `p-${i}`, { cpu: '100m', memory: '64Mi' }));
  }
  await until('every pod counted', () => status()?.used?.['count/pods'] === String(2 + 78), 5000);
  const listed = status()?.usedByNamespace as Array<{ namespace: string; used: Record<string, string> }>;
  t.equal(listed.length, TOP_NAMESPACES);
  t.same(
    listed.map((n) => n.namespace),
    ['ns-11', 'ns-10', 'ns-9', 'ns-8', 'ns-7', 'ns-6', 'ns-5', 'ns-4', 'ns-3', 'ns-2'],
    'largest share first: ns-11 has 12 of 100 pods',
  );
  t.same(listed[0]!.used, { 'count/pods': '12', 'requests.cpu': '1200m' }, 'only what `hard` limits');
  // Left over: team-a (2 pods, 1 CPU), ns-1 (2 pods), ns-0 (1 pod).
  t.same(status()?.usedByOtherNamespaces, { namespaces: 3, used: { 'count/pods': '5', 'requests.cpu': '1300m' } });
  const written = c.api.get(T, 'Tenant', undefined, 'tenant-a')!;
  t.same(tenantErrors(written), [], 'what is written is what the CRD accepts');
  const eleven = { ...written, status: { ...written.status, usedByNamespace: [...listed, { namespace: 'team-a', used: {} }] } };
  t.ok(tenantErrors(eleven).some((e) => e.startsWith('/status/usedByNamespace')), 'and the CRD bounds the list');
});

t.test('usedStatus: a resource limited to 0 that is used ranks first; namespaces using nothing limited are left out', async (t) => {
  const byNamespace = new Map<string, Record<string, number>>([
    ['big', { 'count/pods': 50, 'requests.cpu': 1000 }],
    ['gpu', { 'count/pods': 1, 'requests.nvidia.com/gpu': 1 }],
    ['idle', { 'count/pods': 0, 'limits.memory': 1024 }],
  ]);
  const status = usedStatus({ 'count/pods': 51, 'requests.cpu': 1000 }, byNamespace, { 'count/pods': 100, 'requests.nvidia.com/gpu': 0 });
  t.same(status.usedByNamespace.map((n) => n.namespace), ['gpu', 'big']);
  t.same(status.usedByNamespace[0]!.used, { 'count/pods': '1', 'requests.nvidia.com/gpu': '1' });
  t.equal(status.usedByOtherNamespaces, undefined);
});

t.test('nothing is written before the view has synced: a half-listed view would show too little', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a', { tenant: 'a' }));
  for (let i = 0; i < 5; i++) c.api.apply(pod('team-a', `p-${i}`));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, quota: { hard: { 'count/pods': '10' } } }, { used: { 'count/pods': '5' } }));
  const view = await c.view();
  let synced = false;
  const ledger = new TenantStatusLedger(c.client(), view, { backoffMs: 1 });
  const writer = new UsedStatusWriter(c.client(), view.store, ledger.observed, { debounceMs: 20, synced: () => synced });
  writer.start();
  t.teardown(() => writer.stop());
  await view.waitForSync(AbortSignal.timeout(5000));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(c.api.get(T, 'Tenant', undefined, 'tenant-a')?.status?.used?.['count/pods'], '5', 'untouched while not synced');
  t.notOk(c.api.requests.some((r) => r.method === 'PATCH'), 'no write at all');
  synced = true;
  c.api.remove('v1', 'Pod', 'team-a', 'p-0');
  await until('written once synced', () => c.api.get(T, 'Tenant', undefined, 'tenant-a')?.status?.used?.['count/pods'] === '4', 3000);
  t.pass('written once synced');
});
