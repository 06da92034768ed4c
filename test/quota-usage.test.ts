import t from 'tap';
import { tenantUsage, usageByTenant } from '../policies/quota/usage.js';
import type { KubeObject } from '../policies/types.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const SETTINGS = { kubevirtServiceAccounts: ['system:serviceaccount:kubevirt:kubevirt-controller'] };
const SMALL = { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } };

function pod(name: string, namespace: string, cpu: string, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: `uid-${name}`, ...(extra.metadata ?? {}) },
    spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu, memory: '100Mi' } } }] },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

/** A pod labelled and owned like a launcher pod; `stamped` when tenantguard verified it at CREATE. */
function launcher(name: string, vmiName: string, vmiUid: string, stamped: boolean): KubeObject {
  return pod(name, 'team-a', '100m', {
    metadata: {
      labels: { 'kubevirt.io': 'virt-launcher' },
      ...(stamped ? { annotations: { [LAUNCHER_STAMP]: vmiUid } } : {}),
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: vmiName, uid: vmiUid, controller: true }],
    },
  });
}

function cluster(): SnapshotView {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tenant: 'a' } } });
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a-ci', labels: { tenant: 'a' } } });
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaceSelector: { matchLabels: { tenant: 'a' } }, quota: { hard: { 'requests.cpu': '10' } } } });
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-b' }, spec: { namespaces: ['team-b'], quota: { hard: { 'requests.cpu': '10' }, vmCharging: 'guest' } } });
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-empty' }, spec: { namespaceSelector: { matchLabels: { tenant: 'none' } } } });
  return view;
}

t.test('every object in the namespaces is charged once; KubeVirt-owned objects are absorbed by their payer', async (t) => {
  const view = cluster();
  view.add(pod('web', 'team-a', '1'));
  view.add(pod('job', 'team-a-ci', '500m'));
  view.add(pod('done', 'team-a', '4', { status: { phase: 'Succeeded' } }));
  view.add({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm-1', namespace: 'team-a', uid: 'uid-vm-1' }, spec: { runStrategy: 'Always', template: { spec: SMALL } } });
  view.add({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'vm-1', namespace: 'team-a', uid: 'uid-vmi-1', ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'uid-vm-1', controller: true }] },
    spec: SMALL,
    status: { phase: 'Running', activePods: { 'uid-virt-launcher-vm-1': 'node-1' } },
  });
  view.add(launcher('virt-launcher-vm-1', 'vm-1', 'uid-vmi-1', true));
  // Same labels and owner, but not stamped at CREATE: a tenant's imitation.
  view.add(launcher('virt-launcher-fake', 'vm-1', 'uid-vmi-1', false));

  const used = tenantUsage(view, ['team-a', 'team-a-ci'], SETTINGS, 'pod');
  t.same(used, {
    'count/pods': 5, // web, job, done (terminal pods still count), the VM's launcher, the imitation
    'count/virtualmachines.kubevirt.io': 1,
    'requests.cpu': 1000 + 500 + 100 /* VM */ + 100 /* imitation */,
    'requests.memory': 100 * Mi * 3 + Gi + 270 * Mi,
    'limits.cpu': 1000 /* the VM's effective limit */,
    'limits.memory': Gi + 270 * Mi,
  });
});

t.test('with a clock, pods past their deletion grace stop costing', async (t) => {
  const view = cluster();
  view.add(pod('stuck', 'team-a', '2', { metadata: { deletionTimestamp: '2026-03-01T10:00:00Z', deletionGracePeriodSeconds: 30 } }));
  t.equal(tenantUsage(view, ['team-a'], SETTINGS, 'pod')['requests.cpu'], 2000, 'no clock: charged until gone');
  t.equal(tenantUsage(view, ['team-a'], SETTINGS, 'pod', Date.parse('2026-03-01T10:01:00Z'))['requests.cpu'], 0);
  t.equal(tenantUsage(view, ['team-a'], SETTINGS, 'pod', Date.parse('2026-03-01T10:01:00Z'))['count/pods'], 1);
});

t.test('usageByTenant: each tenant over its own namespaces, with its own vmCharging', async (t) => {
  const view = cluster();
  view.add(pod('a1', 'team-a', '1'));
  view.add(pod('a2', 'team-a-ci', '2'));
  view.add(pod('b1', 'team-b', '3'));
  view.add(pod('free', 'default', '8'));
  view.add({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm', namespace: 'team-b', uid: 'u' }, spec: { runStrategy: 'Always', template: { spec: SMALL } } });
  const all = usageByTenant(view, SETTINGS);
  t.same([...all.keys()].sort(), ['tenant-a', 'tenant-b', 'tenant-empty']);
  t.equal(all.get('tenant-a')!['requests.cpu'], 3000);
  t.equal(all.get('tenant-b')!['requests.cpu'], 3000 + 1000, 'guest charging: the VM costs its vCPU');
  t.equal(all.get('tenant-b')!['requests.memory'], 100 * Mi + Gi);
  t.equal(all.get('tenant-empty')!['count/pods'], 0, 'a tenant without namespaces uses nothing');
});

t.test('an object that cannot be charged is named in the error', async (t) => {
  const view = cluster();
  view.add(pod('bad', 'team-a', 'lots'));
  t.throws(() => tenantUsage(view, ['team-a'], SETTINGS, 'pod'), { message: /^Pod team-a\/bad: spec\.containers\[0\]\.resources\.requests\.cpu: invalid quantity "lots"/ });
});

t.test('an instancetype that is gone is reported per tenant, and the usage still computes', async (t) => {
  const view = cluster();
  view.add({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'typed', namespace: 'team-a', uid: 'uid-typed' },
    spec: { runStrategy: 'Always', instancetype: { name: 'gone', revisionName: 'typed-gone-v1beta1-uid-gone-1' }, template: { spec: { domain: {} } } },
  });
  const problems: string[] = [];
  const all = usageByTenant(view, SETTINGS, undefined, (tenant, problem) => problems.push(`${tenant}: ${problem}`));
  t.equal(all.get('tenant-a')!['count/virtualmachines.kubevirt.io'], 1);
  t.same(problems, [
    'tenant-a: team-a: VirtualMachine typed: spec.instancetype: VirtualMachineClusterInstancetype "gone" has changed or is gone since KubeVirt stored it as ControllerRevision typed-gone-v1beta1-uid-gone-1',
  ]);
});
