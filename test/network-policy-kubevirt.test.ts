// KubeVirt workloads are judged by the labels virt-controller will put on their virt-launcher pod.
import { createHash } from 'node:crypto';
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { launcherPodLabels, virtualMachineInstanceId, vmiTemplateOf } from '../policies/kube/kubevirt-templates.js';
import { networkPolicy } from '../policies/network-policy.js';
import { podLabelsOf } from '../policies/kube/pod-labels.js';
import type { AdmissionRequest, GroupVersionKind, KubeObject, LabelSelector } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';
const VM: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' };
const VMI: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstance' };
const VMIRS: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceReplicaSet' };
const POOL: GroupVersionKind = { group: 'pool.kubevirt.io', version: 'v1beta1', kind: 'VirtualMachinePool' };

const KUBEVIRT_CONTROLLER = 'system:serviceaccount:kubevirt:kubevirt-controller';

function setup(selectors: LabelSelector[], objects: KubeObject[] = []) {
  const view = new SnapshotView({ networkPolicy: { mode: 'enforce' } });
  for (const o of objects) view.add(o);
  selectors.forEach((podSelector, i) =>
    view.add({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${i}`, namespace: NS }, spec: { podSelector } }),
  );
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'network-policy': { failureMode: 'fail', timeoutMs: 1000, enabled: true } },
    settings: { kubevirtServiceAccounts: [KUBEVIRT_CONTROLLER] },
  };
  return new PolicyEngine([networkPolicy], config, { view, ledger: new MemoryLedger(view) });
}

function review(kind: GroupVersionKind, object: KubeObject): AdmissionRequest {
  return {
    uid: 'uid-vm',
    kind,
    resource: { group: kind.group, version: kind.version, resource: 'x' },
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
  };
}

const vmiSpec = (extra: Record<string, unknown> = {}) => ({ domain: { devices: {} }, ...extra });

const vm = (templateLabels: Record<string, string>, name = 'db-vm', spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: NS, labels: { owner: 'vm-object-label' } },
  spec: { runStrategy: 'Always', template: { metadata: { labels: templateLabels }, spec: vmiSpec(spec) } },
});

t.test('a VM is judged by its template labels plus the labels KubeVirt adds to the launcher pod', async (t) => {
  const engine = setup([{ matchLabels: { app: 'db' } }]);
  t.equal((await engine.review(review(VM, vm({ app: 'db' })), 'validate')).allowed, true);
  const d = await engine.review(review(VM, vm({ app: 'cache' })), 'validate');
  t.equal(
    d.status?.message,
    '[network-policy] no NetworkPolicy in namespace "team-a" selects pods with labels ' +
      '{app=cache, kubevirt.io=virt-launcher, vm.kubevirt.io/name=db-vm, vmi.kubevirt.io/id=db-vm} for Ingress (VirtualMachine "db-vm")',
  );
  const ownLabels = setup([{ matchLabels: { owner: 'vm-object-label' } }]);
  t.equal((await ownLabels.review(review(VM, vm({ app: 'db' })), 'validate')).allowed, false, "the VM object's own labels do not reach the pod");
});

t.test('policies written against the launcher labels cover VMs', async (t) => {
  const allLaunchers = setup([{ matchLabels: { 'kubevirt.io': 'virt-launcher' } }]);
  t.equal((await allLaunchers.review(review(VM, vm({})), 'validate')).allowed, true);
  const byVmName = setup([{ matchLabels: { 'vm.kubevirt.io/name': 'db-vm' } }]);
  t.equal((await byVmName.review(review(VM, vm({}, 'db-vm')), 'validate')).allowed, true);
  t.equal((await byVmName.review(review(VM, vm({}, 'other-vm')), 'validate')).allowed, false);
  t.equal(
    (await byVmName.review(review(VM, vm({}, 'other-vm', { hostname: 'db-vm' })), 'validate')).allowed,
    true,
    'vm.kubevirt.io/name carries the hostname, which spec.hostname overrides',
  );
});

t.test('a VMI carries its own labels, name and uid to the launcher pod', async (t) => {
  const vmi: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'solo.example', namespace: NS, uid: 'a1b2', labels: { app: 'solo' }, annotations: { 'sidecar.istio.io/inject': 'true' } },
    spec: vmiSpec(),
  };
  t.same(podLabelsOf(VMI, vmi), {
    app: 'solo',
    'kubevirt.io': 'virt-launcher',
    'kubevirt.io/created-by': 'a1b2',
    'vm.kubevirt.io/name': 'solo',
    'vmi.kubevirt.io/id': 'solo.example',
    'sidecar.istio.io/inject': 'true',
  });
  const engine = setup([{ matchLabels: { 'sidecar.istio.io/inject': 'true', app: 'solo' } }]);
  t.equal((await engine.review(review(VMI, vmi), 'validate')).allowed, true);
});

t.test('replica sets and pools: template labels only, no per-replica name labels', async (t) => {
  const vmirs: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceReplicaSet',
    metadata: { name: 'workers', namespace: NS },
    spec: { replicas: 3, selector: { matchLabels: { app: 'worker' } }, template: { metadata: { labels: { app: 'worker' } }, spec: vmiSpec() } },
  };
  t.same(podLabelsOf(VMIRS, vmirs), { app: 'worker', 'kubevirt.io': 'virt-launcher' });
  const pool: KubeObject = {
    apiVersion: 'pool.kubevirt.io/v1beta1',
    kind: 'VirtualMachinePool',
    metadata: { name: 'pool', namespace: NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'pooled' } },
      virtualMachineTemplate: {
        metadata: { labels: { app: 'pooled-vm-object' } },
        spec: { runStrategy: 'Always', template: { metadata: { labels: { app: 'pooled' } }, spec: vmiSpec() } },
      },
    },
  };
  t.same(podLabelsOf(POOL, pool), { app: 'pooled', 'kubevirt.io': 'virt-launcher' });
  const engine = setup([{ matchLabels: { app: 'worker' } }]);
  t.equal((await engine.review(review(VMIRS, vmirs), 'validate')).allowed, true);
  const p = await engine.review(review(POOL, pool), 'validate');
  t.match(p.status?.message, /labels \{app=pooled, kubevirt\.io=virt-launcher\} for Ingress \(VirtualMachinePool "pool"\)/);
});

t.test('a VirtualMachine of another API group is not a KubeVirt workload', async (t) => {
  const foreign: KubeObject = { apiVersion: 'vm.neon.tech/v1', kind: 'VirtualMachine', metadata: { name: 'x', namespace: NS }, spec: {} };
  t.equal(podLabelsOf({ group: 'vm.neon.tech', kind: 'VirtualMachine' }, foreign), undefined);
  const d = await setup([]).review(review({ group: 'vm.neon.tech', version: 'v1', kind: 'VirtualMachine' }, foreign), 'validate');
  t.equal(d.allowed, true);
});

t.test('long VMI names are cut and hashed as KubeVirt does for vmi.kubevirt.io/id', async (t) => {
  const name = `${'a'.repeat(60)}-vm-with-a-long-name`;
  const id = virtualMachineInstanceId(name);
  t.equal(id.length, 63);
  t.equal(id, `${name.slice(0, 54)}-${createHash('sha1').update(name).digest('hex').slice(0, 8)}`);
  t.equal(virtualMachineInstanceId('short'), 'short');
  const labels = launcherPodLabels(vmiTemplateOf('VirtualMachine', vm({}, name)));
  t.equal(labels['vmi.kubevirt.io/id'], id);
  t.equal(labels['vm.kubevirt.io/name'], name.slice(0, 63), 'the hostname is cut to a DNS label');
});

t.test('UPDATE of a VM that keeps its template labels is not judged', async (t) => {
  const engine = setup([]);
  const halted = vm({ app: 'db' });
  halted.spec.runStrategy = 'Halted';
  const d = await engine.review({ ...review(VM, halted), operation: 'UPDATE', oldObject: vm({ app: 'db' }) }, 'validate');
  t.equal(d.allowed, true, 'stopping an uncovered VM is not blocked');
  const relabel = await engine.review({ ...review(VM, vm({ app: 'x' })), operation: 'UPDATE', oldObject: vm({ app: 'db' }) }, 'validate');
  t.equal(relabel.allowed, false);
});

t.test("KubeVirt's own launcher pods are judged through their VMI; an imitation is judged as a pod", async (t) => {
  const vmi: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'db-vm', namespace: NS, uid: 'vmi-uid-1' }, spec: vmiSpec() };
  const launcher: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-db-vm-x7k2p',
      namespace: NS,
      labels: { 'kubevirt.io': 'virt-launcher', 'vm.kubevirt.io/name': 'db-vm' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'db-vm', uid: 'vmi-uid-1', controller: true }],
    },
    spec: { containers: [{ name: 'compute', image: 'virt-launcher' }] },
  };
  const engine = setup([], [vmi]);
  const POD: GroupVersionKind = { group: '', version: 'v1', kind: 'Pod' };
  const genuine = await engine.review({ ...review(POD, launcher), userInfo: { username: KUBEVIRT_CONTROLLER } }, 'validate');
  t.equal(genuine.allowed, true);
  t.equal(genuine.auditAnnotations['tenantguard.io/network-policy'], 'virt-launcher pod of VMI db-vm: judged through the VMI');
  const imitation = await engine.review(review(POD, launcher), 'validate');
  t.equal(imitation.allowed, false, 'the same pod created by a user is an ordinary pod');
});
