import t from 'tap';
import { chargeOf, type ChargeContext, type ChargedKind } from '../policies/quota/charge.js';
import { DEFAULT_KUBEVIRT_CONFIG } from '../policies/quota/kubevirt-launcher-resources.js';
import type { KubeObject } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const NS = 'team-a';
// 1 vCPU, requests.memory 1Gi: KubeVirt v1.9 renders 100m and 1Gi + 270Mi.
const SMALL = { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } };
const SMALL_POD = { 'count/pods': 1, 'requests.cpu': 100, 'requests.memory': Gi + 270 * Mi, 'limits.cpu': 1000, 'limits.memory': Gi + 270 * Mi };

function ctx(view: SnapshotView, vmCharging: 'pod' | 'guest' = 'pod'): ChargeContext {
  return { view, namespace: NS, vmCharging, kubevirt: DEFAULT_KUBEVIRT_CONFIG };
}

function vm(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace: NS, uid: `uid-${name}`, ...meta }, spec: { template: { spec: SMALL }, ...spec } };
}

function vmi(name: string, extra: Partial<KubeObject> = {}): KubeObject {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name, namespace: NS, uid: `uid-vmi-${name}` }, spec: SMALL, ...extra };
}

const charge = (kind: ChargedKind, obj: KubeObject, view = new SnapshotView({}), mode: 'pod' | 'guest' = 'pod') => chargeOf(kind, obj, ctx(view, mode));

t.test('VirtualMachine: count always, compute and one pod while its run strategy runs it', async (t) => {
  const running = { 'count/virtualmachines.kubevirt.io': 1, ...SMALL_POD };
  const stopped = { 'count/virtualmachines.kubevirt.io': 1, 'count/pods': 0, 'requests.cpu': 0, 'requests.memory': 0, 'limits.cpu': 0, 'limits.memory': 0 };
  const cases: Array<[string, Record<string, unknown>, object]> = [
    ['runStrategy Always', { runStrategy: 'Always' }, running],
    ['runStrategy RerunOnFailure', { runStrategy: 'RerunOnFailure' }, running],
    ['runStrategy Once, not run yet', { runStrategy: 'Once' }, running],
    ['runStrategy WaitAsReceiver', { runStrategy: 'WaitAsReceiver' }, running],
    ['runStrategy Halted', { runStrategy: 'Halted' }, stopped],
    ['runStrategy Manual', { runStrategy: 'Manual' }, stopped],
    ['legacy running: true', { running: true }, running],
    ['legacy running: false', { running: false }, stopped],
    ['neither set (Halted)', {}, stopped],
  ];
  for (const [name, spec, expected] of cases) t.same(charge('VirtualMachine', vm('vm', spec)), expected, name);
  t.throws(() => charge('VirtualMachine', vm('vm', { running: true, runStrategy: 'Always' })), { message: 'spec: running and runStrategy are mutually exclusive' });
  t.throws(() => charge('VirtualMachine', vm('vm', { runStrategy: 'Sometimes' })), { message: 'spec.runStrategy: unknown run strategy "Sometimes"' });
});

t.test('runStrategy Once stops costing once its VMI has finished', async (t) => {
  const view = new SnapshotView({});
  const of = (phase: string) => vmi('once', { metadata: { name: 'once', namespace: NS, uid: 'uid-vmi-once', ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'once', uid: 'uid-once', controller: true }] }, status: { phase } });
  view.add(vm('once', { runStrategy: 'Once' }));
  view.add(of('Running'));
  t.equal(charge('VirtualMachine', vm('once', { runStrategy: 'Once' }), view)['requests.cpu'], 100, 'running');
  view.add(of('Succeeded'));
  t.equal(charge('VirtualMachine', vm('once', { runStrategy: 'Once' }), view)['requests.cpu'], 0, 'ran');
});

t.test('a pool pays for the VMs it makes; a pool VM pays what it runs beyond that', async (t) => {
  const view = new SnapshotView({});
  view.add({
    apiVersion: 'pool.kubevirt.io/v1beta1',
    kind: 'VirtualMachinePool',
    metadata: { name: 'p', namespace: NS, uid: 'uid-p' },
    spec: { replicas: 1, virtualMachineTemplate: { spec: { runStrategy: 'Always', template: { spec: SMALL } } } },
  });
  const ref = (over: object = {}) => ({ ownerReferences: [{ apiVersion: 'pool.kubevirt.io/v1beta1', kind: 'VirtualMachinePool', name: 'p', uid: 'uid-p', controller: true, ...over }] });
  const zero = { 'count/virtualmachines.kubevirt.io': 0, 'count/pods': 0, 'requests.cpu': 0, 'requests.memory': 0, 'limits.cpu': 0, 'limits.memory': 0 };
  t.same(charge('VirtualMachine', vm('p-0', { runStrategy: 'Always' }, ref()), view), zero, 'as the template: the pool pays');
  const grown = charge('VirtualMachine', vm('p-0', { runStrategy: 'Always', template: { spec: { domain: { cpu: { cores: 16 }, resources: { requests: { memory: '64Gi' } } } } } }, ref()), view);
  t.same([grown['requests.cpu'], grown['requests.memory'] > 62 * Gi, grown['count/virtualmachines.kubevirt.io']], [1500, true, 0], 'grown: pays the difference');
  for (const [what, over] of [
    ['another uid', { uid: 'forged' }],
    ['a group that does not exist', { apiVersion: 'pool.kubevirt.io.evil/v1' }],
    ['another kind', { kind: 'VirtualMachineInstanceReplicaSet' }],
    ['a pool that does not exist', { name: 'ghost' }],
  ] as const) {
    t.same(charge('VirtualMachine', vm('p-0', { runStrategy: 'Always' }, ref(over)), view), { 'count/virtualmachines.kubevirt.io': 1, ...SMALL_POD }, `owner with ${what}: pays in full`);
  }
});

t.test('replica sets and pools are charged per desired replica (default 1)', async (t) => {
  const rs = (replicas?: number): KubeObject => ({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceReplicaSet',
    metadata: { name: 'rs', namespace: NS },
    spec: { ...(replicas === undefined ? {} : { replicas }), template: { spec: SMALL } },
  });
  t.equal(charge('VirtualMachineInstanceReplicaSet', rs(3))['requests.cpu'], 300);
  t.equal(charge('VirtualMachineInstanceReplicaSet', rs(3))['count/pods'], 3);
  t.equal(charge('VirtualMachineInstanceReplicaSet', rs())['requests.memory'], Gi + 270 * Mi, 'no replicas: one');
  t.equal(charge('VirtualMachineInstanceReplicaSet', rs(0))['count/pods'], 0);

  const pool = (runStrategy: string, replicas = 2): KubeObject => ({
    apiVersion: 'pool.kubevirt.io/v1alpha1',
    kind: 'VirtualMachinePool',
    metadata: { name: 'pool', namespace: NS },
    spec: { replicas, virtualMachineTemplate: { spec: { runStrategy, template: { spec: SMALL } } } },
  });
  t.same(charge('VirtualMachinePool', pool('Always')), {
    'count/virtualmachines.kubevirt.io': 2,
    'count/pods': 2,
    'requests.cpu': 200,
    'requests.memory': 2 * (Gi + 270 * Mi),
    'limits.cpu': 2000,
    'limits.memory': 2 * (Gi + 270 * Mi),
  });
  t.same([charge('VirtualMachinePool', pool('Halted'))['count/virtualmachines.kubevirt.io'], charge('VirtualMachinePool', pool('Halted'))['requests.cpu']], [2, 0]);
  t.throws(() => charge('VirtualMachinePool', pool('Always', -1)), { message: 'spec.replicas: must be a non-negative integer' });
});

t.test('instancetypes are resolved through the view, by kind', async (t) => {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1.medium' }, spec: { cpu: { guest: 1 }, memory: { guest: '4Gi' } } });
  view.add({ apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineInstancetype', metadata: { name: 'big', namespace: NS }, spec: { cpu: { guest: 8 }, memory: { guest: '32Gi' } } });
  const withType = (instancetype: object) => vm('typed', { runStrategy: 'Always', instancetype, template: { spec: { domain: {} } } });
  const cluster = charge('VirtualMachine', withType({ name: 'u1.medium' }), view);
  t.same([cluster['requests.cpu'], cluster['requests.memory']], [100, 4 * Gi + 268 * Mi], 'default kind: cluster-wide');
  const namespaced = charge('VirtualMachine', withType({ kind: 'VirtualMachineInstancetype', name: 'big' }), view, 'guest');
  t.same([namespaced['requests.cpu'], namespaced['limits.memory']], [8000, 32 * Gi], 'namespaced, guest charging');
  const problems: string[] = [];
  const missing = chargeOf('VirtualMachine', withType({ kind: 'VirtualMachineInstancetype', name: 'missing' }), { ...ctx(view), onProblem: (p) => problems.push(p) });
  t.equal(missing['requests.cpu'], 100, 'what can be known: the template alone');
  t.same(problems, ['VirtualMachine typed: spec.instancetype: VirtualMachineInstancetype "missing" not found']);
});

t.test('vmCharging pod and guest charge the same VM differently', async (t) => {
  const v = vm('v', { runStrategy: 'Always', template: { spec: { domain: { cpu: { sockets: 2 }, memory: { guest: '2Gi' } } } } });
  const pod = charge('VirtualMachine', v, new SnapshotView({}), 'pod');
  const guest = charge('VirtualMachine', v, new SnapshotView({}), 'guest');
  t.same([pod['requests.cpu'], pod['requests.memory'], pod['limits.cpu']], [200, 2 * Gi + 276 * Mi, 2000], 'what the launcher pod requests');
  t.same([guest['requests.cpu'], guest['requests.memory'], guest['limits.cpu'], guest['limits.memory']], [2000, 2 * Gi, 2000, 2 * Gi], 'the guest');
});
