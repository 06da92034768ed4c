import t from 'tap';
import fjp from 'fast-json-patch';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { launcherStampMutate, launcherStampValidate } from '../policies/launcher-stamp.js';
import { tenantQuota } from '../policies/quota/module.js';
import { usageByTenant } from '../policies/quota/usage.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, GroupVersionKind, KubeObject, Operation } from '../policies/types.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const NS = 'team-a';
const KUBEVIRT = 'system:serviceaccount:kubevirt:kubevirt-controller';
const SETTINGS = { kubevirtServiceAccounts: [KUBEVIRT] };
const CONFIG: EngineConfig = {
  exemptions: { namespaces: [], usernames: [], groups: [] },
  modules: { 'tenant-quota': { failureMode: 'fail', timeoutMs: 1000, enabled: true } },
  settings: SETTINGS,
};
const SMALL_VM_MEMORY = Gi + 270 * Mi; // 1 vCPU, requests.memory 1Gi, KubeVirt v1.9

const GVK: Record<string, GroupVersionKind> = {
  Pod: { group: '', version: 'v1', kind: 'Pod' },
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
  VirtualMachineInstance: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstance' },
  VirtualMachineInstanceReplicaSet: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceReplicaSet' },
};

function tenant(hard: Record<string, string>, vmCharging?: 'pod' | 'guest'): KubeObject {
  return {
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: { namespaces: [NS], quota: { hard, ...(vmCharging ? { vmCharging } : {}) } },
  };
}

function env(objects: KubeObject[]) {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const o of objects) view.add(structuredClone(o));
  const ledger = new MemoryLedger(view);
  // The launcher stamp's mutator gives KubeVirt's pods the mark that absorption reads once stored.
  const engine = new PolicyEngine([launcherStampMutate, launcherStampValidate, tenantQuota], CONFIG, { view, ledger });
  let n = 0;
  /** One review as the apiserver sends it (mutated, then validated); an admitted one is applied to the snapshot. */
  async function review(operation: Operation, object: KubeObject | undefined, opts: { old?: KubeObject; user?: string; dryRun?: boolean } = {}) {
    const subject = object ?? opts.old!;
    const request: AdmissionRequest = {
      uid: `req-${++n}`,
      kind: GVK[subject.kind!]!,
      resource: { group: GVK[subject.kind!]!.group, version: 'v1', resource: `${subject.kind!.toLowerCase()}s` },
      name: subject.metadata?.name,
      namespace: NS,
      operation,
      userInfo: { username: opts.user ?? 'alice' },
      object: object ?? null,
      oldObject: opts.old ?? null,
      dryRun: opts.dryRun ?? false,
    };
    const decision = await engine.review(request, 'both');
    if (decision.allowed) {
      const stored = decision.patch && object ? (fjp.applyPatch(structuredClone(object), structuredClone(decision.patch) as fjp.Operation[]).newDocument as KubeObject) : object;
      view.apply(request, stored);
      if (operation === 'CREATE' && stored) listLauncherPod(view, stored, request.userInfo.username);
    }
    return decision;
  }
  return { view, ledger, review, used: () => ledger.used('tenant-a') };
}

/** What KubeVirt's controller does after creating a launcher pod: the VMI lists it in status.activePods. */
function listLauncherPod(view: SnapshotView, pod: KubeObject, user: string | undefined): void {
  const owner = pod.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance');
  const vmi = owner && view.get('VirtualMachineInstance', NS, owner.name);
  if (pod.kind !== 'Pod' || user !== KUBEVIRT || !vmi) return;
  view.add({ ...vmi, status: { ...vmi.status, activePods: { ...vmi.status?.activePods, [pod.metadata!.uid!]: 'node-1' } } });
}

function pod(name: string, cpu: string, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, uid: `uid-${name}` },
    spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu }, limits: { cpu } } }] },
    ...extra,
  };
}

function vm(name: string, runStrategy: string, domain: Record<string, unknown> = { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } }): KubeObject {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace: NS, uid: `uid-${name}` }, spec: { runStrategy, template: { spec: { domain } } } };
}

t.test('tenant-quota is the last module', async (t) => {
  t.equal(MODULES.at(-1), tenantQuota);
});

t.test('a create past the hard limit is denied with the built-in quota message', async (t) => {
  const existing = Array.from({ length: 19 }, (_, i) => pod(`web-${i}`, '500m'));
  const e = env([tenant({ 'requests.cpu': '10' }), ...existing]);
  t.equal(e.used()['requests.cpu'], 9500, 'the snapshot objects are charged on load');
  const denied = await e.review('CREATE', pod('big', '2'));
  t.equal(denied.allowed, false);
  const [builtIn, explained] = denied.status!.message!.split('; ');
  t.equal(builtIn, '[tenant-quota] exceeded quota: tenant-a, requested: requests.cpu=2, used: requests.cpu=9500m, limited: requests.cpu=10', 'the built-in quota\'s words lead');
  t.match(explained, /^requests\.cpu of Pod team-a\/big = 2: /, 'then the charge of the exceeded resource');
  t.equal(e.used()['requests.cpu'], 9500, 'nothing reserved for a denied request');
  const fits = await e.review('CREATE', pod('last', '500m'));
  t.equal(fits.allowed, true);
  t.equal(e.used()['requests.cpu'], 10000);
  t.equal(e.used()['count/pods'], 20);
});

t.test('every exceeded resource is listed, sorted, in one denial', async (t) => {
  const e = env([tenant({ 'count/pods': '1', 'limits.cpu': '1', 'requests.cpu': '1' }), pod('one', '1')]);
  const denied = await e.review('CREATE', pod('two', '1'));
  const parts = denied.status!.message!.split('; ');
  t.equal(
    parts[0],
    '[tenant-quota] exceeded quota: tenant-a, requested: count/pods=1,limits.cpu=1,requests.cpu=1, used: count/pods=1,limits.cpu=1,requests.cpu=1, limited: count/pods=1,limits.cpu=1,requests.cpu=1',
  );
  t.same(
    parts.filter((p) => / of Pod /.test(p)).map((p) => p.split(' ')[0]),
    ['count/pods', 'limits.cpu', 'requests.cpu'],
    'each exceeded resource explained, in the same order',
  );
});

t.test('dryRun is evaluated normally and commits nothing', async (t) => {
  const e = env([tenant({ 'requests.cpu': '2' }), pod('one', '1')]);
  const dry = await e.review('CREATE', pod('two', '1'), { dryRun: true });
  t.equal(dry.allowed, true);
  t.equal(e.used()['requests.cpu'], 1000, 'the ledger did not move');
  const dryDenied = await e.review('CREATE', pod('big', '4'), { dryRun: true });
  t.equal(dryDenied.allowed, false, 'a dry run still shows the denial');
  t.equal((await e.review('CREATE', pod('two', '1'))).allowed, true, 'the real request still fits');
});

t.test('an UPDATE is charged only its increase', async (t) => {
  const e = env([tenant({ 'requests.cpu': '4' }), pod('web', '1'), pod('db', '2')]);
  const resized = pod('web', '2');
  t.equal((await e.review('UPDATE', resized, { old: pod('web', '1') })).allowed, true, '3 -> 4 CPUs fits');
  t.equal(e.used()['requests.cpu'], 4000);
  const denied = await e.review('UPDATE', pod('web', '3'), { old: resized });
  t.match(denied.status?.message, 'requested: requests.cpu=1, used: requests.cpu=4, limited: requests.cpu=4');
  const same = await e.review('UPDATE', { ...resized, metadata: { ...resized.metadata, labels: { a: 'b' } } }, { old: resized });
  t.equal(same.allowed, true, 'a label change at full quota costs nothing');
  t.same(same.auditAnnotations, {}, 'and reserves nothing');
});

t.test('deleting or stopping frees quota', async (t) => {
  const e = env([tenant({ 'requests.cpu': '2', 'count/pods': '5' }), pod('web', '2')]);
  t.equal((await e.review('DELETE', undefined, { old: pod('web', '2') })).allowed, true);
  t.same([e.used()['requests.cpu'], e.used()['count/pods']], [0, 0]);

  const v = env([tenant({ 'requests.cpu': '1', 'count/virtualmachines.kubevirt.io': '3' })]);
  t.equal((await v.review('CREATE', vm('vm-1', 'Halted'))).allowed, true);
  t.same([v.used()['count/virtualmachines.kubevirt.io'], v.used()['requests.cpu']], [1, 0], 'a halted VM is counted, not sized');
  t.equal((await v.review('UPDATE', vm('vm-1', 'Always'), { old: vm('vm-1', 'Halted') })).allowed, true, 'Halted -> Always');
  t.same([v.used()['requests.cpu'], v.used()['requests.memory'], v.used()['count/pods']], [100, SMALL_VM_MEMORY, 1]);
  t.equal((await v.review('UPDATE', vm('vm-1', 'Halted'), { old: vm('vm-1', 'Always') })).allowed, true, 'Always -> Halted');
  t.same([v.used()['requests.cpu'], v.used()['requests.memory'], v.used()['count/pods']], [0, 0, 0]);
});

t.test('VM resize: CPU hotplug is charged only the growth', async (t) => {
  const e = env([tenant({ 'requests.cpu': '400m' }), vm('vm-1', 'Always')]);
  t.equal(e.used()['requests.cpu'], 100);
  const grown = vm('vm-1', 'Always', { cpu: { sockets: 3 }, resources: { requests: { memory: '1Gi' } } });
  t.equal((await e.review('UPDATE', grown, { old: vm('vm-1', 'Always') })).allowed, true);
  t.equal(e.used()['requests.cpu'], 300, '2 more vCPUs at ratio 10: +200m');
  const tooBig = vm('vm-1', 'Always', { cpu: { sockets: 5 }, resources: { requests: { memory: '1Gi' } } });
  t.match((await e.review('UPDATE', tooBig, { old: grown })).status?.message, 'requested: requests.cpu=200m, used: requests.cpu=300m');
});

t.test("KubeVirt's virt-launcher pod is absorbed; a tenant's imitation is charged", async (t) => {
  const vmiObj: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'vm-1', namespace: NS, uid: 'uid-vmi-1', ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'uid-vm-1', controller: true }] },
    spec: { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } },
  };
  const launcher = (name: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'uid-vmi-1' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-1', uid: 'uid-vmi-1', controller: true, blockOwnerDeletion: true }],
    },
    spec: { containers: [{ name: 'compute', image: 'virt-launcher', resources: { requests: { cpu: '100m', memory: `${SMALL_VM_MEMORY}` } } }] },
  });
  const e = env([tenant({ 'requests.cpu': '100m', 'count/pods': '1' }), vm('vm-1', 'Always'), vmiObj]);
  t.same([e.used()['requests.cpu'], e.used()['count/pods']], [100, 1], 'the running VM holds the whole quota');
  const genuine = await e.review('CREATE', launcher('virt-launcher-vm-1-abcde'), { user: KUBEVIRT });
  t.equal(genuine.allowed, true, 'never denied');
  t.same(genuine.warnings, []);
  t.same([e.used()['requests.cpu'], e.used()['count/pods']], [100, 1], 'and not charged again');

  const imitation = await e.review('CREATE', launcher('virt-launcher-vm-1-fake1'), { user: 'alice' });
  t.equal(imitation.allowed, false, 'the same pod made by a tenant user is an ordinary pod');
  t.match(imitation.status?.message, 'exceeded quota: tenant-a, requested: count/pods=1,requests.cpu=100m');
});

t.test('a live-migration target is charged only what it adds over its source', async (t) => {
  const vmiObj: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'vm-1', namespace: NS, uid: 'uid-vmi-1', ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'uid-vm-1', controller: true }] },
    spec: { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } },
    status: { phase: 'Running', activePods: { 'uid-source': 'node-1' } },
  };
  const launcher = (name: string, cpu: string, labels: Record<string, string> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      labels: { 'kubevirt.io': 'virt-launcher', ...labels },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-1', uid: 'uid-vmi-1', controller: true }],
    },
    spec: { containers: [{ name: 'compute', image: 'virt-launcher', resources: { requests: { cpu } } }] },
    status: { phase: 'Running' },
  });
  const source = launcher('source', '100m');
  source.metadata!.uid = 'uid-source';
  source.metadata!.annotations = { [LAUNCHER_STAMP]: 'uid-vmi-1' };
  const e = env([tenant({ 'requests.cpu': '1' }), vm('vm-1', 'Always'), vmiObj, source]);
  t.same([e.used()['requests.cpu'], e.used()['count/pods']], [100, 1], 'the source pod is absorbed by its VM');

  const sameSize = await e.review('CREATE', launcher('target-1', '100m', { 'kubevirt.io/migrationJobUID': 'mig-1' }), { user: KUBEVIRT });
  t.equal(sameSize.allowed, true);
  t.same([e.used()['requests.cpu'], e.used()['count/pods']], [100, 1], 'a plain migration target is absorbed');

  const hotplugged = await e.review('CREATE', launcher('target-2', '300m', { 'kubevirt.io/migrationJobUID': 'mig-2' }), { user: KUBEVIRT });
  t.equal(hotplugged.allowed, true);
  t.equal(e.used()['requests.cpu'], 300, 'a target grown by hotplug pays the growth: 300m - 100m');

  const tooBig = await e.review('CREATE', launcher('target-3', '2', { 'kubevirt.io/migrationJobUID': 'mig-3' }), { user: KUBEVIRT });
  t.equal(tooBig.allowed, true, "KubeVirt's own pod is never denied");
  t.match(tooBig.warnings.join(' '), '[tenant-quota] exceeded quota: tenant-a, requested: requests.cpu=1900m');
});

t.test('VM with an instancetype, in both vmCharging modes', async (t) => {
  const it: KubeObject = { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1.large' }, spec: { cpu: { guest: 2 }, memory: { guest: '8Gi' } } };
  const typed: KubeObject = { ...vm('big', 'Always', {}), spec: { runStrategy: 'Always', instancetype: { name: 'u1.large' }, template: { spec: { domain: {} } } } };
  for (const [mode, memory, cpu] of [
    ['pod', 8 * Gi + 276 * Mi, 200],
    ['guest', 8 * Gi, 2000],
  ] as const) {
    const e = env([tenant({ 'requests.memory': '20Gi' }, mode), it]);
    t.equal((await e.review('CREATE', typed)).allowed, true, mode);
    t.same([e.used()['requests.memory'], e.used()['requests.cpu']], [memory, cpu], mode);
  }
  const e = env([tenant({ 'requests.memory': '8Gi' }, 'guest'), it]);
  t.equal((await e.review('CREATE', typed)).allowed, true, 'guest charging: exactly 8Gi fits 8Gi');
  const p = env([tenant({ 'requests.memory': '8Gi' }, 'pod'), it]);
  t.match((await p.review('CREATE', typed)).status?.message, 'requested: requests.memory=8468Mi', 'pod charging adds the overhead');
});

t.test('a missing instancetype never fails a review; nor does a bad hard limit, read strictly (server/cluster/tenant-spec-guard.ts)', async (t) => {
  const missing: KubeObject = { ...vm('x', 'Always'), spec: { runStrategy: 'Always', instancetype: { name: 'nope' }, template: { spec: { domain: {} } } } };
  const e = env([tenant({ 'requests.cpu': '4' })]);
  t.equal((await e.review('CREATE', missing)).allowed, true, 'charged what can be known: the template');
  t.equal((await e.review('DELETE', undefined, { old: missing })).allowed, true, 'and it can be deleted');
  // A Tenant never valid: an unusable limit reads as 0, a name tenant-quota does not account is not charged.
  const bad = env([tenant({ 'requests.cpu': 'ten' })]);
  t.match((await bad.review('CREATE', pod('web', '1'))).status?.message, 'exceeded quota: tenant-a, requested: requests.cpu=1, used: requests.cpu=0, limited: requests.cpu=0');
  const typo = env([tenant({ 'request.cpu': '1' })]);
  t.equal((await typo.review('CREATE', pod('web', '1'))).allowed, true, 'the typo is reported on the Tenant, not charged');
});

t.test('a tenant without quota is not charged', async (t) => {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: [NS] } });
  const ledger = new MemoryLedger(view);
  const engine = new PolicyEngine([tenantQuota], CONFIG, { view, ledger });
  const decision = await engine.review(
    { uid: 'u', kind: GVK.Pod!, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: NS, operation: 'CREATE', userInfo: { username: 'alice' }, object: pod('web', '64') },
    'validate',
  );
  t.equal(decision.allowed, true);
  t.ok(Object.values(ledger.used('tenant-a')).every((v) => v === 0), 'nothing is charged');
  t.same(decision.auditAnnotations, {});
});

t.test('two creates racing for the last unit: exactly one is admitted', async (t) => {
  const e = env([tenant({ 'count/virtualmachines.kubevirt.io': '1' })]);
  const decisions = await Promise.all([e.review('CREATE', vm('a', 'Halted')), e.review('CREATE', vm('b', 'Halted'))]);
  t.same(decisions.map((d) => d.allowed).sort(), [false, true]);
  t.equal(e.used()['count/virtualmachines.kubevirt.io'], 1);
});

t.test('snapshot replay: the ledger after a sequence of reviews equals a recompute of the resulting state', async (t) => {
  const rs: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceReplicaSet', metadata: { name: 'rs', namespace: NS, uid: 'uid-rs' }, spec: { replicas: 2, template: { spec: { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } } } } };
  const e = env([tenant({ 'requests.cpu': '10', 'requests.memory': '64Gi' }), pod('web', '1')]);
  const steps: Array<[Operation, KubeObject | undefined, KubeObject | undefined]> = [
    ['CREATE', vm('vm-1', 'Always'), undefined],
    ['CREATE', rs, undefined],
    ['UPDATE', { ...rs, spec: { ...rs.spec, replicas: 5 } }, rs],
    ['UPDATE', vm('vm-1', 'Halted'), vm('vm-1', 'Always')],
    ['CREATE', pod('api', '2', { spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu: '2', memory: '1Gi' } } }] } }), undefined],
    ['DELETE', undefined, pod('web', '1')],
  ];
  for (const [op, object, old] of steps) {
    t.equal((await e.review(op, object, old ? { old } : {})).allowed, true, `${op} ${(object ?? old)!.metadata!.name}`);
  }
  const recomputed = usageByTenant(e.view, SETTINGS).get('tenant-a');
  t.same(e.used(), recomputed);
  t.equal(e.used()['requests.cpu'], 2000 + 5 * 100);
});
