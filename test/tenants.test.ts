import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TenantIndex } from '../policies/kube/tenants.js';
import type { KubeObject, TenantSpec } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const defaults: TenantSpec = { podSecurity: { level: 'baseline', mode: 'warn' }, networkPolicy: { mode: 'off' } };
const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ kind: 'Namespace', metadata: { name, labels } });
const tenant = (name: string, spec: TenantSpec): KubeObject => ({ kind: 'Tenant', metadata: { name }, spec });

t.test('namespaces resolve by selector or by list; others fall to the default tenant', async (t) => {
  const idx = new TenantIndex(
    [
      tenant('a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, podSecurity: { level: 'restricted', mode: 'enforce' } }),
      tenant('b', { namespaces: ['b1', 'b-future'] }),
    ],
    [ns('a1', { tenant: 'a' }), ns('a2', { tenant: 'a' }), ns('b1'), ns('other')],
    defaults,
  );
  t.equal(idx.tenantOf('a1').name, 'a');
  t.equal(idx.tenantOf('a2').spec.podSecurity?.level, 'restricted');
  t.equal(idx.tenantOf('b1').name, 'b');
  t.equal(idx.tenantOf('b-future').name, 'b', 'a listed namespace belongs to its tenant before it exists');
  t.same(idx.tenantOf('b1').spec.podSecurity, defaults.podSecurity, 'sections a Tenant leaves out come from the default tenant');
  t.equal(idx.tenantOf('other').name, undefined);
  t.same(idx.tenantOf('other').spec, defaults);
  t.same([...idx.namespacesOf('a')].sort(), ['a1', 'a2']);
});

t.test('a namespace claimed by two tenants is reported and gets the stricter settings', async (t) => {
  const idx = new TenantIndex(
    [
      tenant('loose', {
        namespaces: ['shared'],
        podSecurity: { level: 'baseline', mode: 'enforce' },
        networkPolicy: { mode: 'warn', require: ['Ingress'] },
        vmSecurity: { mode: 'audit', allowHostDevices: ['gpu-a', 'gpu-b'], allowHookSidecars: true },
      }),
      tenant('strict', {
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shared'] }] },
        podSecurity: { level: 'restricted', mode: 'warn' },
        networkPolicy: { mode: 'enforce', require: ['Egress'] },
        vmSecurity: { mode: 'enforce', allowHostDevices: ['gpu-b'], allowHookSidecars: false },
      }),
    ],
    [ns('shared', { 'kubernetes.io/metadata.name': 'shared' })],
    defaults,
  );
  t.same(idx.conflicts, [{ namespace: 'shared', tenants: ['loose', 'strict'] }]);
  const b = idx.tenantOf('shared');
  t.same(b.conflicts, ['strict']);
  t.same(b.spec.podSecurity, { level: 'restricted', mode: 'enforce' });
  t.same(b.spec.networkPolicy, { mode: 'enforce', require: ['Ingress', 'Egress'] });
  t.same(b.spec.vmSecurity?.allowHostDevices, ['gpu-b']);
  t.equal(b.spec.vmSecurity?.allowHookSidecars, false);
  t.equal(b.spec.vmSecurity?.mode, 'enforce');
});

t.test('two claimants of a namespace each keep their own quota limits; how objects are charged is the stricter reading', async (t) => {
  const idx = new TenantIndex(
    [
      tenant('a', { namespaces: ['shared'], quota: { hard: { cpu: '10', 'requests.memory': '8Gi', 'count/pods': '50' }, vmCharging: 'guest', defaultRequests: { cpu: '100m', memory: '1Gi' } } }),
      tenant('b', { namespaces: ['shared'], quota: { hard: { 'requests.cpu': '2500m', 'requests.memory': '16Gi', 'limits.cpu': '4' }, vmCharging: 'guest', defaultRequests: { cpu: '250m' } } }),
      tenant('c', { namespaces: ['other'], quota: { hard: { 'count/pods': '5' }, vmCharging: 'guest' } }),
      tenant('d', { namespaces: ['other'], podSecurity: { level: 'baseline', mode: 'enforce' } }),
    ],
    [ns('shared'), ns('other')],
    defaults,
  );
  t.same(
    idx.tenantOf('shared').quotas?.map((q) => [q.tenant, q.quota?.hard]),
    [
      ['a', { cpu: '10', 'requests.memory': '8Gi', 'count/pods': '50' }],
      ['b', { 'requests.cpu': '2500m', 'requests.memory': '16Gi', 'limits.cpu': '4' }],
    ],
    'each Tenant is judged against its own hard, not the smaller of the two',
  );
  t.same(idx.tenantOf('shared').spec.quota, { vmCharging: 'guest', defaultRequests: { cpu: '250m', memory: '1Gi' } }, 'guest when both say so; the larger default request');
  t.same(idx.tenantOf('other').quotas?.map((q) => [q.tenant, q.quota?.hard]), [['c', { 'count/pods': '5' }], ['d', undefined]], 'a Tenant without a quota does not lift the other\'s');
  t.equal(idx.tenantOf('other').spec.quota?.vmCharging, 'pod', 'the launcher overhead counts unless both say guest');
  t.same([idx.namespacesOf('a'), idx.namespacesOf('b')], [['shared'], ['shared']], 'the shared namespace counts for both');
});

t.test('snapshot view loads YAML and JSON, multi-document and List, and applies admitted reviews', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-snap-'));
  await writeFile(
    join(dir, 'ns.yaml'),
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: a1, labels: {tenant: a}}\n---\napiVersion: tenantguard.io/v1alpha1\nkind: Tenant\nmetadata: {name: a}\nspec: {namespaceSelector: {matchLabels: {tenant: a}}}\n',
  );
  await writeFile(
    join(dir, 'pods.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'a1' } }] }),
  );
  await writeFile(join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n');
  const view = await SnapshotView.load(dir, defaults);
  t.equal(view.tenantOf('a1').name, 'a');
  t.equal(view.get('Pod', 'a1', 'p1')?.metadata?.name, 'p1');
  t.equal(view.list('Pod', 'a1').length, 1);
  t.match(view.ignored, ['svc.yaml: Service s'], 'objects of kinds the view does not keep are reported');

  const base = { uid: 'u-2', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'a1', userInfo: {} };
  view.apply({ ...base, operation: 'CREATE', name: 'p2' }, { kind: 'Pod', metadata: { name: 'p2' } });
  t.equal(view.list('Pod', 'a1').length, 2, 'an admitted create is visible to the next review');
  view.apply({ ...base, operation: 'CREATE', dryRun: true, name: 'p3' }, { kind: 'Pod', metadata: { name: 'p3' } });
  t.equal(view.get('Pod', 'a1', 'p3'), undefined, 'dryRun writes nothing');
  view.apply({ ...base, operation: 'DELETE', name: 'p1' }, undefined);
  t.same(view.list('Pod', 'a1').map((p) => p.metadata?.name), ['p2']);
});

t.test('snapshot errors name the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-snap-bad-'));
  await writeFile(join(dir, 'broken.yaml'), 'kind: Pod\nmetadata: {name: [unclosed\n');
  await t.rejects(SnapshotView.load(dir, defaults), { message: /broken\.yaml/ });
  await t.rejects(SnapshotView.load(join(dir, 'missing'), defaults), { name: 'SnapshotError', message: /cannot read state directory/ });
});
