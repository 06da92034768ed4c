// The reconcile against the fake apiserver: status.used = what the objects that exist cost, written
// on every pass however busy the tenant is (decisions never read it), reservations pruned, and the
// NamespaceConflict condition on Tenants.
import t, { type Test } from 'tap';
import type { KubeObject } from '../policies/types.js';
import { TenantReconciler, type ReconcilerOptions } from '../server/cluster/reconcile.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { liveCluster, namespace, pod, tenant, until } from './helpers/live-cluster.js';

const T = 'tenantguard.io/v1alpha1';

function vm(ns: string, name: string, runStrategy: string): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { namespace: ns, name },
    spec: { runStrategy, template: { spec: { domain: { cpu: { cores: 2 }, memory: { guest: '1Gi' }, devices: {} } } } },
  };
}

async function setup(t: Test, opts: Partial<ReconcilerOptions> = {}) {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a', { tenant: 'a' }));
  c.api.apply(pod('team-a', 'web-1', { cpu: '250m', memory: '256Mi' }));
  c.api.apply(pod('team-a', 'web-2', { cpu: '250m', memory: '256Mi' }));
  c.api.apply({ ...pod('team-a', 'done', { cpu: '4', memory: '4Gi' }), status: { phase: 'Succeeded' } });
  c.api.apply(vm('team-a', 'vm-running', 'Always'));
  c.api.apply(vm('team-a', 'vm-halted', 'Halted'));
  const view = await c.view();
  let now = 1_700_000_000_000;
  const clock = { advance: (ms: number) => (now += ms) };
  const repaired: string[] = [];
  const ledger = new TenantStatusLedger(c.client(), view, { now: () => now, backoffMs: 1 });
  const reconciler = new TenantReconciler(c.client(), view, ledger, {
    onRepaired: (name) => repaired.push(name),
    ...opts,
  });
  const status = (name = 'tenant-a') => c.api.get(T, 'Tenant', undefined, name)?.status as Record<string, any> | undefined;
  /** Synced, with every Tenant the apiserver has in the cache. */
  const sync = async () => {
    await view.waitForSync(AbortSignal.timeout(5000));
    await until('tenants cached', () => view.list('Tenant').length === c.api.count(T, 'Tenant'));
  };
  return { c, view, ledger, reconciler, clock, repaired, status, sync };
}

// 3 pods (one finished) + 2 VMs (one running, guest charging): what the objects add up to; no
// storage, which status.used shows as 0.
const ACTUAL = {
  'count/pods': '4',
  'count/virtualmachines.kubevirt.io': '2',
  'limits.cpu': '2500m',
  'limits.memory': '1536Mi',
  persistentvolumeclaims: '0',
  'requests.cpu': '2500m',
  'requests.memory': '1536Mi',
  'requests.storage': '0',
};

t.test('a Tenant without status.used gets it computed from the objects at once', async (t) => {
  const { c, reconciler, status, sync } = await setup(t);
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, quota: { hard: { 'count/pods': '10' }, vmCharging: 'guest' } }));
  await sync();
  const results = await reconciler.runOnce();
  t.same(results, [{ tenant: 'tenant-a', outcome: 'repaired' }]);
  t.same(status()?.used, ACTUAL, 'finished pods cost no compute but still count; the halted VM counts as an object only');
});

t.test('a drifted status.used is repaired on the first pass', async (t) => {
  const { c, view, reconciler, clock, repaired, status, sync } = await setup(t);
  // Says 9 pods: written by an older version, or by hand.
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'count/pods': '10' }, vmCharging: 'guest' } }, { used: { 'count/pods': '9' } }));
  await sync();
  t.same(await reconciler.runOnce(), [{ tenant: 'tenant-a', outcome: 'repaired' }]);
  t.same(status()?.used, ACTUAL);
  t.same(repaired, ['tenant-a']);
  await until('view sees the repair', () => view.get('Tenant', undefined, 'tenant-a')?.status?.used?.['count/pods'] === '4');
  clock.advance(60_000);
  t.same(await reconciler.runOnce(), [{ tenant: 'tenant-a', outcome: 'unchanged' }], 'nothing to do on the next pass');
});

t.test('a tenant kept busy with reservations is repaired within one period', async (t) => {
  const { c, ledger, reconciler, status, sync } = await setup(t);
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'count/pods': '100' }, vmCharging: 'guest' } }, { used: { 'count/pods': '9' } }));
  await sync();
  // Another replica writes a reservation between the reconcile's read and its write, every time.
  let n = 0;
  c.api.intercept = (req) => {
    if (req.method === 'GET' && req.path === '/apis/tenantguard.io/v1alpha1/tenants/tenant-a' && n < 3) {
      const cur = c.api.get(T, 'Tenant', undefined, 'tenant-a')!;
      n++;
      c.api.apply({ ...cur, status: { ...cur.status, reserved: { 'count/pods': String(n) } } });
    }
    return undefined;
  };
  t.same(await reconciler.runOnce(), [{ tenant: 'tenant-a', outcome: 'repaired' }], 'a write lost to the race is retried, not postponed');
  t.same(status()?.used, ACTUAL);
  t.equal(ledger.used('tenant-a')['count/pods'], 4, 'decisions use observed usage, never status.used');
});

t.test('expired reservations and observed ones leave the status (raising the watermark); status.reserved follows', async (t) => {
  const { c, ledger, reconciler, clock, status, sync } = await setup(t);
  // 4 pods exist: with 6 the tenant is near its limit, so each reservation is a per-uid entry.
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'count/pods': '6' }, vmCharging: 'guest' } }));
  await sync();
  const hard = { 'count/pods': 6 };
  const signal = AbortSignal.timeout(5000);
  await ledger.reserve({ tenant: 'tenant-a', uid: 'r-stored', object: { kind: 'Pod', namespace: 'team-a', name: 'web-3' }, increase: { 'count/pods': 1 }, hard }, { dryRun: false, signal });
  await ledger.reserve({ tenant: 'tenant-a', uid: 'r-lost', object: { kind: 'Pod', namespace: 'team-a', name: 'never' }, increase: { 'count/pods': 1 }, hard }, { dryRun: false, signal });
  t.same(status()?.reserved, { 'count/pods': '2' });
  t.same(status()?.reservations.map((r: { uid: string }) => r.uid), ['r-stored', 'r-lost']);
  c.api.apply(pod('team-a', 'web-3', { cpu: '250m', memory: '256Mi' }));
  const stored = Number(c.api.get('v1', 'Pod', 'team-a', 'web-3')!.metadata!.resourceVersion);
  await until('observed', () => ledger.book.count('tenant-a') === 1);
  await reconciler.runOnce();
  t.match(status()?.reservations.map((r: { uid: string }) => r.uid), ['r-lost'], 'the observed one leaves at the next write');
  t.ok(Number(status()?.watermarks.Pod) >= stored, 'and the writer raised the Pod watermark past it, for replicas that have not seen it yet');
  t.same(status()?.reserved, { 'count/pods': '1' });
  clock.advance(120_000);
  await reconciler.runOnce();
  t.same(status()?.reservations, [], 'the one never stored expired');
  t.same(status()?.reserved, {});
  t.equal(status()?.used['count/pods'], '5');
});

t.test('an unreadable status.used is repaired at once (reservations cannot proceed on it)', async (t) => {
  const { c, reconciler, status, sync } = await setup(t);
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { vmCharging: 'guest' } }, { used: { 'count/pods': 'many' } }));
  await sync();
  t.same(await reconciler.runOnce(), [{ tenant: 'tenant-a', outcome: 'repaired' }]);
  t.equal(status()?.used['count/pods'], '4');
});

t.test('NamespaceConflict: reported on both Tenants, cleared when resolved, and not rewritten while unchanged', async (t) => {
  const { c, view, reconciler, clock, status, sync } = await setup(t);
  c.api.apply(namespace('shared', { tenant: 'a' }));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } } }));
  c.api.apply(tenant('tenant-b', { namespaces: ['shared'] }));
  await sync();
  await reconciler.runOnce();
  const a = status('tenant-a')?.conditions;
  const b = status('tenant-b')?.conditions;
  t.match(a, [{ type: 'NamespaceConflict', status: 'True', reason: 'NamespaceSelectedByMultipleTenants', message: /^namespace "shared" is also selected by Tenant "tenant-b"/ }]);
  t.match(b, [{ type: 'NamespaceConflict', status: 'True', message: /^namespace "shared" is also selected by Tenant "tenant-a"/ }]);
  t.equal(a[0].lastTransitionTime, '2023-11-14T22:13:20Z');

  await until('view sees the conditions', () => Array.isArray(view.get('Tenant', undefined, 'tenant-b')?.status?.conditions));
  const writes = () => c.api.requests.filter((r) => r.method === 'PUT').length;
  const before = writes();
  clock.advance(60_000);
  await reconciler.runOnce();
  t.equal(writes(), before, 'an unchanged conflict is not written again');

  const cur = c.api.get(T, 'Tenant', undefined, 'tenant-b')!;
  c.api.apply({ ...cur, spec: { namespaces: ['other'] } });
  await until('view sees the fix', () => view.get('Tenant', undefined, 'tenant-b')?.spec?.namespaces?.[0] === 'other');
  clock.advance(1000);
  await reconciler.runOnce();
  t.match(status('tenant-b')?.conditions, [{ type: 'NamespaceConflict', status: 'False', reason: 'NoConflict', lastTransitionTime: '2023-11-14T22:14:21Z' }]);
  t.match(status('tenant-a')?.conditions, [{ type: 'NamespaceConflict', status: 'False' }]);
});

t.test('a half-synced view is never reconciled (it would undercount)', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'] }, { used: { 'count/pods': '3' } }));
  c.api.intercept = (req) => (req.path === '/api/v1/pods' ? { status: 500, body: { kind: 'Status', code: 500, message: 'down' } } : undefined);
  const view = await c.view();
  await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
  const reconciler = new TenantReconciler(c.client(), view, new TenantStatusLedger(c.client(), view));
  t.same(await reconciler.runOnce(), [{ tenant: 'tenant-a', outcome: 'skipped', error: 'cluster view not synced' }]);
  t.same(c.api.get(T, 'Tenant', undefined, 'tenant-a')?.status?.used, { 'count/pods': '3' });
});

t.test('one Tenant failing does not stop the others', async (t) => {
  const { c, view, status, sync } = await setup(t);
  const errors: string[] = [];
  const reconciler = new TenantReconciler(c.client(), view, new TenantStatusLedger(c.client(), view), {
    onError: (name, err) => errors.push(`${name}: ${err.message}`),
  });
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { vmCharging: 'guest' } }));
  c.api.apply(tenant('tenant-b', { namespaces: ['team-b'] }));
  await sync();
  c.api.intercept = (req) =>
    req.path.includes('/tenants/tenant-a') ? { status: 500, body: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd down' } } : undefined;
  const results = await reconciler.runOnce();
  t.match(results, [
    { tenant: 'tenant-a', outcome: 'failed', error: /500 InternalError: etcd down/ },
    { tenant: 'tenant-b', outcome: 'repaired' },
  ]);
  t.equal(errors.length, 1);
  t.same(status('tenant-b')?.used['count/pods'], '0');
});

t.test('started, it reconciles on its own every interval', async (t) => {
  const { c, status, sync, view } = await setup(t);
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { vmCharging: 'guest' } }));
  await sync();
  const reconciler = new TenantReconciler(c.client(), view, new TenantStatusLedger(c.client(), view), { intervalMs: 20 });
  reconciler.start();
  t.teardown(() => reconciler.stop());
  await until('repaired by the timer', () => status()?.used?.['count/pods'] === '4');
  t.pass('status.used written without runOnce');
});
