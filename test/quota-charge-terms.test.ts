// Property: the explanation of a charge is the charge. For random pods (containers, sidecars, init
// containers, pod-level resources, overhead, hugepages, in-place resizes, tenant defaults), VMs
// (topologies, instancetypes, dedicated CPUs and emulator threads, hugepages, TPM, probes, disks in
// classes with CDI overhead, run strategies), VMIs of VMs, replica sets and pools, under random
// KubeVirt versions and configurations and both vmCharging modes, the terms chargeOf writes add up
// to the charge it returns, resource by resource, and asking for terms does not change the charge.
// Seeded: a failure names the seed and the object.
import t from 'tap';
import { chargeOf, type ChargeContext, type ChargedKind } from '../policies/quota/charge.js';
import { kubevirtConfigOf } from '../policies/quota/kubevirt-launcher-resources.js';
import { Terms } from '../policies/quota/terms.js';
import type { KubeObject, ResourceAmounts } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { prng } from './helpers/prng.js';

const NS = 'team-a';

class Gen {
  constructor(readonly rnd: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }
  cpu(): string {
    return this.pick(['100m', '250m', '1', '1500m', '2', '0.1', '3']);
  }
  memory(): string {
    return this.pick(['64Mi', '100M', '1Gi', '1536Mi', '2Gi', '3G', '12Gi']);
  }
  list(): Record<string, string> | undefined {
    if (this.chance(0.25)) return undefined;
    const out: Record<string, string> = {};
    if (this.chance(0.8)) out.cpu = this.cpu();
    if (this.chance(0.8)) out.memory = this.memory();
    return out;
  }
}

function container(g: Gen, name: string, init: boolean): Record<string, unknown> {
  const c: Record<string, unknown> = { name, image: 'x' };
  const requests = g.list();
  const limits = g.list();
  if (g.chance(0.15)) {
    const size = g.pick(['2Mi', '1Gi']);
    const amount = g.pick(['2Mi', '4Mi', '1Gi', '2Gi']);
    (c as any).resources = { requests: { ...requests, [`hugepages-${size}`]: amount }, limits: { ...limits, [`hugepages-${size}`]: amount } };
  } else {
    c.resources = { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
  }
  if (init && g.chance(0.4)) c.restartPolicy = 'Always';
  return c;
}

function randomPod(g: Gen, i: number): KubeObject {
  const containers = Array.from({ length: g.int(1, 4) }, (_, k) => container(g, `c${k}`, false));
  const initContainers = g.chance(0.5) ? Array.from({ length: g.int(1, 3) }, (_, k) => container(g, `i${k}`, true)) : undefined;
  const spec: Record<string, unknown> = { containers };
  if (initContainers) spec.initContainers = initContainers;
  if (g.chance(0.2)) spec.overhead = { cpu: '250m', memory: '120Mi' };
  if (g.chance(0.15)) spec.resources = { requests: g.list() ?? {}, limits: g.list() ?? {} };
  const status: Record<string, unknown> = { phase: g.pick(['Running', 'Running', 'Pending', 'Succeeded']) };
  if (g.chance(0.3)) {
    // An in-place resize under way: the kubelet reports other resources than the spec asks for.
    status.containerStatuses = containers.map((c) => ({
      name: c.name,
      resources: { requests: g.list() ?? {}, limits: g.list() ?? {} },
      ...(g.chance(0.5) ? { allocatedResources: g.list() ?? {} } : {}),
    }));
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: NS, uid: `pod-uid-${i}` }, spec, status };
}

function vmiSpec(g: Gen, i: number): Record<string, unknown> {
  const domain: Record<string, any> = { devices: {} };
  if (g.chance(0.8)) domain.cpu = { sockets: g.int(1, 4), cores: g.int(1, 2), threads: 1 };
  if (g.chance(0.25)) domain.cpu = { ...domain.cpu, dedicatedCpuPlacement: true, isolateEmulatorThread: g.chance(0.5) };
  if (g.chance(0.8)) domain.memory = { guest: g.pick(['1Gi', '2Gi', '4Gi', '12Gi']) };
  if (g.chance(0.2)) domain.memory = { ...domain.memory, hugepages: { pageSize: g.pick(['2Mi', '1Gi']) } };
  const requests = g.chance(0.4) ? g.list() : undefined;
  const limits = g.chance(0.3) ? g.list() : undefined;
  if (requests || limits || g.chance(0.1)) domain.resources = { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}), ...(g.chance(0.2) ? { overcommitGuestOverhead: true } : {}) };
  if (g.chance(0.3)) domain.devices.tpm = {};
  if (g.chance(0.2)) domain.devices.autoattachGraphicsDevice = false;
  if (g.chance(0.1)) domain.devices.gpus = [{ name: 'gpu', deviceName: 'nvidia' }];
  if (g.chance(0.2)) domain.ioThreadsPolicy = 'supplementalPool';
  if (g.chance(0.2)) domain.ioThreads = { supplementalPoolThreadCount: g.int(1, 3) };
  const spec: Record<string, unknown> = { domain };
  if (g.chance(0.15)) spec.livenessProbe = { exec: { command: ['true'] } };
  if (g.chance(0.1)) spec.architecture = 'arm64';
  if (i < 0) spec.volumes = [];
  return spec;
}

function disks(g: Gen, vm: string): unknown[] | undefined {
  if (g.chance(0.5)) return undefined;
  return Array.from({ length: g.int(1, 3) }, (_, k) => {
    const form = g.chance(0.5) ? 'storage' : 'pvc';
    const claim: Record<string, unknown> = { resources: { requests: { storage: g.pick(['1Gi', '10Gi', '20Gi', '1000M']) } } };
    if (g.chance(0.5)) claim.storageClassName = g.pick(['standard', 'fast', 'thin']);
    if (g.chance(0.1)) claim.volumeMode = 'Block';
    return { metadata: { name: `${vm}-disk-${k}` }, spec: { source: { blank: {} }, [form]: claim } };
  });
}

function randomVm(g: Gen, i: number): KubeObject {
  const name = `vm-${i}`;
  const spec: Record<string, any> = { template: { spec: vmiSpec(g, i) } };
  if (g.chance(0.3)) spec.instancetype = { kind: 'VirtualMachineClusterInstancetype', name: g.pick(['u1.small', 'cx1.dedicated', 'm1.huge']) };
  const strategy = g.pick(['Always', 'Always', 'Halted', 'RerunOnFailure', 'Manual', undefined]);
  if (strategy !== undefined) spec.runStrategy = strategy;
  const templates = disks(g, name);
  if (templates) spec.dataVolumeTemplates = templates;
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace: NS, uid: `vm-uid-${i}` }, spec };
}

function instancetype(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name, uid: `it-${name}`, generation: 1 }, spec };
}

function world(g: Gen): SnapshotView {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const version = g.pick(['v1.3.1', 'v1.5.2', 'v1.9.0', 'v1.10.0', undefined]);
  const configuration: Record<string, unknown> = {};
  if (g.chance(0.3)) configuration.developerConfiguration = { cpuAllocationRatio: g.pick([4, 7, 10]), memoryOvercommit: g.pick([100, 150]) };
  if (g.chance(0.2)) configuration.additionalGuestMemoryOverheadRatio = g.pick(['1.5', '2']);
  view.add({
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: { name: 'kubevirt', namespace: 'kubevirt' },
    spec: { configuration },
    ...(version ? { status: { observedKubeVirtVersion: version } } : {}),
  });
  view.add(instancetype('u1.small', { cpu: { guest: 1 }, memory: { guest: '2Gi' } }));
  view.add(instancetype('cx1.dedicated', { cpu: { guest: 4, dedicatedCPUPlacement: true, isolateEmulatorThread: true }, memory: { guest: '8Gi' } }));
  view.add(instancetype('m1.huge', { cpu: { guest: 2 }, memory: { guest: '16Gi', hugepages: { pageSize: '1Gi' } } }));
  view.add({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } });
  view.add({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'fast' } });
  view.add({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDIConfig', metadata: { name: 'config' }, status: { filesystemOverhead: { global: '0.055', storageClass: { fast: '0.1' } } } });
  return view;
}

function agree(charge: ResourceAmounts, total: ResourceAmounts): string | undefined {
  for (const r of new Set([...Object.keys(charge), ...Object.keys(total)])) {
    if ((charge[r] ?? 0) !== (total[r] ?? 0)) return `${r}: charge ${charge[r] ?? 0}, terms add up to ${total[r] ?? 0}`;
  }
  return undefined;
}

const SEEDS = Number(process.env.TERMS_SEEDS ?? 60);

t.test('the terms of every charge add up to it', async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const g = new Gen(prng(seed));
    const view = world(g);
    const objects: Array<[ChargedKind, KubeObject]> = [];
    for (let i = 0; i < 8; i++) objects.push(['Pod', randomPod(g, i)]);
    for (let i = 0; i < 6; i++) {
      const vm = randomVm(g, i);
      view.add(vm);
      objects.push(['VirtualMachine', vm]);
      if (g.chance(0.5)) {
        // Its VMI, possibly grown by a hotplug: it pays what it runs beyond its VM.
        const vmi: KubeObject = {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          metadata: { name: vm.metadata!.name!, namespace: NS, uid: `vmi-uid-${i}`, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm.metadata!.name!, uid: vm.metadata!.uid!, controller: true }] },
          spec: g.chance(0.5) ? vm.spec.template.spec : vmiSpec(g, i),
          status: { phase: 'Running' },
        };
        view.add(vmi);
        objects.push(['VirtualMachineInstance', vmi]);
      }
    }
    const rs: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceReplicaSet', metadata: { name: 'rs', namespace: NS, uid: 'rs-uid' }, spec: { replicas: g.int(0, 4), template: { spec: vmiSpec(g, 99) } } };
    const pool: KubeObject = {
      apiVersion: 'pool.kubevirt.io/v1alpha1',
      kind: 'VirtualMachinePool',
      metadata: { name: 'pool', namespace: NS, uid: 'pool-uid' },
      spec: { replicas: g.int(0, 3), virtualMachineTemplate: { spec: { runStrategy: 'Always', template: { spec: vmiSpec(g, 98) } } } },
    };
    objects.push(['VirtualMachineInstanceReplicaSet', rs], ['VirtualMachinePool', pool]);
    objects.push(['PersistentVolumeClaim', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: NS }, spec: { storageClassName: g.pick(['fast', 'standard']), resources: { requests: { storage: g.pick(['5Gi', '8Gi']) } } } }]);
    const base: ChargeContext = {
      view,
      namespace: NS,
      vmCharging: g.pick(['pod', 'pod', 'guest'] as const),
      kubevirt: kubevirtConfigOf(view),
      ...(g.chance(0.3) ? { podDefaults: { cpu: 100, memory: 128 * 1024 * 1024 } } : {}),
    };
    for (const [kind, obj] of objects) {
      const where = `seed ${seed}, ${kind} ${obj.metadata?.name}`;
      let plain;
      try {
        plain = chargeOf(kind, obj, base);
      } catch {
        // A spec the charge rejects (e.g. a pod-level limit below a request) is not explained either.
        continue;
      }
      const terms = new Terms();
      const explained = chargeOf(kind, obj, { ...base, terms });
      t.same(explained, plain, `${where}: asking for terms does not change the charge`);
      const mismatch = agree(explained, terms.total());
      if (mismatch !== undefined) t.fail(`${where}: ${mismatch}\n${JSON.stringify(terms.list, null, 1)}\n${JSON.stringify(obj.spec)}`);
      checked++;
    }
  }
  t.ok(checked > SEEDS * 10, `${checked} charges explained`);
});

t.test('a VM explained: guest memory, each overhead term under the KubeVirt version, dedicated CPUs and the emulator thread, disks with CDI overhead', async (t) => {
  const g = new Gen(prng(1));
  const view = world(g);
  view.add({ apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: 'kubevirt' }, spec: { configuration: {} }, status: { observedKubeVirtVersion: 'v1.9.0' } });
  const vm: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'db', namespace: NS, uid: 'db-uid' },
    spec: {
      runStrategy: 'Always',
      template: { spec: { domain: { cpu: { cores: 4, dedicatedCpuPlacement: true, isolateEmulatorThread: true }, memory: { guest: '12Gi' }, devices: { tpm: {} } } } },
      dataVolumeTemplates: [{ metadata: { name: 'db-root' }, spec: { source: { blank: {} }, storage: { storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } } } }],
    },
  };
  const terms = new Terms();
  const charge = chargeOf('VirtualMachine', vm, { view, namespace: NS, vmCharging: 'pod', kubevirt: kubevirtConfigOf(view), terms });
  const byLabel = new Map(terms.list.map((x) => [x.label, x]));
  const Mi = 1024 * 1024;
  t.equal(byLabel.get('guest memory 12Gi')?.amounts['requests.memory'], 12 * 1024 * Mi);
  t.equal(byLabel.get('virt-launcher, libvirt and qemu processes')?.amounts['requests.memory'], 220 * Mi, 'v1.9 fixed process overhead');
  t.equal(byLabel.get('virt-launcher, libvirt and qemu processes')?.group, 'KubeVirt v1.9.0 overhead');
  t.equal(byLabel.get('TPM')?.amounts['requests.memory'], 53 * Mi);
  t.equal(byLabel.get('dedicated CPUs')?.amounts['requests.memory'], 100 * Mi);
  t.equal(byLabel.get('4 dedicated vCPUs')?.amounts['requests.cpu'], 4000);
  t.equal(byLabel.get('isolated emulator thread')?.amounts['requests.cpu'], 1000);
  t.equal(charge['requests.cpu'], 5000);
  t.ok(byLabel.get('disk db-root 20Gi (class fast)'), 'the disk with its class');
  t.ok((byLabel.get('CDI filesystem overhead of disk db-root')?.amounts['requests.storage'] ?? 0) > 2 * 1024 * Mi, '10% of 20Gi');
  t.equal(agree(charge, terms.total()), undefined);
});
