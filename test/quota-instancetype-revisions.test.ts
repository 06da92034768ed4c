// A VM is charged the instancetype KubeVirt stored for it (its ControllerRevision), not the live
// object the tenant can edit or delete; where neither can be read, the Tenant says so with a
// ChargeIncomplete condition instead of every later review failing. Against the fake apiserver,
// through the live view's informers (the revisions are watched by label, as KubeVirt labels them).
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { TenantReconciler } from '../server/cluster/reconcile.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';

const T = 'tenantguard.io/v1alpha1';
const IT = 'instancetype.kubevirt.io/v1beta1';
const REVISION = 'vm-1-u1-v1beta1-uid-u1-1';

function instancetype(cpu: number, memory: string, generation: number): KubeObject {
  return { apiVersion: IT, kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1', uid: 'uid-u1', generation }, spec: { cpu: { guest: cpu }, memory: { guest: memory } } };
}

/** What KubeVirt's revision store writes (pkg/instancetype/revision/store.go CreateControllerRevision). */
function storedRevision(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: REVISION,
      namespace: 'team-a',
      labels: { 'instancetype.kubevirt.io/object-kind': 'VirtualMachineClusterInstancetype', 'instancetype.kubevirt.io/object-name': 'u1' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'uid-vm-1', controller: true }],
    },
    data: { apiVersion: IT, kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1', uid: 'uid-u1', generation: 1 }, spec: { cpu: { guest: 2 }, memory: { guest: '3Gi' } } },
    revision: 0,
  };
}

const vm: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm-1', namespace: 'team-a', uid: 'uid-vm-1' },
  spec: { runStrategy: 'Always', instancetype: { kind: 'VirtualMachineClusterInstancetype', name: 'u1', revisionName: REVISION }, template: { spec: { domain: { devices: {} } } } },
};

t.test('the stored revision is charged whatever the live instancetype becomes; without either, the Tenant says so', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'requests.cpu': '10' }, vmCharging: 'guest' } }));
  // Edited by the tenant after KubeVirt stored generation 1.
  c.api.apply(instancetype(1, '64Mi', 2));
  c.api.apply(storedRevision());
  // A StatefulSet's revision carries a whole pod template; the view never fetches it.
  c.api.apply({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'db-5d8f', namespace: 'team-a' }, data: { spec: { template: {} } }, revision: 1 });
  c.api.apply(vm);
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('the VM is cached', () => view.get('VirtualMachine', 'team-a', 'vm-1') !== undefined);
  t.ok(view.get('ControllerRevision', 'team-a', REVISION), 'the instancetype revision is in the view');
  t.equal(view.get('ControllerRevision', 'team-a', 'db-5d8f'), undefined, "a StatefulSet's revision is not");

  const ledger = new TenantStatusLedger(c.client(), view);
  const reconciler = new TenantReconciler(c.client(), view, ledger);
  const status = () => c.api.get(T, 'Tenant', undefined, 'tenant-a')?.status as Record<string, any> | undefined;
  await reconciler.runOnce();
  t.match(status()?.used, { 'requests.cpu': '2', 'requests.memory': '3Gi' }, 'charged as stored: 2 vCPU, 3Gi, not the edited 1 vCPU, 64Mi');
  t.equal(status()?.conditions, undefined, 'no condition while every input is known');

  c.api.remove('apps/v1', 'ControllerRevision', 'team-a', REVISION);
  c.api.remove(IT, 'VirtualMachineClusterInstancetype', undefined, 'u1');
  await until('the view sees both gone', () => view.get('ControllerRevision', 'team-a', REVISION) === undefined && view.get('VirtualMachineClusterInstancetype', undefined, 'u1') === undefined);
  const results = await reconciler.runOnce();
  t.same(results.map((r) => r.outcome), ['repaired'], 'the pass succeeds');
  t.match(status()?.conditions, [{
    type: 'ChargeIncomplete',
    status: 'True',
    reason: 'ChargeInputsMissing',
    message: new RegExp(`^VirtualMachine team-a/vm-1: .*has changed or is gone since KubeVirt stored it as ControllerRevision ${REVISION}; charged from what is known$`),
  }]);
});
