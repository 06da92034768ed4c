import t from 'tap';
import { PolicyEngine, type EngineConfig, type ModulePolicy } from '../policies/engine.js';
import { networkPolicy } from '../policies/network-policy.js';
import type { AdmissionRequest, GroupVersionKind, KubeObject, LabelSelector, TenantSpec } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';

function config(policy: Partial<ModulePolicy> = {}): EngineConfig {
  return {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'network-policy': { failureMode: 'fail', timeoutMs: 1000, enabled: true, ...policy } },
    settings: { kubevirtServiceAccounts: [] },
  };
}

function netpol(name: string, podSelector: LabelSelector | undefined, extra: Record<string, unknown> = {}, namespace = NS): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec: { ...(podSelector ? { podSelector } : {}), ...extra },
  };
}

function setup(objects: KubeObject[], tenant: TenantSpec = { networkPolicy: { mode: 'enforce' } }) {
  const view = new SnapshotView(tenant);
  for (const o of objects) view.add(o);
  return new PolicyEngine([networkPolicy], config(), { view, ledger: new MemoryLedger(view) });
}

const POD: GroupVersionKind = { group: '', version: 'v1', kind: 'Pod' };

function review(kind: GroupVersionKind, object: KubeObject, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind,
    resource: { group: kind.group, version: kind.version, resource: `${kind.kind.toLowerCase()}s` },
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
    ...over,
  };
}

const pod = (labels?: Record<string, string>, name = 'web'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
  spec: { containers: [{ name: 'app', image: 'nginx' }] },
});

t.test('a pod no policy selects is denied with the namespace, labels, type and workload named', async (t) => {
  const d = await setup([netpol('api-only', { matchLabels: { app: 'api' } })]).review(review(POD, pod({ app: 'web', tier: 'front' })), 'validate');
  t.equal(d.allowed, false);
  t.equal(
    d.status?.message,
    '[network-policy] no NetworkPolicy in namespace "team-a" selects pods with labels {app=web, tier=front} for Ingress (Pod "web")',
  );
});

t.test('a pod a policy selects is allowed', async (t) => {
  const d = await setup([netpol('web', { matchLabels: { app: 'web' } })]).review(review(POD, pod({ app: 'web', tier: 'front' })), 'validate');
  t.equal(d.allowed, true);
  t.same(d.warnings, []);
});

t.test('podSelector operators decide coverage', async (t) => {
  const cases: Array<[string, LabelSelector, Record<string, string>, boolean]> = [
    ['In hit', { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }, { app: 'web' }, true],
    ['In miss', { matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] }, { app: 'web' }, false],
    ['NotIn on absent key', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, { app: 'web' }, true],
    ['NotIn excluded', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, { env: 'prod' }, false],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, { app: 'x' }, true],
    ['Exists miss', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, { role: 'x' }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'legacy', operator: 'DoesNotExist' }] }, { app: 'web' }, true],
    ['DoesNotExist miss', { matchExpressions: [{ key: 'legacy', operator: 'DoesNotExist' }] }, { legacy: 'y' }, false],
  ];
  for (const [name, selector, labels, allowed] of cases) {
    const d = await setup([netpol('np', selector)]).review(review(POD, pod(labels)), 'validate');
    t.equal(d.allowed, allowed, name);
  }
});

t.test('an empty podSelector selects every pod, also one without labels; an absent one decodes as empty', async (t) => {
  t.equal((await setup([netpol('all', {})]).review(review(POD, pod()), 'validate')).allowed, true);
  t.equal((await setup([netpol('all', undefined)]).review(review(POD, pod()), 'validate')).allowed, true);
});

t.test('any one of several policies may select the pod; other namespaces do not count', async (t) => {
  const policies = [netpol('api', { matchLabels: { app: 'api' } }), netpol('web', { matchLabels: { app: 'web' } })];
  t.equal((await setup(policies).review(review(POD, pod({ app: 'web' })), 'validate')).allowed, true);
  const elsewhere = setup([netpol('web', { matchLabels: { app: 'web' } }, {}, 'team-b')]);
  t.equal((await elsewhere.review(review(POD, pod({ app: 'web' })), 'validate')).allowed, false);
});

t.test('policyTypes: the required types must be covered', async (t) => {
  const egressOnly = netpol('egress', {}, { policyTypes: ['Egress'] });
  const ingressOnly = netpol('ingress', {}, { policyTypes: ['Ingress'] });
  const both = netpol('both', {}, { policyTypes: ['Ingress', 'Egress'] });
  const ingress: TenantSpec = { networkPolicy: { mode: 'enforce', require: ['Ingress'] } };
  const egress: TenantSpec = { networkPolicy: { mode: 'enforce', require: ['Egress'] } };
  const full: TenantSpec = { networkPolicy: { mode: 'enforce', require: ['Ingress', 'Egress'] } };

  const d1 = await setup([egressOnly], ingress).review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(d1.allowed, false, 'an Egress-only policy does not cover Ingress');
  t.match(d1.status?.message, /for Ingress \(Pod "web"\)$/);
  t.equal((await setup([egressOnly], egress).review(review(POD, pod({ app: 'web' })), 'validate')).allowed, true);
  t.equal((await setup([both], full).review(review(POD, pod({ app: 'web' })), 'validate')).allowed, true);
  t.equal(
    (await setup([ingressOnly, egressOnly], full).review(review(POD, pod({ app: 'web' })), 'validate')).allowed,
    true,
    'default-deny-ingress plus default-deny-egress together cover both',
  );
  const d2 = await setup([ingressOnly], full).review(review(POD, pod({ app: 'web' })), 'validate');
  t.match(d2.status?.message, /for Egress \(Pod "web"\)$/, 'only the missing type is named');
  const d3 = await setup([], full).review(review(POD, pod({ app: 'web' })), 'validate');
  t.match(d3.status?.message, /for Ingress and Egress \(Pod "web"\)$/);
});

t.test('policyTypes default as the API does: Ingress always, Egress only with egress rules', async (t) => {
  const egress: TenantSpec = { networkPolicy: { mode: 'enforce', require: ['Egress'] } };
  const ingress: TenantSpec = { networkPolicy: { mode: 'enforce' } };
  const withEgressRules = netpol('np', {}, { egress: [{ to: [{ podSelector: {} }] }] });
  const emptyEgress = netpol('np', {}, { egress: [] });
  const bare = netpol('np', {});
  t.equal((await setup([withEgressRules], egress).review(review(POD, pod()), 'validate')).allowed, true);
  t.equal((await setup([withEgressRules], ingress).review(review(POD, pod()), 'validate')).allowed, true, 'and still Ingress');
  t.equal((await setup([emptyEgress], egress).review(review(POD, pod()), 'validate')).allowed, false, 'egress: [] implies no Egress');
  t.equal((await setup([bare], egress).review(review(POD, pod()), 'validate')).allowed, false);
  t.equal((await setup([bare], ingress).review(review(POD, pod()), 'validate')).allowed, true, 'require defaults to Ingress');
});

t.test('require: [] only asks that some policy selects the pods', async (t) => {
  const any: TenantSpec = { networkPolicy: { mode: 'enforce', require: [] } };
  t.equal((await setup([netpol('e', {}, { policyTypes: ['Egress'] })], any).review(review(POD, pod()), 'validate')).allowed, true);
  const d = await setup([], any).review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(d.status?.message, '[network-policy] no NetworkPolicy in namespace "team-a" selects pods with labels {app=web} (Pod "web")');
});

t.test('modes: warn allows with a warning, audit annotates, off skips', async (t) => {
  const w = await setup([], { networkPolicy: { mode: 'warn' } }).review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(w.allowed, true);
  t.match(w.warnings, [/^\[network-policy\] no NetworkPolicy in namespace "team-a" selects pods with labels \{app=web\}/]);
  const a = await setup([], { networkPolicy: { mode: 'audit' } }).review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(a.allowed, true);
  t.same(a.warnings, []);
  t.match(a.auditAnnotations['tenantguard.io/network-policy'], /no NetworkPolicy in namespace "team-a"/);
  const o = await setup([], { networkPolicy: { mode: 'off' } }).review(review(POD, pod({ app: 'web' })), 'validate');
  t.same({ allowed: o.allowed, warnings: o.warnings, audit: o.auditAnnotations }, { allowed: true, warnings: [], audit: {} });
  const none = await setup([], {}).review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(none.allowed, true, 'a tenant without networkPolicy settings is not judged');
});

t.test('settings come from the Tenant that owns the namespace', async (t) => {
  const tenant: KubeObject = {
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: { namespaceSelector: { matchLabels: { tenant: 'a' } }, networkPolicy: { mode: 'enforce', require: ['Egress'] } },
  };
  const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { tenant: 'a' } } };
  const engine = setup([tenant, ns, netpol('ingress', {})], { networkPolicy: { mode: 'off' } });
  const d = await engine.review(review(POD, pod({ app: 'web' })), 'validate');
  t.equal(d.tenant, 'tenant-a');
  t.match(d.status?.message, /for Egress/);
  const other = await engine.review(review(POD, pod({ app: 'web' }), { namespace: 'no-tenant' }), 'validate');
  t.equal(other.allowed, true, 'the default tenant has networkPolicy off');
});

t.test('UPDATE is judged only when the pod labels change', async (t) => {
  const engine = setup([netpol('web', { matchLabels: { app: 'web' } })]);
  const unchanged = await engine.review(
    review(POD, { ...pod({ app: 'db' }), spec: { containers: [{ name: 'app', image: 'nginx:2' }] } }, { operation: 'UPDATE', oldObject: pod({ app: 'db' }) }),
    'validate',
  );
  t.equal(unchanged.allowed, true, 'an uncovered pod whose labels stay may still be updated');
  const relabel = await engine.review(review(POD, pod({ app: 'db' }), { operation: 'UPDATE', oldObject: pod({ app: 'web' }) }), 'validate');
  t.equal(relabel.allowed, false, 'relabelling out of coverage is denied');
  const intoCoverage = await engine.review(review(POD, pod({ app: 'web' }), { operation: 'UPDATE', oldObject: pod({ app: 'db' }) }), 'validate');
  t.equal(intoCoverage.allowed, true);
});

t.test('pod templates: the labels of the pods the controller will make', async (t) => {
  const deploymentKind: GroupVersionKind = { group: 'apps', version: 'v1', kind: 'Deployment' };
  const deployment = (labels: Record<string, string>): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS, labels: { app: 'web' } },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [] } } },
  });
  const engine = setup([netpol('web', { matchLabels: { app: 'web' } })]);
  t.equal((await engine.review(review(deploymentKind, deployment({ app: 'web' })), 'validate')).allowed, true);
  const d = await engine.review(review(deploymentKind, deployment({ app: 'other' })), 'validate');
  t.equal(
    d.status?.message,
    '[network-policy] no NetworkPolicy in namespace "team-a" selects pods with labels {app=other} for Ingress (Deployment "web")',
    'the template labels count, not the Deployment\'s own',
  );

  const cronKind: GroupVersionKind = { group: 'batch', version: 'v1', kind: 'CronJob' };
  const cron: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly', namespace: NS, labels: { app: 'web' } },
    spec: { schedule: '@daily', jobTemplate: { spec: { template: { metadata: { labels: { app: 'batch' } }, spec: {} } } } },
  };
  const c = await engine.review(review(cronKind, cron), 'validate');
  t.match(c.status?.message, /labels \{app=batch\} for Ingress \(CronJob "nightly"\)/);

  const unrelated = await engine.review(
    review({ group: '', version: 'v1', kind: 'ConfigMap' }, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
    'validate',
  );
  t.equal(unrelated.allowed, true, 'kinds that make no pods are not judged');
});

t.test('subresources and other operations are not judged', async (t) => {
  const engine = setup([]);
  t.equal((await engine.review(review(POD, pod({ app: 'web' }), { subResource: 'status', operation: 'UPDATE' }), 'validate')).allowed, true);
  t.equal((await engine.review(review(POD, pod({ app: 'web' }), { operation: 'CONNECT' }), 'validate')).allowed, true);
  t.equal(
    (await engine.review(review(POD, null as unknown as KubeObject, { operation: 'DELETE', oldObject: pod({ app: 'web' }) }), 'validate')).allowed,
    true,
  );
});

t.test('a tenant asking for an unknown policy type gets a specific error through the failure mode', async (t) => {
  const bad = { networkPolicy: { mode: 'enforce', require: ['Ingres'] } } as unknown as TenantSpec;
  const d = await setup([netpol('all', {})], bad).review(review(POD, pod()), 'validate');
  t.equal(d.allowed, false);
  t.equal(
    d.status?.message,
    '[network-policy] policy failed (failure mode fail): tenant networkPolicy.require has unknown policy type "Ingres" (want Ingress or Egress)',
  );
});
