import t from 'tap';
import {
  DEFAULT_KUBEVIRT_CONFIG,
  guestResources,
  instancetypeSizing,
  kubevirtConfigOf,
  launcherResources,
  type KubeVirtResourceConfig,
} from '../policies/quota/kubevirt-launcher-resources.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const BASE = 220 * Mi + 8 * Mi /* IOThread */ + 32 * Mi; /* video */

const spec = (domain: Record<string, unknown>, rest: Record<string, unknown> = {}) => ({ domain, ...rest });
const cfg = (over: Partial<KubeVirtResourceConfig> = {}): KubeVirtResourceConfig => ({ ...DEFAULT_KUBEVIRT_CONFIG, ...over });

t.test("KubeVirt's anchor: 1 vCPU with requests.memory 1Gi has 270Mi overhead (v1.9)", async (t) => {
  const input = { spec: spec({ cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(input, cfg()).memoryOverhead, 270 * Mi);
  t.same(launcherResources(input, cfg()), {
    requestsCpu: 100, // 1 vCPU / cpuAllocationRatio 10
    requestsMemory: Gi + 270 * Mi,
    limitsCpu: 1000, // no limits set: the effective limit is the vCPU count
    limitsMemory: Gi + 270 * Mi,
    memoryOverhead: 270 * Mi,
  });
});

t.test('vCPUs are sockets x cores x threads; each adds 8Mi of overhead and 1/ratio of a CPU', async (t) => {
  const input = { spec: spec({ cpu: { sockets: 2, cores: 2, threads: 2 }, resources: { requests: { memory: '2Gi' } } }), where: 'spec' };
  const r = launcherResources(input, cfg());
  t.equal(r.requestsCpu, 800);
  t.equal(r.limitsCpu, 8000);
  t.equal(launcherResources(input, cfg()).memoryOverhead, 4 * Mi + BASE + 8 * 8 * Mi);
});

t.test('an empty CPU topology takes its sockets from limits.cpu, else requests.cpu, else 1', async (t) => {
  const fromLimit = { spec: spec({ resources: { limits: { cpu: '3' }, requests: { memory: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(fromLimit, cfg()).memoryOverhead, 2 * Mi + BASE + 3 * 8 * Mi);
  t.equal(launcherResources(fromLimit, cfg()).requestsCpu, 3000, 'the CPU request defaults to the limit');
  const fromRequest = { spec: spec({ resources: { requests: { cpu: '1500m', memory: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(fromRequest, cfg()).memoryOverhead, 2 * Mi + BASE + 2 * 8 * Mi, '1500m rounds up to 2 sockets');
});

t.test('cpuAllocationRatio from the KubeVirt CR, printed with %g and parsed back as KubeVirt does', async (t) => {
  const view = new SnapshotView({});
  view.add({
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: { name: 'kubevirt', namespace: 'kubevirt' },
    spec: { configuration: { developerConfiguration: { cpuAllocationRatio: 7, memoryOvercommit: 150 } } },
  });
  const config = kubevirtConfigOf(view);
  t.same(config, { ...DEFAULT_KUBEVIRT_CONFIG, cpuAllocationRatio: 7, memoryOvercommit: 150 });
  const input = { spec: spec({ cpu: { cores: 3 }, memory: { guest: '3Gi' } }), where: 'spec' };
  const r = launcherResources(input, config);
  t.equal(r.requestsCpu, 429, '3/7 renders as 428.57142857142856m and rounds up');
  t.equal(r.requestsMemory, 2 * Gi + BASE + 3 * 8 * Mi, 'guest 3Gi at 150% overcommit requests 2Gi; no page-table term without requests.memory');
  t.same(kubevirtConfigOf(new SnapshotView({})), DEFAULT_KUBEVIRT_CONFIG, 'no KubeVirt CR: the defaults');
});

t.test("a VMI's own CPU request wins over the ratio", async (t) => {
  const input = { spec: spec({ cpu: { cores: 4 }, resources: { requests: { cpu: '2', memory: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(input, cfg()).requestsCpu, 2000);
});

t.test('dedicated CPUs: requests = limits = vCPUs (+1 isolated emulator thread), memory limit = request, +100Mi', async (t) => {
  const input = {
    spec: spec({ cpu: { cores: 4, dedicatedCpuPlacement: true, isolateEmulatorThread: true }, resources: { requests: { memory: '4Gi' } } }),
    where: 'spec',
  };
  // Page tables for 4Gi are 8Mi + 1 byte: GetMemoryOverhead rounds the request up to kilobytes first.
  const overhead = 8 * Mi + 1 + BASE + 4 * 8 * Mi + 100 * Mi;
  t.equal(launcherResources(input, cfg()).memoryOverhead, overhead);
  t.same(launcherResources(input, cfg()), { requestsCpu: 5000, limitsCpu: 5000, requestsMemory: 4 * Gi + overhead, limitsMemory: 4 * Gi + overhead, memoryOverhead: overhead });
});

t.test('memory: limits only, overcommitGuestOverhead, hugepages', async (t) => {
  const limitsOnly = { spec: spec({ cpu: { cores: 1 }, resources: { limits: { memory: '2Gi' } } }), where: 'spec' };
  const o = BASE + 8 * Mi; // the spec has no memory request: no page-table term
  t.same(launcherResources(limitsOnly, cfg()), { requestsCpu: 100, limitsCpu: 1000, requestsMemory: 2 * Gi + o, limitsMemory: 2 * Gi + o, memoryOverhead: o });

  const overcommitted = { spec: spec({ cpu: { cores: 1 }, resources: { overcommitGuestOverhead: true, requests: { memory: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(overcommitted, cfg()).requestsMemory, Gi, 'the overhead is not requested');

  const hugepages = { spec: spec({ cpu: { cores: 1 }, memory: { guest: '4Gi', hugepages: { pageSize: '1Gi' } } }), where: 'spec' };
  t.equal(launcherResources(hugepages, cfg()).requestsMemory, o, 'the guest lives in hugepages-1Gi; requests.memory is the overhead');
});

t.test('device, probe, TPM, SEV, graphics and architecture terms', async (t) => {
  const base = { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } };
  const anchor = 270 * Mi;
  const overhead = (s: object) => launcherResources({ spec: s, where: 'spec' }, cfg()).memoryOverhead;
  t.equal(overhead(spec({ ...base, devices: { autoattachGraphicsDevice: false } })), anchor - 32 * Mi);
  t.equal(overhead(spec({ ...base, devices: { gpus: [{ name: 'g', deviceName: 'nvidia.com/GA102' }] } })), anchor + Gi);
  t.equal(overhead(spec({ ...base, devices: { interfaces: [{ name: 'n', sriov: {} }] } })), anchor + Gi);
  t.equal(overhead(spec({ ...base, devices: { tpm: {} } })), anchor + 53 * Mi);
  t.equal(overhead(spec({ ...base, devices: { tpm: { enabled: false } } })), anchor);
  t.equal(overhead(spec({ ...base, launchSecurity: { sev: {} } })), anchor + 256 * Mi);
  t.equal(overhead(spec(base, { livenessProbe: { exec: { command: ['true'] } }, readinessProbe: { exec: { command: ['true'] } } })), anchor + 120 * Mi);
  t.equal(overhead(spec(base, { volumes: [{ name: 'm', downwardMetrics: {} }] })), anchor + Mi);
  t.equal(overhead(spec(base, { architecture: 'arm64' })), anchor + 128 * Mi);
  t.equal(overhead(spec({ cpu: { cores: 1 }, resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } })), anchor + 100 * Mi, 'guaranteed QoS');
  t.equal(
    launcherResources({ spec: spec(base), where: 'spec' }, cfg({ overheadRatio: '1.5' })).memoryOverhead,
    anchor + Math.trunc(Math.ceil(anchor / 1000) * 0.5) * 1000,
    'additionalGuestMemoryOverheadRatio scales the kilobytes, as multiplyMemory does',
  );
});

t.test('a published overhead only ever raises the formula; the annotation of a tenant is not read', async (t) => {
  const s = spec({ cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } });
  const withStatus = (memoryOverhead: string) => launcherResources({ spec: s, where: 'spec', status: { memory: { memoryOverhead } } }, cfg());
  t.equal(withStatus('300Mi').memoryOverhead, 300 * Mi);
  t.equal(withStatus('300Mi').requestsMemory, Gi + 300 * Mi);
  t.equal(withStatus('0').memoryOverhead, 270 * Mi, 'a smaller figure leaves the formula');
  t.equal(withStatus('-1Pi').requestsMemory, Gi + 270 * Mi, 'a negative figure frees nothing');
  t.equal(withStatus('lots').memoryOverhead, 270 * Mi, 'an unreadable figure leaves the formula');
  const annotated = { ...s, metadata: { annotations: { 'kubevirt.io/memory-overhead-bytes': '0' } } };
  t.equal(launcherResources({ spec: annotated, where: 'spec' }, cfg()).memoryOverhead, 270 * Mi);
});

t.test('the overhead follows the KubeVirt version the cluster runs', async (t) => {
  const s = spec({ cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } });
  const at = (observedKubeVirtVersion: string | undefined) => {
    const view = new SnapshotView({});
    view.add({ apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: 'kubevirt' }, spec: {}, status: { observedKubeVirtVersion } });
    return launcherResources({ spec: s, where: 'spec' }, kubevirtConfigOf(view)).memoryOverhead;
  };
  t.equal(at('v1.9.0'), 270 * Mi, 'v1.9: 220Mi fixed, 32Mi video');
  t.equal(at('v1.10.0'), 290 * Mi, 'the next release: qemu 50Mi');
  t.equal(at('v1.6.3'), 270 * Mi);
  t.equal(at('v1.5.2'), 254 * Mi, 'v1.5: 16Mi video');
  t.equal(at('v1.4.0'), 244 * Mi, 'v1.4: virtlogd 20Mi, virtqemud 35Mi');
  t.equal(at('v1.9.0-rc.2'), 270 * Mi);
  t.equal(at('v1.10.0-alpha.0+abc'), 290 * Mi);
  t.equal(at('garbage'), 290 * Mi, 'unreadable: the largest');
  t.equal(at(undefined), 270 * Mi, 'no version observed: the latest release, v1.9');
});

t.test('vmCharging guest: requests = limits = vCPUs and guest memory', async (t) => {
  const input = { spec: spec({ cpu: { sockets: 2, cores: 2 }, memory: { guest: '8Gi' } }), where: 'spec' };
  t.same(guestResources(input, cfg()), { requestsCpu: 4000, limitsCpu: 4000, requestsMemory: 8 * Gi, limitsMemory: 8 * Gi });
  const fromRequest = { spec: spec({ cpu: { cores: 1 }, resources: { requests: { memory: '3Gi' } } }), where: 'spec' };
  t.equal(guestResources(fromRequest, cfg()).requestsMemory, 3 * Gi, 'guest memory defaults to the memory request');
});

t.test('instancetypes size the guest', async (t) => {
  const it = instancetypeSizing({
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineClusterInstancetype',
    metadata: { name: 'u1.medium' },
    spec: { cpu: { guest: 2 }, memory: { guest: '4Gi' } },
  });
  const r = launcherResources({ spec: spec({}), where: 'spec.template.spec', instancetype: it }, cfg());
  t.same(r, { requestsCpu: 200, limitsCpu: 2000, requestsMemory: 4 * Gi + BASE + 2 * 8 * Mi, limitsMemory: 4 * Gi + BASE + 2 * 8 * Mi, memoryOverhead: BASE + 2 * 8 * Mi });
  t.throws(() => instancetypeSizing({ kind: 'VirtualMachineInstancetype', metadata: { name: 'broken' }, spec: { cpu: {} } }), {
    message: 'VirtualMachineInstancetype broken: spec.cpu.guest must be a positive integer',
  });
});

t.test('a bad quantity in a VM names its field', async (t) => {
  t.throws(() => launcherResources({ spec: spec({ resources: { requests: { memory: '1 Gi' } } }), where: 'spec.template.spec' }, cfg()), {
    message: /^spec\.template\.spec\.domain\.resources\.requests\.memory: invalid quantity "1 Gi"/,
  });
});
