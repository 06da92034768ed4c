// The holes of issue 10, each tried as a tenant would, over HTTPS against the admission server with
// every module (snapshot mode: admitted reviews change the state, the ledger starts from a
// reconcile of it). Each of these passed on the code before the fix.
import t, { type Test } from 'tap';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, KubeObject, TenantSpec } from '../policies/types.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { admissionReview, startFixture, type Fixture } from './helpers/https-fixture.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const NS = 'team-a';
const KUBEVIRT = 'system:serviceaccount:kubevirt:kubevirt-controller';
const SETTINGS = { kubevirtServiceAccounts: [KUBEVIRT] };

const RESOURCES: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
  VirtualMachineInstance: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstances' },
  VirtualMachineInstanceReplicaSet: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancereplicasets' },
  VirtualMachinePool: { group: 'pool.kubevirt.io', version: 'v1beta1', resource: 'virtualmachinepools' },
};

interface Env {
  fx: Fixture;
  /** One review as the apiserver sends it: /mutate, then /validate with the patched object. */
  send(operation: AdmissionRequest['operation'], object: KubeObject | undefined, opts?: { old?: KubeObject; user?: string }): Promise<{ allowed: boolean; message: string; object?: KubeObject }>;
  used(): Record<string, number>;
}

let uids = 0;

async function env(t: Test, state: KubeObject[], quota: TenantSpec['quota'], vmSecurity?: TenantSpec['vmSecurity']): Promise<Env> {
  const fx = await startFixture({
    modules: [...MODULES],
    modulePolicies: DEFAULT_CONFIG.modules,
    settings: SETTINGS,
    state: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      {
        apiVersion: 'tenantguard.io/v1alpha1',
        kind: 'Tenant',
        metadata: { name: 'tenant-a' },
        spec: { namespaces: [NS], quota, podSecurity: { level: 'privileged', mode: 'enforce' }, vmSecurity: vmSecurity ?? { mode: 'off' } },
      },
      ...state,
    ],
  });
  t.teardown(() => fx.close());
  async function post(path: string, request: AdmissionRequest) {
    const res = await fx.request(path, { body: JSON.stringify(admissionReview(request)) });
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${res.text}`);
    return res.json().response as { allowed: boolean; status?: { message: string }; patch?: string };
  }
  return {
    fx,
    used: () => fx.ledger.used('tenant-a'),
    async send(operation, object, opts = {}) {
      const subject = (object ?? opts.old)!;
      const request: AdmissionRequest = {
        uid: `attack-${++uids}`,
        kind: { group: RESOURCES[subject.kind!]?.group ?? '', version: 'v1', kind: subject.kind! },
        resource: RESOURCES[subject.kind!]!,
        name: subject.metadata?.name,
        namespace: NS,
        operation,
        userInfo: { username: opts.user ?? 'alice', groups: ['system:authenticated'] },
        object: object ?? null,
        oldObject: opts.old ?? null,
      };
      let final = object;
      if (object) {
        const m = await post('/mutate', request);
        if (!m.allowed) return { allowed: false, message: m.status?.message ?? '' };
        if (m.patch) {
          const { default: fjp } = await import('fast-json-patch');
          final = fjp.applyPatch(structuredClone(object), JSON.parse(Buffer.from(m.patch, 'base64').toString())).newDocument;
        }
      }
      const v = await post('/validate', { ...request, uid: `${request.uid}-v`, object: final ?? null });
      return { allowed: v.allowed, message: v.status?.message ?? '', object: final };
    },
  };
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: NS, uid: `uid-${name}`, ...extra });
const owner = (apiVersion: string, kind: string, name: string, uid: string) => ({ ownerReferences: [{ apiVersion, kind, name, uid, controller: true }] });
const domain = (cores: number, memory: string) => ({ cpu: { cores }, resources: { requests: { memory } } });

function vm(name: string, runStrategy: string, d: object, extra: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: meta(name, extra), spec: { runStrategy, template: { spec: { domain: d } }, ...spec } };
}

function vmi(name: string, d: object, extra: Record<string, unknown> = {}, status: object = { phase: 'Running' }): KubeObject {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: meta(name, { uid: `uid-vmi-${name}`, ...extra }), spec: { domain: d }, status };
}

function pod(name: string, resources: object, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta(name, extra), spec: { containers: [{ name: 'app', image: 'nginx', resources }] } };
}

const small = { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } };

t.test('claimed owners: a VM or VMI "controlled by" something that does not exist pays in full', async (t) => {
  const e = await env(t, [], { hard: { 'requests.cpu': '2', 'requests.memory': '4Gi' }, vmCharging: 'guest' });
  const forged = [
    owner('pool.kubevirt.io/v1beta1', 'VirtualMachinePool', 'pool', 'made-up'),
    owner('evil.example.com/v1', 'VirtualMachinePool', 'pool', 'made-up'),
  ];
  for (const [i, ref] of forged.entries()) {
    const d = await e.send('CREATE', vm(`big-${i}`, 'Always', domain(8, '16Gi'), ref));
    t.equal(d.allowed, false, `VM with a forged pool owner ${i}`);
    t.match(d.message, 'exceeded quota: tenant-a, requested: requests.cpu=8');
  }
  const d = await e.send('CREATE', vmi('solo', domain(8, '16Gi'), owner('kubevirt.io/v1', 'VirtualMachine', 'ghost', 'made-up'), {}));
  t.equal(d.allowed, false, 'VMI controlled by a VM that does not exist');
  const rs = await e.send('CREATE', vmi('rs-x', domain(8, '16Gi'), owner('kubevirt.io/v1', 'VirtualMachineInstanceReplicaSet', 'rs', 'made-up'), {}));
  t.equal(rs.allowed, false, 'VMI controlled by a replica set that does not exist');
});

t.test('a VM of a real pool pays when it is started and grown beyond the pool template', async (t) => {
  const pool: KubeObject = {
    apiVersion: 'pool.kubevirt.io/v1beta1',
    kind: 'VirtualMachinePool',
    metadata: meta('pool'),
    spec: { replicas: 1, virtualMachineTemplate: { spec: { runStrategy: 'Halted', template: { spec: { domain: domain(1, '1Gi') } } } } },
  };
  const member = vm('pool-0', 'Halted', domain(1, '1Gi'), owner('pool.kubevirt.io/v1beta1', 'VirtualMachinePool', 'pool', 'uid-pool'));
  const e = await env(t, [pool, member], { hard: { 'requests.cpu': '2', 'requests.memory': '4Gi', 'count/virtualmachines.kubevirt.io': '1' } });
  t.equal(e.used()['count/virtualmachines.kubevirt.io'], 1, 'the pool pays for its VM: counted once');
  const grown = vm('pool-0', 'Always', domain(16, '64Gi'), owner('pool.kubevirt.io/v1beta1', 'VirtualMachinePool', 'pool', 'uid-pool'));
  const d = await e.send('UPDATE', grown, { old: member });
  t.equal(d.allowed, false);
  t.match(d.message, 'requests.memory=');
});

t.test('adopted pods: a tenant pod labelled as a launcher and adopted by its VMI still pays', async (t) => {
  const v = vmi('vm-1', domain(1, '1Gi'), {}, { phase: 'Running', activePods: { 'uid-fake-launcher': 'node-1' } });
  const adopted = pod('fake-launcher', { requests: { cpu: '1500m', memory: '1Gi' }, limits: { cpu: '1500m', memory: '1Gi' } }, {
    labels: { 'kubevirt.io': 'virt-launcher' },
    ...owner('kubevirt.io/v1', 'VirtualMachineInstance', 'vm-1', 'uid-vmi-vm-1'),
  });
  const e = await env(t, [v, adopted], { hard: { 'requests.cpu': '2', 'requests.memory': '8Gi' } });
  t.equal(e.used()['requests.cpu'], 100 + 1500, 'the reconcile charges the adopted pod');
  const next = await e.send('CREATE', pod('web', { requests: { cpu: '500m', memory: '64Mi' }, limits: { cpu: '500m', memory: '64Mi' } }));
  t.equal(next.allowed, false, 'so the quota it uses is not handed out again');

  const stamped = pod('forged', small, { annotations: { [LAUNCHER_STAMP]: 'uid-vmi-vm-1' }, labels: { 'kubevirt.io': 'virt-launcher' }, ...owner('kubevirt.io/v1', 'VirtualMachineInstance', 'vm-1', 'uid-vmi-vm-1') });
  const forged = await e.send('CREATE', stamped);
  t.equal(forged.allowed, false, 'a forged stamp at CREATE');
  t.match(forged.message, `metadata.annotations["${LAUNCHER_STAMP}"]`);
  const plain = pod('plain', small);
  const plainMade = await e.send('CREATE', plain);
  t.equal(plainMade.allowed, true, plainMade.message);
  const relabelled = await e.send('UPDATE', { ...plain, metadata: { ...plain.metadata, annotations: { [LAUNCHER_STAMP]: 'uid-vmi-vm-1' } } }, { old: plain });
  t.equal(relabelled.allowed, false, 'a stamp added by UPDATE');

  const genuine = pod('virt-launcher-vm-1-abcde', small, { labels: { 'kubevirt.io': 'virt-launcher' }, ...owner('kubevirt.io/v1', 'VirtualMachineInstance', 'vm-1', 'uid-vmi-vm-1') });
  const made = await e.send('CREATE', genuine, { user: KUBEVIRT });
  t.equal(made.allowed, true, "KubeVirt's own launcher pod");
  t.equal(made.object?.metadata?.annotations?.[LAUNCHER_STAMP], 'uid-vmi-vm-1', 'is stamped by the mutating webhook');
});

t.test('stopping is not stopped: a VM whose VMI still runs keeps its charge', async (t) => {
  const running = vm('vm-1', 'Always', domain(1, '1Gi'));
  const itsVmi = vmi('vm-1', domain(1, '1Gi'), owner('kubevirt.io/v1', 'VirtualMachine', 'vm-1', 'uid-vm-1'));
  for (const strategy of ['Halted', 'Manual']) {
    const e = await env(t, [running, itsVmi], { hard: { 'requests.cpu': '150m' } });
    t.equal(e.used()['requests.cpu'], 100);
    t.equal((await e.send('UPDATE', vm('vm-1', strategy, domain(1, '1Gi')), { old: running })).allowed, true, `Always -> ${strategy}`);
    t.equal(e.used()['requests.cpu'], 100, `${strategy}: still charged while the VMI runs`);
    const other = await e.send('CREATE', vm('vm-2', 'Always', domain(1, '1Gi')));
    t.equal(other.allowed, false, `${strategy}: the freed-looking quota is not handed out`);
  }
});

t.test('live instancetypes: editing or deleting the instancetype neither shrinks the charge nor breaks reviews', async (t) => {
  const it = (cpu: number, memory: string, generation: number): KubeObject => ({
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineClusterInstancetype',
    metadata: { name: 'u1', uid: 'uid-u1', generation },
    spec: { cpu: { guest: cpu }, memory: { guest: memory } },
  });
  const typed = vm('vm-1', 'Always', {}, {}, { instancetype: { name: 'u1', revisionName: 'vm-1-u1-v1beta1-uid-u1-1' } });
  // KubeVirt built the running VMI from the stored revision: 2 vCPU, 3Gi.
  const itsVmi = vmi('vm-1', { cpu: { sockets: 2, cores: 1, threads: 1 }, memory: { guest: '3Gi' } }, owner('kubevirt.io/v1', 'VirtualMachine', 'vm-1', 'uid-vm-1'));
  const e = await env(t, [it(2, '3Gi', 1), typed, itsVmi], { hard: { 'requests.cpu': '10', 'requests.memory': '20Gi' }, vmCharging: 'guest' });
  t.same([e.used()['requests.cpu'], e.used()['requests.memory']], [2000, 3 * Gi]);
  e.fx.view.add(it(1, '64Mi', 2));
  t.same([e.used()['requests.cpu'], e.used()['requests.memory']], [2000, 3 * Gi], 'edited: the running VMI still pays what it runs');
  e.fx.view.store.remove('VirtualMachineClusterInstancetype', undefined, 'u1');
  t.same([e.used()['requests.cpu'], e.used()['requests.memory']], [2000, 3 * Gi], 'deleted: usage still computes');
  t.equal((await e.send('UPDATE', { ...typed, spec: { ...typed.spec, runStrategy: 'Halted' } }, { old: typed })).allowed, true, 'the VM can be stopped');
  t.equal((await e.send('DELETE', undefined, { old: typed })).allowed, true, 'and deleted');
});

t.test('overhead the tenant writes is not read; no charge is negative', async (t) => {
  const e = await env(t, [], { hard: { 'requests.memory': '4Gi' } });
  const negative = vmi('neg', domain(1, '1Gi'), { annotations: { 'kubevirt.io/memory-overhead-bytes': '-1Pi' } }, { memory: { memoryOverhead: '-1Pi' } });
  t.equal((await e.send('CREATE', negative)).allowed, true);
  t.equal(e.used()['requests.memory'], Gi + 270 * Mi, '"-1Pi" frees nothing');
  const zero = vm('zero', 'Always', domain(1, '1Gi'));
  (zero.spec.template as { metadata?: object }).metadata = { annotations: { 'kubevirt.io/memory-overhead-bytes': '0' } };
  t.equal((await e.send('CREATE', zero)).allowed, true);
  t.equal(e.used()['requests.memory'], 2 * (Gi + 270 * Mi), '"0" drops no overhead');
});

t.test('kubectl scale of a pool or replica set is charged like a replicas change', async (t) => {
  const pool: KubeObject = {
    apiVersion: 'pool.kubevirt.io/v1beta1',
    kind: 'VirtualMachinePool',
    metadata: meta('pool'),
    spec: { replicas: 1, virtualMachineTemplate: { spec: { runStrategy: 'Always', template: { spec: { domain: domain(1, '1Gi') } } } } },
  };
  const rs: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceReplicaSet', metadata: meta('rs'), spec: { replicas: 1, template: { spec: { domain: domain(1, '1Gi') } } } };
  const e = await env(t, [pool, rs], { hard: { 'requests.cpu': '1' } });
  t.equal(e.used()['requests.cpu'], 200);
  for (const [resource, group, name] of [
    ['virtualmachinepools', 'pool.kubevirt.io', 'pool'],
    ['virtualmachineinstancereplicasets', 'kubevirt.io', 'rs'],
  ] as const) {
    const scale = (replicas: number): KubeObject => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace: NS }, spec: { replicas } });
    const request = (replicas: number, old: number): AdmissionRequest => ({
      uid: `scale-${name}-${replicas}`,
      kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      resource: { group, version: 'v1', resource },
      subResource: 'scale',
      name,
      namespace: NS,
      operation: 'UPDATE',
      userInfo: { username: 'alice' },
      object: scale(replicas),
      oldObject: scale(old),
    });
    const res = await e.fx.request('/validate', { body: JSON.stringify(admissionReview(request(50, 1))) });
    t.equal(res.json().response.allowed, false, `${resource}/scale to 50`);
    t.match(res.json().response.status.message, 'exceeded quota: tenant-a, requested: requests.cpu=4900m');
    const fits = await e.fx.request('/validate', { body: JSON.stringify(admissionReview(request(3, 1))) });
    t.equal(fits.json().response.allowed, true, `${resource}/scale to 3 fits`);
  }
  t.equal(e.used()['requests.cpu'], 600);
  t.equal(e.fx.view.get('VirtualMachinePool', NS, 'pool')?.spec?.replicas, 3, 'the snapshot applies the scale');
});

t.test('hugepages are charged, and pods that request nothing are refused as the built-in quota does', async (t) => {
  const e = await env(t, [], { hard: { 'requests.memory': '4Gi', 'requests.hugepages-1Gi': '8Gi', 'requests.cpu': '4' } });
  const huge = vm('huge', 'Always', { cpu: { cores: 1 }, memory: { guest: '64Gi', hugepages: { pageSize: '1Gi' } } });
  const d = await e.send('CREATE', huge);
  t.equal(d.allowed, false);
  t.match(d.message, 'requested: requests.hugepages-1Gi=64Gi');
  const hugePod = pod('hp', { requests: { cpu: '100m', memory: '64Mi', 'hugepages-1Gi': '16Gi' }, limits: { 'hugepages-1Gi': '16Gi' } });
  t.match((await e.send('CREATE', hugePod)).message, 'requests.hugepages-1Gi=16Gi');
  const bare = await e.send('CREATE', pod('bare', {}));
  t.equal(bare.allowed, false);
  t.match(bare.message, 'failed quota: tenant-a: must specify requests.cpu for: app; requests.memory for: app');

  const withDefaults = await env(t, [], { hard: { 'requests.cpu': '1', 'requests.memory': '1Gi' }, defaultRequests: { cpu: '250m', memory: '128Mi' } });
  t.equal((await withDefaults.send('CREATE', pod('bare', {}))).allowed, true, 'quota.defaultRequests stand in');
  t.same([withDefaults.used()['requests.cpu'], withDefaults.used()['requests.memory']], [250, 128 * Mi], 'and are charged');
});

t.test('the overhead follows the KubeVirt version the cluster runs', async (t) => {
  const kv: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: 'kubevirt' }, spec: {}, status: { observedKubeVirtVersion: 'v1.10.0' } };
  const e = await env(t, [kv], { hard: { 'requests.memory': '8Gi' } });
  t.equal((await e.send('CREATE', vm('vm-1', 'Always', domain(1, '1Gi')))).allowed, true);
  t.equal(e.used()['requests.memory'], Gi + 290 * Mi, 'the next release: QEMU overhead 50Mi');
});

t.test('vm-security: a DRA GPU is named by its claim, and an allow-list entry "" admits nothing', async (t) => {
  const e = await env(t, [], { hard: {} }, { mode: 'enforce', allowHostDevices: [''] });
  const gpu = vm('gpu', 'Halted', { cpu: { cores: 1 }, devices: { gpus: [{ name: 'gpu1', claimName: 'gpu-claim', requestName: 'gpu' }] } });
  const d = await e.send('CREATE', gpu);
  t.equal(d.allowed, false);
  t.match(d.message, 'spec.template.spec.domain.devices.gpus[0].claimName: GPU from DRA claim "gpu-claim" request "gpu" is not allowed');
});
