// How replay turns files into AdmissionRequests: parsing every list shape, the resource and scope
// of each kind (KubeVirt included), namespaces, deterministic uids.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { deterministicUid, InputError, parseDocuments, wrapManifest } from '../server/replay/inputs.js';

const user = { username: 'replay-user', groups: ['devs'] };
const obj = (apiVersion: string, kind: string, metadata: KubeObject['metadata'] = { name: 'x' }): KubeObject => ({ apiVersion, kind, metadata });

t.test('kind -> group, version and plural resource, as the apiserver names them', async (t) => {
  const cases: Array<[string, string, string, string, string]> = [
    ['v1', 'Pod', '', 'v1', 'pods'],
    ['apps/v1', 'Deployment', 'apps', 'v1', 'deployments'],
    ['batch/v1', 'CronJob', 'batch', 'v1', 'cronjobs'],
    ['networking.k8s.io/v1', 'NetworkPolicy', 'networking.k8s.io', 'v1', 'networkpolicies'],
    ['networking.k8s.io/v1', 'Ingress', 'networking.k8s.io', 'v1', 'ingresses'],
    ['v1', 'Endpoints', '', 'v1', 'endpoints'],
    ['kubevirt.io/v1', 'VirtualMachine', 'kubevirt.io', 'v1', 'virtualmachines'],
    ['kubevirt.io/v1', 'VirtualMachineInstance', 'kubevirt.io', 'v1', 'virtualmachineinstances'],
    ['kubevirt.io/v1', 'VirtualMachineInstanceReplicaSet', 'kubevirt.io', 'v1', 'virtualmachineinstancereplicasets'],
    ['kubevirt.io/v1', 'VirtualMachineInstanceMigration', 'kubevirt.io', 'v1', 'virtualmachineinstancemigrations'],
    ['pool.kubevirt.io/v1beta1', 'VirtualMachinePool', 'pool.kubevirt.io', 'v1beta1', 'virtualmachinepools'],
    ['instancetype.kubevirt.io/v1beta1', 'VirtualMachineClusterInstancetype', 'instancetype.kubevirt.io', 'v1beta1', 'virtualmachineclusterinstancetypes'],
    ['example.com/v1', 'Widget', 'example.com', 'v1', 'widgets'],
  ];
  for (const [apiVersion, kind, group, version, resource] of cases) {
    const r = wrapManifest(obj(apiVersion, kind), 'uid-1', user);
    t.same(r.kind, { group, version, kind }, kind);
    t.same(r.resource, { group, version, resource }, kind);
  }
});

t.test('a namespaced object defaults to "default" in the request and the object; cluster-scoped ones have none', async (t) => {
  const pod = obj('v1', 'Pod', { name: 'web' });
  const r = wrapManifest(pod, 'uid-1', user);
  t.match(r, { namespace: 'default', name: 'web', operation: 'CREATE', userInfo: { username: 'replay-user', groups: ['devs'] }, dryRun: false });
  t.equal(r.object?.metadata?.namespace, 'default', 'the apiserver fills the namespace before admission');
  t.equal(pod.metadata?.namespace, undefined, 'the input object is not modified');
  t.equal(r.oldObject, null);
  for (const kind of ['Namespace', 'Tenant', 'VirtualMachineClusterInstancetype']) {
    const c = wrapManifest(obj('v1', kind), 'uid-1', user);
    t.equal(c.namespace, undefined, kind);
    t.equal(c.object?.metadata?.namespace, undefined, kind);
  }
});

t.test('an old object makes an UPDATE', async (t) => {
  const r = wrapManifest(obj('v1', 'Pod', { name: 'web', namespace: 'a' }), 'uid-1', user, obj('v1', 'Pod', { name: 'web', namespace: 'a', labels: { v: '1' } }));
  t.equal(r.operation, 'UPDATE');
  t.same(r.oldObject?.metadata?.labels, { v: '1' });
  t.same(r.options, { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' });
});

t.test('uids: UUID-shaped, stable, distinct per source', async (t) => {
  t.equal(deterministicUid('a.yaml#0'), deterministicUid('a.yaml#0'));
  t.not(deterministicUid('a.yaml#0'), deterministicUid('a.yaml#1'));
  t.match(deterministicUid('a.yaml#0'), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

t.test('parsing: multi-document YAML, JSON arrays and Lists are flattened in order', async (t) => {
  const pod = (n: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: n } });
  const yaml = 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n- {apiVersion: v1, kind: Pod, metadata: {name: c}}\n';
  t.same(parseDocuments(yaml, 'f.yaml').map((o) => o.metadata?.name), ['a', 'b', 'c']);
  t.same(parseDocuments(JSON.stringify([pod('x'), pod('y')]), 'f.json').map((o) => o.metadata?.name), ['x', 'y']);
  t.same(parseDocuments('# only a comment\n', 'f.yaml'), []);
  t.throws(() => parseDocuments('- 1\n- 2\n', 'f.yaml'), new InputError('f.yaml: document 0[0] is not a Kubernetes object (it needs string apiVersion and kind)'));
  t.throws(() => parseDocuments('kind: Pod\n', 'f.yaml'), /f\.yaml: document 0 is not a Kubernetes object/);
  t.throws(() => parseDocuments('a: [\n', 'f.yaml'), /f\.yaml: invalid YAML\/JSON/);
});
