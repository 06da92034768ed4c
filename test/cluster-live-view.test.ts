// The live cluster view against the fake apiserver, through @kubernetes/client-node: initial sync
// and readiness, watch events, 410 Gone relists, apiserver restarts, clusters without KubeVirt,
// and listLive going to the apiserver rather than the cache.
import t from 'tap';
import { liveCluster, namespace, networkPolicy, pod, tenant, until } from './helpers/live-cluster.js';

t.test('readiness waits for every informer\'s initial list, then the cache answers lookups', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a', { tenant: 'a' }));
  c.api.apply(pod('team-a', 'web-1'));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, podSecurity: { level: 'restricted', mode: 'enforce' } }));
  let podListFails = true;
  c.api.intercept = (req) =>
    podListFails && req.path === '/api/v1/pods' && req.query.get('watch') === null
      ? { status: 500, body: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd unavailable' } }
      : undefined;

  const view = await c.view();
  await until('the other informers sync', () => view.syncState().Namespace === true && view.syncState().Tenant === true);
  t.equal(view.synced(), false, 'not ready while the Pod list keeps failing');
  t.equal(view.syncState().Pod, false);
  await until('the failure is reported', () => view.syncProblems().some((p) => p.includes('etcd unavailable')));
  t.match(view.syncProblems(), [/^Pod: initial list not complete \(last error: .*500 InternalError: etcd unavailable\)$/]);

  podListFails = false;
  await view.waitForSync(AbortSignal.timeout(5000));
  t.equal(view.synced(), true);
  t.same(view.syncProblems(), []);
  t.ok(Object.values(view.syncState()).every(Boolean), 'every watched kind synced');
  t.equal(view.get('Pod', 'team-a', 'web-1')?.metadata?.name, 'web-1');
  t.same(view.list('Pod', 'team-a').map((p) => p.metadata?.name), ['web-1']);
  const binding = view.tenantOf('team-a');
  t.equal(binding.name, 'tenant-a', 'namespace resolved to its Tenant through namespace labels');
  t.equal(binding.spec.podSecurity?.level, 'restricted');
  t.equal(view.tenantOf('elsewhere').name, undefined, 'unclaimed namespaces fall to the default tenant');
});

t.test('an apiserver unreachable at start: discovery is retried, and readiness follows', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  let down = true;
  c.api.intercept = () => (down ? { status: 503, body: { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'starting up' } } : undefined);
  const view = await c.view();
  t.equal(view.synced(), false);
  t.match(view.syncProblems(), [/^API discovery failed: GET \/apis: 503 ServiceUnavailable: starting up$/]);
  down = false;
  await view.waitForSync(AbortSignal.timeout(5000));
  t.same(view.syncProblems(), []);
});

t.test('waitForSync gives up with the reasons when its signal fires first', async (t) => {
  const c = await liveCluster({ tenants: false });
  t.teardown(() => c.close());
  const view = await c.view();
  await t.rejects(view.waitForSync(AbortSignal.timeout(300)), /cluster view not synced: the Tenant CRD \(tenants.tenantguard.io\) is not installed/);
});

t.test('the cache holds projections: what policies read, not whole objects', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  const full = pod('team-a', 'web-1', { cpu: '250m', memory: '128Mi' }, { app: 'web' });
  full.metadata!.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}' };
  full.metadata!.ownerReferences = [
    { apiVersion: 'v1', kind: 'ConfigMap', name: 'not-a-controller', uid: 'u-1' },
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u-2', controller: true },
  ];
  (full.spec as { nodeName?: string }).nodeName = 'node-1';
  c.api.apply(full);
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  const cached = view.get('Pod', 'team-a', 'web-1')!;
  t.same(cached.metadata?.labels, { app: 'web' });
  t.same(cached.metadata?.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u-2', controller: true }], 'only the controller reference is kept');
  t.equal(cached.metadata?.annotations, undefined);
  t.same(cached.spec, { containers: [{ resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '250m', memory: '128Mi' } } }] });
  t.same(cached.status, { phase: 'Running' });
  t.ok(Object.isFrozen(cached) && Object.isFrozen(cached.spec), 'projections are immutable');
});

t.test('the initial list comes in pages', async (t) => {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  for (let i = 0; i < 5; i++) c.api.apply(pod('team-a', `web-${i}`));
  const view = await c.view({ pageSize: 2 });
  await view.waitForSync(AbortSignal.timeout(5000));
  t.equal(view.list('Pod', 'team-a').length, 5);
  const pages = c.api.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null);
  t.same(pages.map((r) => [r.query.get('limit'), r.query.has('continue')]), [['2', false], ['2', true], ['2', true]]);
});

t.test('watch events reach the cache: add, update, delete', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  t.same(view.list('Pod', 'team-a'), []);

  c.api.apply(pod('team-a', 'web-1', { cpu: '100m' }));
  await until('pod added', () => view.get('Pod', 'team-a', 'web-1') !== undefined);
  c.api.apply(pod('team-a', 'web-1', { cpu: '300m' }));
  await until('pod updated', () => view.get('Pod', 'team-a', 'web-1')?.spec?.containers?.[0]?.resources?.requests?.cpu === '300m');
  c.api.apply(networkPolicy('team-a', 'default-deny', {}));
  await until('policy added', () => view.list('NetworkPolicy', 'team-a').length === 1);
  c.api.remove('v1', 'Pod', 'team-a', 'web-1');
  await until('pod deleted', () => view.get('Pod', 'team-a', 'web-1') === undefined);
  t.same(view.list('Pod', 'team-a'), [], 'list no longer has the deleted pod');
  t.equal(view.list('NetworkPolicy', 'team-a')[0]?.metadata?.name, 'default-deny');
});

t.test('410 Gone: a watch from a compacted resourceVersion relists and catches up, deletions included', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(pod('team-a', 'old'));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  const listsBefore = c.api.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null).length;

  // The watches end (as on an apiserver timeout); before the informers reconnect, the cluster
  // changes and etcd compacts the history they would have resumed from.
  c.api.endWatches();
  c.api.remove('v1', 'Pod', 'team-a', 'old');
  c.api.apply(pod('team-a', 'new'));
  c.api.compact();

  await until('relisted state', () => view.get('Pod', 'team-a', 'new') !== undefined && view.get('Pod', 'team-a', 'old') === undefined);
  const listsAfter = c.api.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null).length;
  t.ok(c.api.expiredWatches >= 1, 'the resumed watches were told 410 Gone');
  t.equal(listsAfter, listsBefore + 1, 'the Pod informer listed again');
  t.equal(view.synced(), true, 'stays ready through the relist');

  c.api.apply(pod('team-a', 'after'));
  await until('watching again after the relist', () => view.get('Pod', 'team-a', 'after') !== undefined);
  t.pass('events flow after the relist');
});

t.test('apiserver restart: watches reconnect and resume from their resourceVersion', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  const errors: string[] = [];
  const view = await c.view({ onError: (source) => errors.push(source) });
  await view.waitForSync(AbortSignal.timeout(5000));
  const listsBefore = c.api.requests.filter((r) => r.query.get('watch') === null && r.path === '/api/v1/pods').length;

  await c.api.stop();
  c.api.apply(pod('team-a', 'made-while-down'));
  await until('informers notice the outage', () => errors.includes('Pod'));
  await c.api.restart();

  await until('missed event delivered', () => view.get('Pod', 'team-a', 'made-while-down') !== undefined);
  const resumed = c.api.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === 'true').at(-1);
  t.not(resumed?.query.get('resourceVersion'), '', 'the watch resumed from a resourceVersion');
  const listsAfter = c.api.requests.filter((r) => r.query.get('watch') === null && r.path === '/api/v1/pods').length;
  t.equal(listsAfter, listsBefore, 'no relist needed: the history was still there');
  t.equal(c.api.expiredWatches, 0);
  c.api.apply(pod('team-a', 'after-restart'));
  await until('live events after restart', () => view.get('Pod', 'team-a', 'after-restart') !== undefined);
});

t.test('a cluster without KubeVirt: its kinds are skipped and everything else works', async (t) => {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(pod('team-a', 'web-1'));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  t.same(Object.keys(view.syncState()).sort(), ['Namespace', 'NetworkPolicy', 'PersistentVolumeClaim', 'Pod', 'StorageClass', 'Tenant']);
  t.equal(view.synced(), true);
  t.same(view.list('VirtualMachine', 'team-a'), []);
  t.equal(view.get('VirtualMachineInstance', 'team-a', 'vm-1'), undefined);
  t.same(await view.listLive('VirtualMachine', 'team-a', AbortSignal.timeout(1000)), []);
  t.equal(c.api.requests.filter((r) => r.path.includes('kubevirt.io')).length, 0, 'never asked for a KubeVirt resource');
  t.equal(view.get('Pod', 'team-a', 'web-1')?.metadata?.name, 'web-1');
});

t.test('KubeVirt installed: its kinds are watched at the served versions', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply({
    apiVersion: 'pool.kubevirt.io/v1alpha1',
    kind: 'VirtualMachinePool',
    metadata: { namespace: 'team-a', name: 'pool-1' },
    spec: { replicas: 2, virtualMachineTemplate: { spec: { runStrategy: 'Always' } } },
    status: { replicas: 2, conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  t.equal(view.syncState().VirtualMachinePool, true);
  const cached = view.get('VirtualMachinePool', 'team-a', 'pool-1');
  t.equal(cached?.spec?.replicas, 2);
  t.same(cached?.status, { replicas: 2 }, 'status conditions are not cached');
  t.ok(c.api.requests.some((r) => r.path === '/apis/pool.kubevirt.io/v1alpha1/virtualmachinepools'));
});

t.test('without the Tenant CRD the view is not ready, and says why', async (t) => {
  const c = await liveCluster({ tenants: false });
  t.teardown(() => c.close());
  const view = await c.view();
  await until('core informers synced', () => view.syncState().Pod === true && view.syncState().Namespace === true);
  t.equal(view.synced(), false);
  t.equal(view.syncState().Tenant, false);
  t.match(view.syncProblems(), ['the Tenant CRD (tenants.tenantguard.io) is not installed']);
});

t.test('listLive asks the apiserver, not the cache', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));

  // Break the NetworkPolicy watch so the cache cannot learn about the new policy.
  c.api.intercept = (req) =>
    req.path === '/apis/networking.k8s.io/v1/networkpolicies' && req.query.get('watch') === 'true'
      ? { status: 503, body: { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'watch disabled' } }
      : undefined;
  c.api.endWatches();
  c.api.apply(networkPolicy('team-a', 'allow-web', { matchLabels: { app: 'web' } }));
  await new Promise((r) => setTimeout(r, 100));
  t.same(view.list('NetworkPolicy', 'team-a'), [], 'the cache has not seen it');

  const live = await view.listLive('NetworkPolicy', 'team-a', AbortSignal.timeout(1000));
  t.same(live.map((p) => p.metadata?.name), ['allow-web']);
  t.same(live[0]?.spec, { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] }, 'projected like cached policies');
  t.ok(c.api.requests.some((r) => r.path === '/apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies'), 'a namespaced list call was made');

  c.api.intercept = undefined;
  await until('the watch recovers and the cache catches up', () => view.list('NetworkPolicy', 'team-a').length === 1);
});

t.test('listLive is bounded by its signal', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  const controller = new AbortController();
  controller.abort(new Error('budget spent'));
  await t.rejects(view.listLive('NetworkPolicy', 'team-a', controller.signal), /GET \/apis\/networking.k8s.io\/v1\/namespaces\/team-a\/networkpolicies/);
});
