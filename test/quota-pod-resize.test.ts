// In-place pod resize (issue 20 item 8): a pod is charged what the built-in quota charges, the larger
// of its spec and what the kubelet reports (status resources, allocatedResources), so a decrease the
// kubelet has not applied frees nothing early, and no report lowers a charge below the spec.
import t from 'tap';
import { podCharge } from '../policies/quota/pod-charge.js';
import type { KubeObject } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { projectPod } from '../server/cluster/projections.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { tenantQuota } from '../policies/quota/module.js';
import { PolicyEngine } from '../policies/engine.js';

function pod(name: string, specCpu: string, reported?: { cpu: string; allocated?: string }, sidecar = false): KubeObject {
  const c = { name: 'app', image: 'x', resources: { requests: { cpu: specCpu, memory: '1Gi' }, limits: { cpu: specCpu, memory: '1Gi' } } };
  const status: Record<string, unknown> = { phase: 'Running' };
  if (reported) {
    const cs = [{ name: 'app', resources: { requests: { cpu: reported.cpu, memory: '1Gi' }, limits: { cpu: reported.cpu, memory: '1Gi' } }, ...(reported.allocated ? { allocatedResources: { cpu: reported.allocated, memory: '1Gi' } } : {}) }];
    status[sidecar ? 'initContainerStatuses' : 'containerStatuses'] = cs;
  }
  const spec = sidecar ? { initContainers: [{ ...c, restartPolicy: 'Always' }], containers: [{ name: 'main', image: 'x' }] } : { containers: [c] };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a', uid: `uid-${name}` }, spec, status };
}

t.test('a decrease the kubelet has not applied is still charged; an applied one is not', async (t) => {
  t.equal(podCharge(pod('p', '500m', { cpu: '2', allocated: '2' }))['requests.cpu'], 2000, 'spec lowered to 500m, the kubelet still runs 2');
  t.equal(podCharge(pod('p', '500m', { cpu: '500m', allocated: '2' }))['requests.cpu'], 2000, 'allocated but not yet actuated');
  t.equal(podCharge(pod('p', '500m', { cpu: '2' }))['limits.cpu'], 2000, 'the limit the kubelet still enforces');
  t.equal(podCharge(pod('p', '500m', { cpu: '500m', allocated: '500m' }))['requests.cpu'], 500, 'applied: the smaller charge');
  t.equal(podCharge(pod('p', '500m', { cpu: '2' }, true))['requests.cpu'], 2000, 'a sidecar resizes the same way');
});

t.test('no report lowers a charge below the spec', async (t) => {
  t.equal(podCharge(pod('p', '2', { cpu: '500m', allocated: '500m' }))['requests.cpu'], 2000, 'an increase is charged from the spec');
  t.equal(podCharge(pod('p', '2', { cpu: '1m' }))['limits.cpu'], 2000);
});

t.test('the cluster view keeps the report during a resize, and only then', async (t) => {
  const resizing = pod('p', '500m', { cpu: '2', allocated: '2' });
  t.equal(podCharge(projectPod(resizing))['requests.cpu'], 2000, 'the projection is charged as the full pod');
  const settled = pod('p', '500m', { cpu: '500m', allocated: '500m' });
  t.same(projectPod(settled).status, { phase: 'Running' }, 'a settled pod keeps only its phase');
  t.equal(podCharge(projectPod(settled))['requests.cpu'], 500);
});

t.test('through the ledger: the quota a pending decrease holds is freed only once the kubelet applies it', async (t) => {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: ['team-a'], quota: { hard: { 'requests.cpu': '3' } } } });
  view.add(pod('web', '500m', { cpu: '2', allocated: '2' }));
  const ledger = new MemoryLedger(view);
  const engine = new PolicyEngine([tenantQuota], { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [] } }, { view, ledger });
  const create = (name: string) => {
    const object = pod(name, '1500m');
    delete object.status;
    return engine.review({ uid: `u-${name}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'team-a', name, operation: 'CREATE', userInfo: { username: 'alice' }, object, dryRun: true }, 'validate');
  };
  t.equal(ledger.used('tenant-a')['requests.cpu'], 2000);
  const early = await create('batch');
  t.equal(early.allowed, false, 'the 2 cores the kubelet still gives web are in use');
  view.add(pod('web', '500m', { cpu: '500m', allocated: '500m' }));
  t.equal(ledger.used('tenant-a')['requests.cpu'], 500);
  t.equal((await create('batch')).allowed, true, 'applied: the freed cores fit the new pod');
});
