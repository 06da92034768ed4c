// A virt-launcher pod whose review arrives before the watch has delivered its VMI (KubeVirt creates
// the VMI and at once its pod; a real watch lags its writes): the engine confirms the VMI with a
// live read, bounded, and judges the pod as KubeVirt's launcher in every module, instead of
// refusing it (pod-security, quota under enforce) or charging it in full for its life.
import t, { type Test } from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { LIVE_CONFIRM_TIMEOUT_MS } from '../policies/launcher-vmi-confirm.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, ClusterView, KubeObject } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';

const NS = 'team-vm';
const KUBEVIRT_SA = DEFAULT_CONFIG.kubevirt.serviceAccounts[0]!;
const CONFIG: EngineConfig = {
  exemptions: { namespaces: [], usernames: [], groups: [] },
  modules: DEFAULT_CONFIG.modules,
  settings: { kubevirtServiceAccounts: [KUBEVIRT_SA], cdiServiceAccounts: [] },
};
const VMI: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'vm-1', namespace: NS, uid: 'uid-vmi-1' },
  spec: { domain: { cpu: { cores: 2 }, resources: { requests: { memory: '1Gi' } } } },
};

/** The launcher pod as virt-controller creates it: privileged enough that baseline would refuse it, more CPU than the quota allows. */
function launcherPod(vmiUid: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-vm-1-abcde',
      namespace: NS,
      labels: { 'kubevirt.io': 'virt-launcher', 'vm.kubevirt.io/name': 'vm-1' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-1', uid: vmiUid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [{ name: 'compute', image: 'virt-launcher', securityContext: { capabilities: { add: ['SYS_NICE', 'NET_BIND_SERVICE', 'SYS_ADMIN'] } }, resources: { requests: { cpu: '2', memory: '1300Mi' }, limits: { cpu: '2', memory: '1300Mi' } } }],
    },
  };
}

function podCreate(pod: KubeObject, user = KUBEVIRT_SA): AdmissionRequest {
  return {
    uid: `uid-review-${Math.random().toString(36).slice(2)}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: user },
    object: pod,
  };
}

async function setup(t: Test) {
  const c = await liveCluster({ cdi: false });
  t.teardown(() => c.close());
  c.api.apply(namespace(NS));
  c.api.apply(tenant('tenant-vm', { namespaces: [NS], podSecurity: { level: 'baseline', mode: 'enforce' }, quota: { hard: { 'requests.cpu': '1', 'count/pods': '5' } } }));
  const view = await c.view();
  await until('synced', () => view.synced() && view.tenantOf(NS).name === 'tenant-vm');
  // A VMI seen through the watch: the VMI watch is connected, not merely listed.
  c.api.apply({ ...VMI, metadata: { ...VMI.metadata, name: 'sentinel', uid: 'uid-sentinel' } });
  await until('the VMI watch delivers', () => view.get('VirtualMachineInstance', NS, 'sentinel') !== undefined);
  // From here the watch is late: KubeVirt's VMI exists on the apiserver, not yet in the cache.
  c.api.watchDelayMs = 5_000;
  c.api.apply(VMI);
  t.equal(view.get('VirtualMachineInstance', NS, 'vm-1'), undefined, 'the cache has not seen the VMI');
  const ledger = new MemoryLedger(view);
  return { c, view, engine: (v: ClusterView = view) => new PolicyEngine([...MODULES], CONFIG, { view: v, ledger }) };
}

t.test('a launcher pod ahead of its VMI\'s watch event is KubeVirt\'s: stamped, exempt, absorbed', async (t) => {
  const { view, engine } = await setup(t);
  const decision = await engine().review(podCreate(launcherPod('uid-vmi-1')), 'both');
  t.equal(decision.allowed, true, decision.status?.message ?? '');
  t.match(decision.patch, [{ op: 'add', path: '/metadata/annotations', value: { [LAUNCHER_STAMP]: 'uid-vmi-1' } }], 'stamped as the launcher of the VMI read live');
  t.notOk(decision.warnings.some((w) => w.includes('tenant-quota')), 'quota absorbs it: nothing charged, nothing to warn about');

  // The same review judged on the cache alone (a view that cannot read live): what happened before.
  const cacheOnly: ClusterView = { get: view.get.bind(view), list: view.list.bind(view), tenantOf: view.tenantOf.bind(view) };
  const blind = await engine(cacheOnly).review(podCreate(launcherPod('uid-vmi-1')), 'both');
  t.equal(blind.allowed, false, 'on the cache alone it is an ordinary pod');
  t.match(blind.status?.message ?? '', /pod-security|tenant-quota/);
});

t.test('the live read confirms only what the apiserver has: a wrong uid or a tenant\'s request stays an ordinary pod', async (t) => {
  const { c, engine } = await setup(t);
  const wrongUid = await engine().review(podCreate(launcherPod('uid-of-another-vmi')), 'both');
  t.equal(wrongUid.allowed, false, 'the VMI of that name has another uid');
  const reads = c.api.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/virtualmachineinstances/vm-1')).length;
  t.equal(reads, 1, 'one live read');
  const imitation = await engine().review(podCreate(launcherPod('uid-vmi-1'), 'alice'), 'both');
  t.equal(imitation.allowed, false, 'a tenant\'s imitation is refused');
  t.equal(c.api.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/virtualmachineinstances/vm-1')).length, reads, 'and costs no live read');
});

t.test('a live read that does not answer costs at most the bound, then the cache decides', async (t) => {
  const { view, engine } = await setup(t);
  const silent: ClusterView = {
    get: view.get.bind(view),
    list: view.list.bind(view),
    tenantOf: view.tenantOf.bind(view),
    getLive: (_kind, _ns, _name, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
  };
  const started = performance.now();
  const decision = await engine(silent).review(podCreate(launcherPod('uid-vmi-1')), 'both');
  const ms = performance.now() - started;
  t.equal(decision.allowed, false, 'unconfirmed: judged as an ordinary pod');
  t.ok(ms >= LIVE_CONFIRM_TIMEOUT_MS - 5 && ms < LIVE_CONFIRM_TIMEOUT_MS + 1_000, `answered after the ${LIVE_CONFIRM_TIMEOUT_MS} ms bound (${ms.toFixed(0)} ms)`);
});
