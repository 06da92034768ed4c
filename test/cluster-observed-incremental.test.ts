// Property: the observed usage a watch event leaves behind (recharging only what the event can
// change, in slices) equals a recomputation from scratch, after any sequence of events: VMs, VMIs,
// launcher and migration pods, replica sets, pools, PVCs, DataVolumes, StorageClass defaults, CDI's
// overhead, the KubeVirt CR, instancetype edits, Namespace relabels and deletes, Tenant edits. The
// reference is a fresh ObservedUsage built over a copy of the store. Compared per tenant (usage,
// per namespace, problems, notices); both right after an event (a review settles the queue) and
// after the background slices ran on their own. Seeded, so a failure names seed and step.
import t from 'tap';
import { setImmediate as nextTask } from 'node:timers/promises';
import { LAUNCHER_STAMP } from '../policies/kube/virt-launcher.js';
import { MIGRATION_JOB_LABEL } from '../policies/quota/launcher-pods.js';
import type { KubeObject, OwnerReference, ViewKind } from '../policies/types.js';
import { VIEW_KINDS } from '../server/cluster/object-store.js';
import { ObservedUsage } from '../server/cluster/observed-usage.js';
import { project } from '../server/cluster/projections.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { prng } from './helpers/prng.js';

const NOW = 1_700_000_000_000;
const NAMESPACES = ['ns-a', 'ns-b', 'ns-c'];
const TEAMS = ['x', 'y', 'none'];
const VMS = ['vm0', 'vm1', 'vm2'];

class Events {
  readonly view = new SnapshotView({});
  readonly log: string[] = [];
  private n = 0;

  constructor(readonly r: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.r() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  put(kind: ViewKind, obj: KubeObject): void {
    const meta = { ...obj.metadata, resourceVersion: String(++this.n) };
    this.view.store.upsert(kind, project(kind, { ...obj, kind, metadata: meta }));
    this.log.push(`put ${kind} ${meta.namespace ?? ''}/${meta.name}`);
  }

  remove(kind: ViewKind, namespace: string | undefined, name: string): void {
    this.view.store.remove(kind, namespace, name);
    this.log.push(`remove ${kind} ${namespace ?? ''}/${name}`);
  }
}

function domain(e: Events): Record<string, unknown> {
  return { cpu: { cores: 1 + Math.floor(e.r() * 3) }, memory: { guest: e.pick(['1Gi', '2Gi']) }, devices: {} };
}

function vmiUid(ns: string, vm: string, generation: string): string {
  return `uid-${ns}-${vm}-vmi-${generation}`;
}

function ownerRef(kind: string, name: string, uid: string): OwnerReference {
  const apiVersion = kind === 'VirtualMachinePool' ? 'pool.kubevirt.io/v1beta1' : kind === 'DataVolume' ? 'cdi.kubevirt.io/v1beta1' : 'kubevirt.io/v1';
  return { apiVersion, kind, name, uid, controller: true };
}

/** One random event: an object put or removed, of any kind the observed usage follows. */
function step(e: Events): void {
  const ns = e.pick(NAMESPACES);
  const vm = e.pick(VMS);
  const gen = e.pick(['1', '2']);
  switch (Math.floor(e.r() * 17)) {
    case 0:
      return e.put('Namespace', { metadata: { name: ns, labels: { team: e.pick(TEAMS) } } });
    case 1:
      return e.chance(0.2) ? e.remove('Namespace', undefined, ns) : e.put('Namespace', { metadata: { name: ns, labels: { team: e.pick(TEAMS), other: e.pick(['a', 'b']) } } });
    case 2: {
      const name = e.pick(['tenant-x', 'tenant-y', 'tenant-z']);
      const spec: Record<string, unknown> =
        name === 'tenant-z' ? { namespaces: e.chance(0.5) ? ['ns-c'] : ['ns-c', 'ns-b'] } : { namespaceSelector: { matchLabels: { team: name.slice(-1) } } };
      const quota: Record<string, unknown> = { hard: { 'requests.cpu': '100', 'requests.memory': '100Gi' } };
      if (e.chance(0.5)) quota.vmCharging = 'guest';
      if (e.chance(0.5)) quota.defaultRequests = { cpu: '250m', memory: '64Mi' };
      return e.put('Tenant', { metadata: { name, uid: `uid-${name}` }, spec: { ...spec, quota }, status: { used: { pods: String(Math.floor(e.r() * 9)) } } });
    }
    case 3: {
      const name = `web-${Math.floor(e.r() * 3)}`;
      if (e.chance(0.25)) return e.remove('Pod', ns, name);
      const resources = e.chance(0.5) ? { requests: { cpu: '100m', memory: '128Mi' } } : {};
      const meta: Record<string, unknown> = { name, namespace: ns, uid: `uid-${ns}-${name}` };
      if (e.chance(0.2)) Object.assign(meta, { deletionTimestamp: new Date(NOW - 60_000).toISOString(), deletionGracePeriodSeconds: e.pick([30, 300]) });
      return e.put('Pod', { metadata: meta, spec: { containers: [{ name: 'app', resources }] }, status: { phase: e.pick(['Running', 'Pending', 'Succeeded']) } });
    }
    case 4: {
      // A launcher pod (or a migration target), stamped with one of two VMI generations' uids.
      const target = e.chance(0.4);
      const name = `virt-launcher-${vm}${target ? '-target' : ''}`;
      if (e.chance(0.2)) return e.remove('Pod', ns, name);
      const uid = vmiUid(ns, vm, gen);
      const labels: Record<string, string> = { 'kubevirt.io': 'virt-launcher' };
      if (target) labels[MIGRATION_JOB_LABEL] = 'mig-1';
      return e.put('Pod', {
        metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, labels, annotations: { [LAUNCHER_STAMP]: uid }, ownerReferences: [ownerRef('VirtualMachineInstance', vm, uid)] },
        spec: { containers: [{ name: 'compute', resources: { requests: { cpu: e.pick(['200m', '400m']), memory: e.pick(['1200Mi', '2400Mi']) } } }] },
        status: { phase: 'Running' },
      });
    }
    case 5:
    case 6: {
      if (e.chance(0.15)) return e.remove('VirtualMachine', ns, vm);
      const spec: Record<string, unknown> = { runStrategy: e.pick(['Always', 'Halted']), template: { spec: { domain: domain(e) } } };
      if (e.chance(0.4)) {
        spec.instancetype = { kind: 'VirtualMachineClusterInstancetype', name: e.pick(['it0', 'it1']) };
        spec.template = { spec: { domain: { devices: {} } } };
      }
      if (e.chance(0.5)) {
        spec.dataVolumeTemplates = [{ metadata: { name: `${vm}-disk` }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: e.pick(['1Gi', '3Gi']) } } } } }];
      }
      return e.put('VirtualMachine', { metadata: { name: vm, namespace: ns, uid: `uid-${ns}-${vm}` }, spec });
    }
    case 7: {
      if (e.chance(0.2)) return e.remove('VirtualMachineInstance', ns, vm);
      const owner = e.chance(0.7) ? ownerRef('VirtualMachine', vm, `uid-${ns}-${vm}`) : ownerRef('VirtualMachineInstanceReplicaSet', 'rs0', `uid-${ns}-rs0`);
      const activePods: Record<string, string> = { [`uid-${ns}-virt-launcher-${vm}`]: 'node-1' };
      if (e.chance(0.5)) activePods[`uid-${ns}-virt-launcher-${vm}-target`] = 'node-2';
      return e.put('VirtualMachineInstance', {
        metadata: { name: vm, namespace: ns, uid: vmiUid(ns, vm, gen), ownerReferences: [owner] },
        spec: { domain: domain(e) },
        status: { phase: e.pick(['Running', 'Scheduling', 'Succeeded']), activePods, nodeName: e.pick(['node-1', 'node-2']) },
      });
    }
    case 8: {
      if (e.chance(0.2)) return e.remove('VirtualMachineInstanceReplicaSet', ns, 'rs0');
      return e.put('VirtualMachineInstanceReplicaSet', {
        metadata: { name: 'rs0', namespace: ns, uid: `uid-${ns}-rs0` },
        spec: { replicas: Math.floor(e.r() * 3), template: { spec: { domain: domain(e) } } },
      });
    }
    case 9: {
      if (e.chance(0.2)) return e.remove('VirtualMachinePool', ns, 'pool0');
      return e.put('VirtualMachinePool', {
        metadata: { name: 'pool0', namespace: ns, uid: `uid-${ns}-pool0` },
        spec: { replicas: Math.floor(e.r() * 3), virtualMachineTemplate: { spec: { runStrategy: 'Always', template: { spec: { domain: domain(e) } } } } },
      });
    }
    case 10: {
      const name = e.pick(['pvc0', `${vm}-disk`, 'dv0']);
      if (e.chance(0.25)) return e.remove('PersistentVolumeClaim', ns, name);
      const spec: Record<string, unknown> = { resources: { requests: { storage: e.pick(['1Gi', '5Gi']) } } };
      if (e.chance(0.5)) spec.storageClassName = e.pick(['standard', 'fast', 'gone']);
      return e.put('PersistentVolumeClaim', { metadata: { name, namespace: ns, uid: `uid-${ns}-${name}-pvc` }, spec, status: { phase: 'Bound' } });
    }
    case 11: {
      const name = e.pick(['dv0', `${vm}-disk`]);
      if (e.chance(0.25)) return e.remove('DataVolume', ns, name);
      const spec = e.chance(0.3)
        ? { source: { pvc: { namespace: ns, name: 'pvc0' } }, storage: {} }
        : { source: { blank: {} }, pvc: { ...(e.chance(0.5) ? { storageClassName: 'fast' } : {}), resources: { requests: { storage: e.pick(['2Gi', '4Gi']) } } } };
      const meta: Record<string, unknown> = { name, namespace: ns, uid: `uid-${ns}-${name}-dv` };
      if (name !== 'dv0') meta.ownerReferences = [ownerRef('VirtualMachine', vm, `uid-${ns}-${vm}`)];
      return e.put('DataVolume', { metadata: meta, spec });
    }
    case 12: {
      const name = e.pick(['standard', 'fast']);
      const annotations: Record<string, string> = {};
      if (e.chance(0.5)) annotations['storageclass.kubernetes.io/is-default-class'] = 'true';
      if (e.chance(0.3)) annotations['storageclass.kubevirt.io/is-default-virt-class'] = 'true';
      if (e.chance(0.15)) return e.remove('StorageClass', undefined, name);
      return e.put('StorageClass', { metadata: { name, annotations, creationTimestamp: name === 'fast' ? '2025-01-01T00:00:00Z' : '2024-01-01T00:00:00Z' } });
    }
    case 13:
      return e.put('CDIConfig', { metadata: { name: 'config' }, status: { filesystemOverhead: { global: e.pick(['0.055', '0.1']), storageClass: { fast: e.pick(['0.2', '0']) } } } });
    case 14: {
      if (e.chance(0.15)) return e.remove('KubeVirt', 'kubevirt', 'kubevirt');
      const configuration = e.chance(0.5) ? { developerConfiguration: { cpuAllocationRatio: e.pick([5, 10]) } } : e.chance(0.3) ? { cpuRequest: 'lots' } : {};
      return e.put('KubeVirt', {
        metadata: { name: 'kubevirt', namespace: 'kubevirt' },
        spec: { configuration },
        status: { observedKubeVirtVersion: e.pick(['v1.3.0', 'v1.5.0']), phase: e.pick(['Deployed', 'Deploying']) },
      });
    }
    case 15: {
      const name = e.pick(['it0', 'it1']);
      if (e.chance(0.2)) return e.remove('VirtualMachineClusterInstancetype', undefined, name);
      return e.put('VirtualMachineClusterInstancetype', {
        metadata: { name, uid: `uid-${name}`, generation: 1 },
        spec: { cpu: { guest: 1 + Math.floor(e.r() * 4) }, memory: { guest: e.pick(['1Gi', '4Gi']) } },
      });
    }
    default: {
      // A plain pod removed or a launcher pod's VMI replaced: what the rest depends on moves.
      const kind = e.pick<ViewKind>(['Pod', 'VirtualMachineInstance', 'PersistentVolumeClaim', 'DataVolume', 'VirtualMachine']);
      const existing = e.view.list(kind, ns);
      if (existing.length > 0) e.remove(kind, ns, e.pick(existing).metadata!.name!);
    }
  }
}

/** What a fresh ObservedUsage computes from a copy of the store: the reference. */
function fromScratch(view: SnapshotView): ObservedUsage {
  const copy = new SnapshotView({});
  for (const kind of VIEW_KINDS as ReadonlySet<ViewKind>) {
    const objects = ['Namespace', 'Tenant', 'StorageClass', 'CDIConfig', 'VirtualMachineClusterInstancetype'].includes(kind)
      ? view.list(kind)
      : view.list(kind, undefined);
    for (const obj of objects) copy.store.upsert(kind, obj);
  }
  return new ObservedUsage(copy, { now: () => NOW });
}

/** Amounts without their zero entries, by name: a sum that went back to 0 and one never charged are the same usage. */
function nonZero(amounts: Readonly<Record<string, number>> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(amounts ?? {}).filter(([, v]) => v !== 0).sort(([a], [b]) => a.localeCompare(b)));
}

function snapshot(observed: ObservedUsage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const tenant of ['tenant-x', 'tenant-y', 'tenant-z']) {
    const namespaces = [...observed.usageByNamespace(tenant)].sort(([a], [b]) => a.localeCompare(b));
    const byNamespace = Object.fromEntries(namespaces.map(([ns, amounts]) => [ns, nonZero(amounts)]));
    out[tenant] = { usage: nonZero(observed.tenantUsage(tenant)), byNamespace, problems: observed.problems(tenant).sort(), notices: observed.notices(tenant).sort() };
  }
  return out;
}

t.test('after random event sequences the incremental observed usage equals a recomputation from scratch', async (t) => {
  const seeds = Number(process.env.OBSERVED_SEEDS ?? 12);
  for (let seed = 1; seed <= seeds; seed++) {
    const e = new Events(prng(seed));
    const observed = new ObservedUsage(e.view, { now: () => NOW });
    let mismatch: string | undefined;
    let charged = 0;
    for (let i = 0; i < 300 && mismatch === undefined; i++) {
      step(e);
      // Half the time the slices finish on their own before anything reads; otherwise a read settles them.
      if (e.chance(0.5)) for (let k = 0; k < 3; k++) await nextTask();
      if (i % 3 !== 0) continue;
      const got = snapshot(observed);
      const want = snapshot(fromScratch(e.view));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatch = `seed ${seed} step ${i}: after ${e.log.slice(-5).join('; ')}\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`;
      }
      for (const tenant of Object.values(got)) charged += Object.keys((tenant as { usage: object }).usage).length;
    }
    t.equal(mismatch, undefined, `seed ${seed}: incremental equals from scratch`);
    t.ok(charged > 0, `seed ${seed}: the sequence charged something`);
  }
});
