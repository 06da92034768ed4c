// The namespace label keeper against the fake apiserver: the label the webhooks select on follows
// the Tenants' claims, is removed when a claim ends, leaves the operator's opt-in label alone, and a
// converged pass writes nothing; the view's events label at once, and each Tenant's status says when
// all of its namespaces are guarded.
import t, { type Test } from 'tap';
import { OPT_IN_LABEL, TENANT_LABEL, tenantLabelValue } from '../policies/namespace-label.js';
import { NAMESPACES_GUARDED, NamespaceLabelKeeper, type NamespaceLabelPass } from '../server/cluster/namespace-labels.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';

const T = 'tenantguard.io/v1alpha1';

async function setup(t: Test) {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a', { team: 'a' }));
  c.api.apply(namespace('team-a-dev', { team: 'a' }));
  c.api.apply(namespace('team-b'));
  c.api.apply(namespace('shared-tools', { [OPT_IN_LABEL]: 'true' }));
  // Labelled by hand (or by an earlier Tenant) but claimed by nobody now.
  c.api.apply(namespace('leftover', { [TENANT_LABEL]: 'gone' }));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { team: 'a' } } }));
  c.api.apply(tenant('tenant-b', { namespaces: ['team-b'] }));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('tenants cached', () => view.list('Tenant').length === 2);
  const keeper = new NamespaceLabelKeeper(c.client(), view);
  const labels = (ns: string) => c.api.get('v1', 'Namespace', undefined, ns)?.metadata?.labels ?? {};
  return { c, view, keeper, labels };
}

t.test('claimed namespaces get the Tenant label; unclaimed ones lose it', async (t) => {
  const { keeper, labels } = await setup(t);
  const pass = await keeper.pass();
  t.same(pass, { labelled: { 'team-a': 'tenant-a', 'team-a-dev': 'tenant-a', 'team-b': 'tenant-b' }, unlabelled: ['leftover'], failed: [], conditionsFailed: [] });
  t.equal(labels('team-a')[TENANT_LABEL], 'tenant-a', 'selected by namespaceSelector');
  t.equal(labels('team-b')[TENANT_LABEL], 'tenant-b', 'listed by name');
  t.equal(labels('team-a').team, 'a', 'other labels untouched');
  t.notOk(TENANT_LABEL in labels('leftover'), 'a label nobody claims is removed');
  t.same(labels('shared-tools'), { [OPT_IN_LABEL]: 'true' }, 'an opted-in namespace keeps its opt-in and gets no Tenant label');
});

t.test('a converged pass writes nothing', async (t) => {
  const { c, keeper, view } = await setup(t);
  await keeper.pass();
  await until('view sees the labels', () => view.get('Namespace', undefined, 'team-b')?.metadata?.labels?.[TENANT_LABEL] === 'tenant-b');
  await until('view sees the removal', () => !(TENANT_LABEL in (view.get('Namespace', undefined, 'leftover')?.metadata?.labels ?? {})));
  const before = c.api.requests.length;
  t.same(await keeper.pass(), { labelled: {}, unlabelled: [], failed: [], conditionsFailed: [] });
  t.equal(c.api.requests.length, before, 'no API call at all: no label and no condition to write');
});

t.test('a claim that moves or ends moves or removes the label', async (t) => {
  const { c, keeper, view, labels } = await setup(t);
  await keeper.pass();
  c.api.apply(tenant('tenant-b', { namespaces: ['team-b', 'team-a-dev'] }));
  c.api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { team: 'none' } } }));
  await until('view sees the new claims', () => view.tenantOf('team-a-dev').name === 'tenant-b' && view.tenantOf('team-a').name === undefined);
  const pass = await keeper.pass();
  t.same(pass.labelled, { 'team-a-dev': 'tenant-b' });
  t.same(pass.unlabelled, ['team-a']);
  t.equal(labels('team-a-dev')[TENANT_LABEL], 'tenant-b');
  t.notOk(TENANT_LABEL in labels('team-a'));

  c.api.remove(T, 'Tenant', undefined, 'tenant-b');
  await until('view sees the Tenant gone', () => view.tenantOf('team-b').name === undefined);
  t.same((await keeper.pass()).unlabelled.sort(), ['team-a-dev', 'team-b']);
});

t.test('a tenant that removes the label gets it back on the next pass', async (t) => {
  const { c, keeper, view, labels } = await setup(t);
  await keeper.pass();
  c.api.apply(namespace('team-b'));
  await until('view sees the label gone', () => !(TENANT_LABEL in (view.get('Namespace', undefined, 'team-b')?.metadata?.labels ?? {})));
  t.same((await keeper.pass()).labelled, { 'team-b': 'tenant-b' });
  t.equal(labels('team-b')[TENANT_LABEL], 'tenant-b');
});

t.test('a failed patch is reported and the pass goes on', async (t) => {
  const { c, keeper, labels } = await setup(t);
  c.api.intercept = (req) =>
    req.method === 'PATCH' && req.path === '/api/v1/namespaces/team-a'
      ? { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'namespaces "team-a" is forbidden' } }
      : undefined;
  const pass = await keeper.pass();
  t.equal(pass.failed.length, 1);
  t.equal(pass.failed[0]!.namespace, 'team-a');
  t.match(pass.failed[0]!.error, /403 Forbidden/);
  t.equal(labels('team-b')[TENANT_LABEL], 'tenant-b', 'the other namespaces are still labelled');
  t.match(guarded(c, 'tenant-a'), { status: 'False', reason: 'NamespacesNotLabelled', message: /"team-a" do not carry tenantguard.io\/tenant/ }, 'tenant-a says which namespace is not guarded');
  t.match(guarded(c, 'tenant-b'), { status: 'True', reason: 'AllNamespacesLabelled' });
});

function guarded(c: Awaited<ReturnType<typeof setup>>['c'], name: string): Record<string, unknown> | undefined {
  const conditions = c.api.get(T, 'Tenant', undefined, name)?.status?.conditions as Array<Record<string, unknown>> | undefined;
  return conditions?.find((x) => x.type === NAMESPACES_GUARDED);
}

t.test('following the view: a new Tenant labels the namespaces it claims at once, and its status says so', async (t) => {
  const { c, view, keeper, labels } = await setup(t);
  const results: NamespaceLabelPass[] = [];
  keeper.follow((r) => results.push(r));
  await until('the existing claims labelled without any pass', () => labels('team-a')[TENANT_LABEL] === 'tenant-a' && labels('team-b')[TENANT_LABEL] === 'tenant-b');
  c.api.apply(namespace('ops', { team: 'ops' }));
  c.api.apply(namespace('ops-dev', { team: 'ops' }));
  await until('view has the namespaces', () => view.get('Namespace', undefined, 'ops-dev') !== undefined);
  c.api.apply(tenant('tenant-ops', { namespaceSelector: { matchLabels: { team: 'ops' } } }));
  await until('the new Tenant\'s namespaces labelled', () => labels('ops')[TENANT_LABEL] === 'tenant-ops' && labels('ops-dev')[TENANT_LABEL] === 'tenant-ops');
  await until('its status shows them guarded', () => guarded(c, 'tenant-ops')?.status === 'True');
  t.match(guarded(c, 'tenant-ops')!.message, /all 2 namespaces carry tenantguard.io\/tenant="tenant-ops"/);
  // An edit that claims one more namespace labels it too; one that gives a namespace up unlabels it.
  c.api.apply(tenant('tenant-ops', { namespaceSelector: { matchLabels: { team: 'ops' } }, namespaces: ['shared-tools'] }));
  await until('the edited Tenant\'s new namespace labelled', () => labels('shared-tools')[TENANT_LABEL] === 'tenant-ops');
  c.api.apply(namespace('ops-dev', { team: 'elsewhere', [TENANT_LABEL]: 'tenant-ops' }));
  await until('a namespace that left the Tenant loses the label', () => !(TENANT_LABEL in labels('ops-dev')));
  t.same(results.flatMap((r) => r.failed), [], 'no failures');
});

t.test('label values: the Tenant name when it fits, empty otherwise', async (t) => {
  t.equal(tenantLabelValue('tenant-a'), 'tenant-a');
  t.equal(tenantLabelValue('team.example.com'), 'team.example.com');
  t.equal(tenantLabelValue('a'.repeat(63)), 'a'.repeat(63));
  t.equal(tenantLabelValue('a'.repeat(64)), '', 'longer than a label value may be');
});
