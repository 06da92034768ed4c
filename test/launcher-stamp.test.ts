// The launcher stamp: given at CREATE to KubeVirt's verified virt-launcher pods only, kept as it
// was on every UPDATE, and idempotent under the apiserver's reinvocation of mutating webhooks.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { launcherStampMutate, launcherStampValidate } from '../policies/launcher-stamp.js';
import type { AdmissionRequest, KubeObject, Operation } from '../policies/types.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';
const KUBEVIRT = 'system:serviceaccount:kubevirt:kubevirt-controller';
const CONFIG: EngineConfig = { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [KUBEVIRT] } };

function engine() {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vm-1', namespace: NS, uid: 'uid-vmi' }, spec: {} });
  const e = new PolicyEngine([launcherStampMutate, launcherStampValidate], CONFIG, { view, ledger: new MemoryLedger(view) });
  return (operation: Operation, object: KubeObject | undefined, user: string, old?: KubeObject, subResource?: string) => {
    const request: AdmissionRequest = {
      uid: 'r',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      ...(subResource ? { subResource } : {}),
      name: 'virt-launcher-vm-1-x',
      namespace: NS,
      operation,
      userInfo: { username: user },
      object: object ?? null,
      oldObject: old ?? null,
    };
    return e.review(request, 'both');
  };
}

function launcher(annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-vm-1-x',
      namespace: NS,
      labels: { 'kubevirt.io': 'virt-launcher' },
      ...(annotations ? { annotations } : {}),
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-1', uid: 'uid-vmi', controller: true }],
    },
    spec: { containers: [{ name: 'compute' }] },
  };
}

t.test("KubeVirt's launcher pod is stamped with its VMI's uid, with the key escaped, once", async (t) => {
  const review = engine();
  const bare = await review('CREATE', launcher(), KUBEVIRT);
  t.same(bare.patch, [{ op: 'add', path: '/metadata/annotations', value: { [LAUNCHER_STAMP]: 'uid-vmi' } }]);
  const annotated = await review('CREATE', launcher({ 'kubevirt.io/domain': 'vm-1' }), KUBEVIRT);
  t.same(annotated.patch, [{ op: 'add', path: '/metadata/annotations/tenantguard.io~1launcher-of', value: 'uid-vmi' }]);
  const again = await review('CREATE', launcher({ [LAUNCHER_STAMP]: 'uid-vmi' }), KUBEVIRT);
  t.equal(again.allowed, true);
  t.equal(again.patch, undefined, 'reinvoked: nothing more to patch');
});

t.test('the stamp cannot be claimed, added, moved to another VMI; it can be kept or dropped', async (t) => {
  const review = engine();
  t.equal((await review('CREATE', launcher(), 'alice')).patch, undefined, "a user's imitation is not stamped");
  t.equal((await review('CREATE', launcher({ [LAUNCHER_STAMP]: 'uid-vmi' }), 'alice')).allowed, false, 'claimed by a user');
  const wrong = await review('CREATE', launcher({ [LAUNCHER_STAMP]: 'other' }), KUBEVIRT);
  t.same(wrong.patch, [{ op: 'replace', path: '/metadata/annotations/tenantguard.io~1launcher-of', value: 'uid-vmi' }], "KubeVirt's pod gets its own VMI's uid, whatever it carried");
  const stamped = launcher({ [LAUNCHER_STAMP]: 'uid-vmi' });
  t.equal((await review('UPDATE', launcher({ [LAUNCHER_STAMP]: 'uid-vmi' }), 'alice', stamped)).allowed, true, 'kept');
  t.equal((await review('UPDATE', launcher(), 'alice', stamped)).allowed, true, 'dropped: the pod then pays');
  t.equal((await review('UPDATE', launcher({ [LAUNCHER_STAMP]: 'uid-other' }), KUBEVIRT, stamped)).allowed, false, 'changed');
  t.equal((await review('UPDATE', stamped, 'alice', launcher())).allowed, false, 'added');
  t.equal((await review('DELETE', undefined, 'alice', stamped)).allowed, true);
});
