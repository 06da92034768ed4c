// Property: whatever a tenant does — VMs, VMIs, replica sets, pools and pods created, updated,
// scaled, stopped and deleted, with forged owners, imitation launcher pods, relabels and
// instancetype edits — while KubeVirt's controllers do their part, the tenant's charged total (the
// reconcile's sum of chargeOf) never falls below what KubeVirt really runs, and no amount is ever
// negative. Reviews go through the snapshot-mode engine (admitted ones change the state); KubeVirt's
// controllers are simulated the way pkg/virt-controller/watch does it: a running VM gets a VMI,
// replica sets and pools get their replicas, every VMI a launcher pod. Seeded, so a failure names
// the seed and the step that reproduce it.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { launcherStampMutate, launcherStampValidate } from '../policies/launcher-stamp.js';
import { launcherResources, DEFAULT_KUBEVIRT_CONFIG } from '../policies/quota/kubevirt-launcher-resources.js';
import { tenantQuota } from '../policies/quota/module.js';
import { podCharge } from '../policies/quota/pod-charge.js';
import { tenantUsage } from '../policies/quota/usage.js';
import type { AdmissionRequest, KubeObject, Operation } from '../policies/types.js';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import fjp from 'fast-json-patch';
import { prng } from './helpers/prng.js';

const NS = 'team-a';
const KUBEVIRT = 'system:serviceaccount:kubevirt:kubevirt-controller';
const SETTINGS = { kubevirtServiceAccounts: [KUBEVIRT] };
const CONFIG: EngineConfig = { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: SETTINGS };
const COMPUTE = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'] as const;
const GROUP: Record<string, string> = {
  Pod: '',
  VirtualMachine: 'kubevirt.io',
  VirtualMachineInstance: 'kubevirt.io',
  VirtualMachineInstanceReplicaSet: 'kubevirt.io',
  VirtualMachinePool: 'pool.kubevirt.io',
};
const PLURAL: Record<string, string> = {
  Pod: 'pods',
  VirtualMachine: 'virtualmachines',
  VirtualMachineInstance: 'virtualmachineinstances',
  VirtualMachineInstanceReplicaSet: 'virtualmachineinstancereplicasets',
  VirtualMachinePool: 'virtualmachinepools',
};

/** mulberry32: small, seedable, good enough to pick actions. */
class World {
  readonly view = new SnapshotView({});
  readonly engine: PolicyEngine;
  private n = 0;
  readonly log: string[] = [];
  /** Names of the pods KubeVirt's controller created: the real launcher pods, whatever they are relabelled. */
  readonly launcherPods = new Set<string>();

  constructor(readonly rand: () => number) {
    this.view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    this.view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: [NS], quota: { hard: { 'requests.cpu': '1000', 'requests.memory': '10Ti' } } } });
    for (const [name, cpu] of [['u1', 2], ['u2', 4]] as const) {
      this.view.add({ apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name, uid: `uid-${name}`, generation: 1 }, spec: { cpu: { guest: cpu }, memory: { guest: `${cpu}Gi` } } });
    }
    const ledger = new MemoryLedger(this.view);
    this.engine = new PolicyEngine([launcherStampMutate, launcherStampValidate, tenantQuota], CONFIG, { view: this.view, ledger });
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.rand() * items.length)];
  }

  uid(): string {
    return `u${++this.n}`;
  }

  list(kind: 'Pod' | 'VirtualMachine' | 'VirtualMachineInstance' | 'VirtualMachineInstanceReplicaSet' | 'VirtualMachinePool'): KubeObject[] {
    return [...this.view.list(kind, NS)];
  }

  /** A review as the apiserver sends it (mutate, then validate); admitted ones are applied. */
  async review(operation: Operation, object: KubeObject | undefined, old: KubeObject | undefined, user = 'alice', extra: Partial<AdmissionRequest> = {}): Promise<boolean> {
    const subject = (object ?? old)!;
    const request: AdmissionRequest = {
      uid: this.uid(),
      kind: { group: GROUP[subject.kind!] ?? '', version: 'v1', kind: subject.kind! },
      resource: { group: GROUP[subject.kind!] ?? '', version: 'v1', resource: PLURAL[subject.kind!]! },
      name: subject.metadata?.name,
      namespace: NS,
      operation,
      userInfo: { username: user },
      object: object ?? null,
      oldObject: old ?? null,
      ...extra,
    };
    const decision = await this.engine.review(request, 'both');
    this.log.push(`${user} ${operation} ${request.subResource ? `${extra.resource?.resource}/scale` : subject.kind} ${subject.metadata?.name}: ${decision.allowed ? 'allowed' : decision.status?.message}`);
    if (!decision.allowed) return false;
    const final = decision.patch && object ? (fjp.applyPatch(structuredClone(object), structuredClone(decision.patch) as fjp.Operation[]).newDocument as KubeObject) : object;
    this.view.apply(request, final);
    if (subject.kind === 'Pod' && operation === 'CREATE') {
      if (user === KUBEVIRT) this.launcherPods.add(subject.metadata!.name!);
      else this.launcherPods.delete(subject.metadata!.name!);
    }
    return true;
  }

  /** What KubeVirt writes through status or its own clients without webhooks in the way. */
  write(obj: KubeObject): void {
    this.view.add(structuredClone(obj));
  }
}

function domain(r: () => number): Record<string, unknown> {
  const cores = 1 + Math.floor(r() * 4);
  return { cpu: { cores }, resources: { requests: { memory: `${1 + Math.floor(r() * 4)}Gi` } } };
}

const STRATEGIES = ['Always', 'Halted', 'Manual', 'RerunOnFailure', 'Once'];

/** An owner reference a tenant might claim: real, forged uid, unknown group, or none. */
function claimedOwner(w: World, kind: 'VirtualMachinePool' | 'VirtualMachine' | 'VirtualMachineInstanceReplicaSet'): object {
  const real = w.pick(w.list(kind));
  const group = kind === 'VirtualMachinePool' ? 'pool.kubevirt.io/v1beta1' : 'kubevirt.io/v1';
  switch (w.pick([0, 1, 2, 3])) {
    case 0:
      return real ? { ownerReferences: [{ apiVersion: group, kind, name: real.metadata!.name, uid: real.metadata!.uid, controller: true }] } : {};
    case 1:
      return { ownerReferences: [{ apiVersion: group, kind, name: real?.metadata?.name ?? 'ghost', uid: 'forged', controller: true }] };
    case 2:
      return { ownerReferences: [{ apiVersion: 'evil.example.com/v1', kind, name: real?.metadata?.name ?? 'ghost', uid: real?.metadata?.uid ?? 'x', controller: true }] };
    default:
      return {};
  }
}

/** The VMI spec KubeVirt makes of a VM spec: the instancetype (as it is now) applied. */
function vmiSpecOf(w: World, vmSpec: any): any {
  const it = vmSpec?.instancetype?.name ? w.view.get('VirtualMachineClusterInstancetype', undefined, vmSpec.instancetype.name) : undefined;
  if (it) return { domain: { cpu: { sockets: it.spec.cpu.guest, cores: 1, threads: 1 }, memory: { guest: it.spec.memory.guest } } };
  return structuredClone(vmSpec?.template?.spec ?? {});
}

async function tenantStep(w: World): Promise<void> {
  const r = w.rand;
  const name = `t${w.uid()}`;
  switch (Math.floor(r() * 12)) {
    case 0: {
      const typed = r() < 0.3;
      const spec: any = { runStrategy: w.pick(STRATEGIES), template: { spec: typed ? { domain: {} } : { domain: domain(r) } } };
      if (typed) spec.instancetype = { name: w.pick(['u1', 'u2']) };
      await w.review('CREATE', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace: NS, ...claimedOwner(w, 'VirtualMachinePool') }, spec }, undefined);
      return;
    }
    case 1:
    case 2: {
      const vm = w.pick(w.list('VirtualMachine'));
      if (!vm) return;
      const next = structuredClone(vm);
      if (r() < 0.5) next.spec.runStrategy = w.pick(STRATEGIES);
      else if (next.spec.template?.spec?.domain?.cpu) next.spec.template.spec.domain = domain(r);
      delete next.spec.running;
      await w.review('UPDATE', next, vm);
      return;
    }
    case 3: {
      const vm = w.pick(w.list('VirtualMachine'));
      if (vm) await w.review('DELETE', undefined, vm);
      return;
    }
    case 4: {
      const annotations = r() < 0.5 ? { 'kubevirt.io/memory-overhead-bytes': w.pick(['-1Pi', '0', '1Gi'])! } : undefined;
      const ownerKind = w.pick(['VirtualMachine', 'VirtualMachineInstanceReplicaSet'] as const)!;
      await w.review(
        'CREATE',
        { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}), ...claimedOwner(w, ownerKind) }, spec: { domain: domain(r) } },
        undefined,
      );
      return;
    }
    case 5: {
      const kind = w.pick(['VirtualMachineInstanceReplicaSet', 'VirtualMachinePool'] as const)!;
      const template = { spec: { domain: domain(r) } };
      const spec = kind === 'VirtualMachinePool'
        ? { replicas: Math.floor(r() * 3), virtualMachineTemplate: { spec: { runStrategy: w.pick(['Always', 'Halted']), template } } }
        : { replicas: Math.floor(r() * 3), template };
      await w.review('CREATE', { apiVersion: kind === 'VirtualMachinePool' ? 'pool.kubevirt.io/v1beta1' : 'kubevirt.io/v1', kind, metadata: { name, namespace: NS }, spec }, undefined);
      return;
    }
    case 6: {
      const kind = w.pick(['VirtualMachineInstanceReplicaSet', 'VirtualMachinePool'] as const)!;
      const target = w.pick(w.list(kind));
      if (!target) return;
      const scale = (replicas: number): KubeObject => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: target.metadata!.name, namespace: NS }, spec: { replicas } });
      await w.review('UPDATE', scale(Math.floor(r() * 4)), scale(target.spec.replicas ?? 1), 'alice', {
        kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        resource: { group: GROUP[kind]!, version: 'v1', resource: PLURAL[kind]! },
        subResource: 'scale',
      });
      return;
    }
    case 7: {
      const kind = w.pick(['VirtualMachineInstanceReplicaSet', 'VirtualMachinePool', 'VirtualMachineInstance'] as const)!;
      const target = w.pick(w.list(kind));
      if (target) await w.review('DELETE', undefined, target);
      return;
    }
    case 8: {
      // An ordinary pod, or an imitation launcher pod (perhaps with a forged stamp) of a tenant VMI.
      const vmi = w.pick(w.list('VirtualMachineInstance'));
      const imitation = vmi && r() < 0.6;
      const metadata: any = { name, namespace: NS };
      if (imitation) {
        metadata.labels = { 'kubevirt.io': 'virt-launcher' };
        metadata.ownerReferences = [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: vmi.metadata!.name, uid: vmi.metadata!.uid, controller: true }];
        if (r() < 0.5) metadata.annotations = { [LAUNCHER_STAMP]: vmi.metadata!.uid };
      }
      const cpu = `${100 * (1 + Math.floor(r() * 10))}m`;
      await w.review('CREATE', { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'app', resources: { requests: { cpu, memory: '256Mi' }, limits: { cpu, memory: '256Mi' } } }] } }, undefined);
      return;
    }
    case 9: {
      // Relabel or stamp an existing pod.
      const pod = w.pick(w.list('Pod'));
      const vmi = w.pick(w.list('VirtualMachineInstance'));
      if (!pod || !vmi) return;
      const next = structuredClone(pod);
      next.metadata!.labels = { ...next.metadata!.labels, 'kubevirt.io': r() < 0.5 ? 'virt-launcher' : 'relabelled' };
      if (r() < 0.5) next.metadata!.annotations = { ...next.metadata!.annotations, [LAUNCHER_STAMP]: vmi.metadata!.uid! };
      await w.review('UPDATE', next, pod);
      return;
    }
    case 10: {
      // Instancetype edits are not reviewed by quota: they just happen.
      const it = w.pick(w.view.list('VirtualMachineClusterInstancetype'));
      if (!it) return;
      if (r() < 0.2) return w.view.store.remove('VirtualMachineClusterInstancetype', undefined, it.metadata!.name!);
      const cpu = w.pick([1, 2, 8])!;
      w.write({ ...it, metadata: { ...it.metadata, generation: (it.metadata!.generation ?? 1) + 1 }, spec: { cpu: { guest: cpu }, memory: { guest: w.pick(['64Mi', '1Gi', '16Gi']) } } });
      return;
    }
    default:
      return;
  }
}

function isFinal(vmi: KubeObject): boolean {
  return vmi.status?.phase === 'Succeeded' || vmi.status?.phase === 'Failed';
}

/** A VMI that has stopped: its launcher pods have exited first (virt-handler reports the domain gone). */
function finish(w: World, vmi: KubeObject): void {
  for (const pod of w.list('Pod')) {
    if (pod.metadata?.ownerReferences?.[0]?.uid === vmi.metadata!.uid) w.write({ ...pod, status: { phase: 'Succeeded' } });
  }
  w.write({ ...vmi, status: { ...vmi.status, phase: 'Succeeded' } });
}

/** One pass of KubeVirt's controllers, each doing one thing where there is something to do. */
async function kubevirtStep(w: World): Promise<void> {
  const r = w.rand;
  // VM controller: store the instancetype revision, start a VMI for a VM that should run, ask one that should not to stop.
  for (const vm of w.list('VirtualMachine')) {
    if (vm.spec.instancetype && !vm.spec.instancetype.revisionName) {
      const it = w.view.get('VirtualMachineClusterInstancetype', undefined, vm.spec.instancetype.name);
      if (it) w.write({ ...vm, spec: { ...vm.spec, instancetype: { ...vm.spec.instancetype, revisionName: `${vm.metadata!.name}-${it.metadata!.name}-v1beta1-${it.metadata!.uid}-${it.metadata!.generation}` } } });
    }
    const vmi = w.view.get('VirtualMachineInstance', NS, vm.metadata!.name!);
    const strategy = vm.spec.runStrategy;
    const wants = strategy === 'Always' || strategy === 'RerunOnFailure' || (strategy === 'Once' && !vmi);
    if (!vmi && wants && r() < 0.5) {
      await w.review(
        'CREATE',
        { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: vm.metadata!.name, namespace: NS, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm.metadata!.name!, uid: vm.metadata!.uid!, controller: true }] }, spec: vmiSpecOf(w, vm.spec) },
        undefined,
        KUBEVIRT,
      );
    } else if (vmi && !wants && !isFinal(vmi) && (strategy === 'Halted') && r() < 0.3) {
      // The stop takes the grace period: the VMI finishes a while later.
      finish(w, vmi);
    }
  }
  // Replica set and pool controllers: add one missing replica or remove one surplus.
  for (const rs of w.list('VirtualMachineInstanceReplicaSet')) {
    const mine = w.list('VirtualMachineInstance').filter((v) => v.metadata?.ownerReferences?.[0]?.uid === rs.metadata!.uid);
    if (mine.length < (rs.spec.replicas ?? 1) && r() < 0.5) {
      await w.review('CREATE', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: `${rs.metadata!.name}-${w.uid()}`, namespace: NS, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceReplicaSet', name: rs.metadata!.name!, uid: rs.metadata!.uid!, controller: true }] }, spec: structuredClone(rs.spec.template.spec) }, undefined, KUBEVIRT);
    } else if (mine.length > (rs.spec.replicas ?? 1) && r() < 0.5) {
      finish(w, mine[0]!);
    }
  }
  for (const pool of w.list('VirtualMachinePool')) {
    const mine = w.list('VirtualMachine').filter((v) => v.metadata?.ownerReferences?.[0]?.uid === pool.metadata!.uid);
    if (mine.length < (pool.spec.replicas ?? 1) && r() < 0.5) {
      const tpl = structuredClone(pool.spec.virtualMachineTemplate.spec);
      await w.review('CREATE', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: `${pool.metadata!.name}-${w.uid()}`, namespace: NS, ownerReferences: [{ apiVersion: 'pool.kubevirt.io/v1beta1', kind: 'VirtualMachinePool', name: pool.metadata!.name!, uid: pool.metadata!.uid!, controller: true }] }, spec: tpl }, undefined, KUBEVIRT);
    } else if (mine.length > (pool.spec.replicas ?? 1) && r() < 0.5) {
      await w.review('DELETE', undefined, mine[0]!, KUBEVIRT);
    }
  }
  // VMI controller: a launcher pod for each running VMI; adopt what matches; final VMIs go away.
  for (const vmi of w.list('VirtualMachineInstance')) {
    if (isFinal(vmi)) {
      if (r() < 0.3) await w.review('DELETE', undefined, vmi, KUBEVIRT);
      continue;
    }
    const pods = w.list('Pod').filter((p) => p.metadata?.ownerReferences?.[0]?.uid === vmi.metadata!.uid && p.metadata?.labels?.['kubevirt.io'] === 'virt-launcher');
    if (pods.length === 0 && r() < 0.5) {
      await w.review(
        'CREATE',
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: `virt-launcher-${vmi.metadata!.name}`, namespace: NS, labels: { 'kubevirt.io': 'virt-launcher' }, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: vmi.metadata!.name!, uid: vmi.metadata!.uid!, controller: true }] }, spec: { containers: [{ name: 'compute', resources: { requests: { cpu: '100m', memory: '1Gi' } } }] } },
        undefined,
        KUBEVIRT,
      );
    }
    // KubeVirt lists every pod it controls as active, the tenant's imitations included.
    const active = Object.fromEntries(pods.map((p) => [p.metadata!.uid, 'node-1']));
    w.write({ ...vmi, status: { ...vmi.status, phase: vmi.status?.phase ?? 'Running', activePods: active } });
  }
  // The garbage collector: pods whose VMI is gone, VMIs whose VM or replica set is gone.
  for (const vmi of w.list('VirtualMachineInstance')) {
    const ref = vmi.metadata?.ownerReferences?.[0];
    if (!ref || ref.apiVersion.startsWith('evil')) continue; // an owner the collector cannot resolve: left alone
    const ownerExists = w.view.get(ref.kind as 'VirtualMachine', NS, ref.name)?.metadata?.uid === ref.uid;
    if (!ownerExists && r() < 0.3) w.view.store.remove('VirtualMachineInstance', NS, vmi.metadata!.name!);
  }
}

/** What KubeVirt and Kubernetes really run: every VMI not final, every pod that is not a launcher of one. */
function running(w: World): Record<string, number> {
  const out: Record<string, number> = { 'requests.cpu': 0, 'requests.memory': 0, 'limits.cpu': 0, 'limits.memory': 0 };
  const vmiUids = new Set<string>();
  for (const vmi of w.list('VirtualMachineInstance')) {
    if (isFinal(vmi)) continue;
    vmiUids.add(vmi.metadata!.uid!);
    const l = launcherResources({ spec: vmi.spec, where: 'spec' }, DEFAULT_KUBEVIRT_CONFIG);
    out['requests.cpu']! += l.requestsCpu;
    out['requests.memory']! += l.requestsMemory;
    out['limits.cpu']! += l.limitsCpu;
    out['limits.memory']! += l.limitsMemory;
  }
  for (const pod of w.list('Pod')) {
    // KubeVirt's launcher pod of a running VMI runs that VMI, counted above; any other pod runs itself.
    const owner = pod.metadata?.ownerReferences?.[0]?.uid;
    if (w.launcherPods.has(pod.metadata!.name!) && owner !== undefined && vmiUids.has(owner)) continue;
    const c = podCharge(pod);
    for (const r of COMPUTE) out[r]! += c[r];
  }
  return out;
}

for (let seed = 1; seed <= 25; seed++) {
  t.test(`seed ${seed}: the charged total never falls below what runs, and never goes negative`, async (t) => {
    const w = new World(prng(seed));
    for (let step = 0; step < 120; step++) {
      if (w.rand() < 0.6) await tenantStep(w);
      else await kubevirtStep(w);
      const charged = tenantUsage(w.view, [NS], SETTINGS, 'pod');
      const truth = running(w);
      for (const [r, v] of Object.entries(charged)) {
        if (v < 0) return void t.fail(`seed ${seed} step ${step}: ${r} charged ${v}\n${w.log.slice(-5).join('\n')}`);
      }
      for (const r of COMPUTE) {
        if (charged[r]! < truth[r]!) {
          return void t.fail(`seed ${seed} step ${step}: ${r} charged ${charged[r]} < running ${truth[r]}\n${w.log.slice(-8).join('\n')}`);
        }
      }
    }
    t.pass(`120 steps, ${w.log.length} reviews`);
  });
}
