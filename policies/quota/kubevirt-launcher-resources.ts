// The compute resources KubeVirt gives the virt-launcher pod of a VMI ("vmCharging: pod"), or the
// guest's own size ("vmCharging: guest").
//
// Read from KubeVirt's source, and matching KubeVirt v1.9:
// - virt-api defaulting (pkg/defaults setDefaultResourceRequests, SetDefaultGuestCPUTopology,
//   setGuestMemory): a CPU request defaults to the CPU limit (or to configuration.cpuRequest); a CPU
//   topology left empty gets sockets = limits.cpu, else requests.cpu, else 1; the memory request is
//   no longer defaulted in the spec (older releases did, in pkg/virt-api/webhooks/defaults.go).
// - the renderer's WithMemoryRequests: the memory request is requests.memory, else limits.memory,
//   else the guest memory (or hugepage size) scaled by developerConfiguration.memoryOvercommit.
// - the pod's compute container (pkg/virt-controller/services/renderresources.go, VMIResourcePredicates
//   in template.go): without dedicated CPUs the CPU request is (vCPUs + IO threads) /
//   cpuAllocationRatio, printed with %g and parsed back as a quantity, unless the VMI requests CPU;
//   with dedicated CPUs requests = limits = vCPUs + IO threads (+1 for isolateEmulatorThread) and the
//   memory limit equals the request; memory = request + overhead (the overhead is not requested with
//   overcommitGuestOverhead; with hugepages only the overhead and the request beyond the guest are).
// - the overhead (pkg/hypervisor/kvm GetMemoryOverhead in v1.9; renderresources.go before): page
//   tables (the spec's requests.memory / 512, so none without one), the fixed process RSS, 8Mi per
//   vCPU, 8Mi IOThread, video RAM, 128Mi on arm64, 1Gi with VFIO devices, 1Mi for downward
//   metrics, exec-probe terms, 256Mi SEV, 53Mi TPM, 100Mi for dedicated CPUs or guaranteed QoS,
//   then additionalGuestMemoryOverheadRatio. The fixed RSS and video RAM changed between releases:
//   kubevirt-versions.ts has them by the version the cluster runs.
//   A published figure is trusted only where KubeVirt writes it and only to raise the charge: the
//   VMI's status.memory.memoryOverhead (virt-controller pkg/virt-controller/watch/vmi/lifecycle.go
//   sets it; a tenant creating a VMI can send a status too, so it never lowers the formula). The
//   kubevirt.io/memory-overhead-bytes annotation on a VM, VMI or template is the tenant's to write
//   and is not read at all ("-1Pi" would free memory, "0" drop the overhead).
// - hugepages (renderresources.go WithHugePages): the pod requests hugepages-<pageSize> equal to the
//   memory request, capped at the guest memory; requests.memory is then the overhead plus what the
//   request exceeds the guest by. Charged as requests.hugepages-<pageSize>, as the built-in quota
//   names it.
// Not modelled: support containers (container disks, hook sidecars, console log: a few millicores
// each), network binding plugin memory, auto memory/CPU limits from namespace ResourceQuotas and
// the emulator-thread even-parity annotation. Where the VMI sets no limits the effective limits are
// charged instead (SPEC 6.4): CPU = vCPUs + IO threads, memory = the memory request.
// With a Terms collector, each step writes what it adds (terms.ts): the guest memory or request,
// each overhead term under the KubeVirt version whose formula applied, vCPUs, IO threads, the
// emulator thread.
import { formatUnits, parseMilli, parseUnits } from '../kube/quantity.js';
import type { ClusterView, KubeObject } from '../types.js';
import { overheadTermsFor, V1_9_OVERHEAD_TERMS, type OverheadTerms } from './kubevirt-versions.js';
import { LIMITS_CPU, LIMITS_MEMORY, REQUESTS_CPU, REQUESTS_HUGEPAGES_PREFIX, REQUESTS_MEMORY } from './resources.js';
import type { Terms } from './terms.js';

const Mi = 1024 * 1024;
const PER_VCPU_OVERHEAD = 8 * Mi;
const IOTHREAD_OVERHEAD = 8 * Mi;
const ARM64_PFLASH_OVERHEAD = 128 * Mi;
const VFIO_OVERHEAD = 1024 * Mi;
const DOWNWARD_METRICS_OVERHEAD = 1 * Mi;
const PROBE_OVERHEAD = 10 * Mi;
const PROBE_BINARY_OVERHEAD = 100 * Mi;
const SEV_OVERHEAD = 256 * Mi;
const TPM_OVERHEAD = 53 * Mi;
const DEDICATED_OVERHEAD = 100 * Mi;
const DEFAULT_CPU_REQUEST_MILLI = 100;

/** What KubeVirt's cluster configuration (the KubeVirt CR's spec.configuration) changes here. */
export interface KubeVirtResourceConfig {
  /** developerConfiguration.cpuAllocationRatio; KubeVirt's default is 10. */
  cpuAllocationRatio: number;
  /** developerConfiguration.memoryOvercommit in percent; default 100. */
  memoryOvercommit: number;
  /** configuration.cpuRequest in millicores when set to something other than the 100m default. */
  cpuRequestMilli: number | undefined;
  /** configuration.additionalGuestMemoryOverheadRatio, e.g. "1.5". */
  overheadRatio: string | undefined;
  /** The version-dependent overhead terms (status.observedKubeVirtVersion, kubevirt-versions.ts). */
  overheadTerms: OverheadTerms;
  /** status.observedKubeVirtVersion, where the KubeVirt CR has one. */
  version?: string;
}

export const DEFAULT_KUBEVIRT_CONFIG: KubeVirtResourceConfig = {
  cpuAllocationRatio: 10,
  memoryOvercommit: 100,
  cpuRequestMilli: undefined,
  overheadRatio: undefined,
  overheadTerms: V1_9_OVERHEAD_TERMS,
};

/** The configuration of the first KubeVirt CR not being deleted (as virt-controller reads it). */
export function kubevirtConfigOf(view: ClusterView): KubeVirtResourceConfig {
  const kv = view.list('KubeVirt').find((k) => k.metadata?.deletionTimestamp === undefined);
  const observed = kv?.status?.observedKubeVirtVersion;
  const overheadTerms = overheadTermsFor(typeof observed === 'string' ? observed : undefined);
  const version = typeof observed === 'string' && observed !== '' ? { version: observed } : {};
  const conf = kv?.spec?.configuration;
  if (!conf) return overheadTerms === V1_9_OVERHEAD_TERMS && !version.version ? DEFAULT_KUBEVIRT_CONFIG : { ...DEFAULT_KUBEVIRT_CONFIG, overheadTerms, ...version };
  const dev = conf.developerConfiguration ?? {};
  const ratio = typeof dev.cpuAllocationRatio === 'number' && dev.cpuAllocationRatio > 0 ? dev.cpuAllocationRatio : 10;
  const overcommit = typeof dev.memoryOvercommit === 'number' && dev.memoryOvercommit > 0 ? dev.memoryOvercommit : 100;
  let cpuRequest: number | undefined;
  try {
    cpuRequest = conf.cpuRequest === undefined ? undefined : parseMilli(conf.cpuRequest);
  } catch (err) {
    throw new Error(`KubeVirt ${kv?.metadata?.name ?? ''} spec.configuration.cpuRequest: ${(err as Error).message}`);
  }
  return {
    cpuAllocationRatio: ratio,
    memoryOvercommit: overcommit,
    cpuRequestMilli: cpuRequest === DEFAULT_CPU_REQUEST_MILLI ? undefined : cpuRequest,
    overheadRatio: typeof conf.additionalGuestMemoryOverheadRatio === 'string' ? conf.additionalGuestMemoryOverheadRatio : undefined,
    overheadTerms,
    ...version,
  };
}

/** How a charge names the overhead formula: "KubeVirt v1.9.0 overhead", or the formula assumed. */
export function overheadGroup(config: KubeVirtResourceConfig): string {
  return config.version !== undefined
    ? `KubeVirt ${config.version} overhead`
    : `KubeVirt ${config.overheadTerms.releases} overhead (version not observed)`;
}

/** The sizing an instancetype imposes (instancetype.kubevirt.io spec.cpu / spec.memory). */
export interface InstancetypeSizing {
  guestCpus: number;
  guestMemory: string | number;
  dedicatedCpuPlacement: boolean;
  isolateEmulatorThread: boolean;
  hugepagesPageSize: string | undefined;
}

export interface ComputeResources {
  requestsCpu: number;
  requestsMemory: number;
  limitsCpu: number;
  limitsMemory: number;
}

export interface LauncherResources extends ComputeResources {
  /** The memory overhead included above (KubeVirt's formula, or a larger figure KubeVirt published). */
  memoryOverhead: number;
  /** hugepages-<pageSize> the pod requests for a hugepage-backed guest. */
  hugepages?: { pageSize: string; amount: number };
}

type List = Record<string, string | number> | null | undefined;

function amount(list: List, name: 'cpu' | 'memory', where: string): number | undefined {
  const v = list?.[name];
  if (v === undefined) return undefined;
  try {
    return name === 'cpu' ? parseMilli(v) : parseUnits(v);
  } catch (err) {
    throw new Error(`${where}.${name}: ${(err as Error).message}`);
  }
}

function quantity(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${where}: not a quantity`);
  try {
    return parseUnits(v);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

/** hardware.GetNumberOfVCPUs: sockets * cores * threads, each counted only when set. */
function vcpusOf(cpu: { sockets?: number; cores?: number; threads?: number }): number {
  let n = count(cpu.cores);
  for (const f of [count(cpu.sockets), count(cpu.threads)]) {
    if (f !== 0) n = n === 0 ? f : n * f;
  }
  return n;
}

/** A VMI spec as KubeVirt v1.9 sizes it, reduced to what sizing reads. */
interface SizedVmi {
  vcpus: number;
  ioThreads: number;
  dedicated: boolean;
  isolateEmulatorThread: boolean;
  requestsCpu: number | undefined;
  limitsCpu: number | undefined;
  /** spec.domain.resources.requests.memory as written: v1.9 no longer defaults it in the VMI spec. */
  specRequestsMemory: number | undefined;
  /** The compute container's memory request before overhead (renderer WithMemoryRequests). */
  memory: number;
  /** Where `memory` came from, for the explanation. */
  memorySource: string;
  limitsMemory: number | undefined;
  guestMemory: number | undefined;
  hugepages: boolean;
  pageSize: string | undefined;
  overcommitGuestOverhead: boolean;
}

function sizeOf(spec: any, instancetype: InstancetypeSizing | undefined, config: KubeVirtResourceConfig, where: string): SizedVmi {
  const domain = spec?.domain ?? {};
  const resources = domain.resources ?? {};
  const cpu = instancetype
    ? { sockets: instancetype.guestCpus, cores: 1, threads: 1, dedicatedCpuPlacement: instancetype.dedicatedCpuPlacement, isolateEmulatorThread: instancetype.isolateEmulatorThread }
    : (domain.cpu ?? {});
  const specGuest = instancetype
    ? quantity(instancetype.guestMemory, 'instancetype spec.memory.guest')
    : quantity(domain.memory?.guest, `${where}.domain.memory.guest`);
  const pageSize: unknown = instancetype ? instancetype.hugepagesPageSize : domain.memory?.hugepages?.pageSize;
  const hugepages = pageSize !== undefined;
  const pageBytes = hugepages ? quantity(pageSize, `${where}.domain.memory.hugepages.pageSize`) : undefined;
  const dedicated = cpu.dedicatedCpuPlacement === true;

  // virt-api (pkg/defaults setDefaultResourceRequests): only CPU requests are defaulted in the spec.
  let requestsCpu = amount(resources.requests, 'cpu', `${where}.domain.resources.requests`);
  const limitsCpu = amount(resources.limits, 'cpu', `${where}.domain.resources.limits`);
  const specRequestsMemory = amount(resources.requests, 'memory', `${where}.domain.resources.requests`);
  const limitsMemory = amount(resources.limits, 'memory', `${where}.domain.resources.limits`);
  if (limitsCpu && !requestsCpu) requestsCpu = limitsCpu;
  if (config.cpuRequestMilli !== undefined && resources.requests?.cpu === undefined && requestsCpu === undefined && !dedicated) {
    requestsCpu = config.cpuRequestMilli;
  }

  // renderer WithMemoryRequests: the limit, else the guest memory (or page size) scaled by memoryOvercommit.
  let memory = specRequestsMemory;
  let memorySource = 'memory request';
  if (limitsMemory && !memory) {
    memory = limitsMemory;
    memorySource = 'memory limit';
  }
  if (memory === undefined) {
    const guest = specGuest ?? pageBytes;
    if (guest !== undefined && guest > 0) {
      const scaled = config.memoryOvercommit === 100 || hugepages;
      memory = scaled ? guest : Math.floor((guest * 100) / config.memoryOvercommit);
      memorySource = scaled ? 'guest memory' : `guest memory at memoryOvercommit ${config.memoryOvercommit}%`;
    }
  }

  let vcpus = vcpusOf(cpu);
  if (count(cpu.sockets) === 0 && count(cpu.cores) === 0 && count(cpu.threads) === 0) {
    // SetDefaultGuestCPUTopology: sockets from limits, else requests (Quantity.Value rounds up), cores = threads = 1.
    const from = resources.limits?.cpu !== undefined ? limitsCpu : requestsCpu;
    vcpus = from === undefined ? 1 : Math.ceil(from / 1000) || 1;
  }
  return {
    vcpus,
    ioThreads: count(domain.ioThreads?.supplementalPoolThreadCount),
    dedicated,
    isolateEmulatorThread: cpu.isolateEmulatorThread === true,
    requestsCpu,
    limitsCpu,
    specRequestsMemory,
    memory: memory ?? 0,
    memorySource,
    limitsMemory,
    // setGuestMemory: the guest memory, else a non-zero request, else a non-zero limit, else the page size.
    guestMemory: specGuest ?? (specRequestsMemory || undefined) ?? (limitsMemory || undefined) ?? pageBytes,
    hugepages,
    pageSize: hugepages ? String(pageSize) : undefined,
    overcommitGuestOverhead: resources.overcommitGuestOverhead === true,
  };
}

/** VirtualMachineInstance.WantsToHaveQOSGuaranteed. */
function wantsGuaranteedQos(s: SizedVmi): boolean {
  return !!s.specRequestsMemory && s.specRequestsMemory === s.limitsMemory && !!s.requestsCpu && s.requestsCpu === s.limitsCpu;
}

/** One overhead term: its name and bytes (only collected when explaining). */
type OverheadPart = [label: string, bytes: number];

/**
 * GetMemoryOverhead (KubeVirt v1.9, kvm), in bytes; with `parts`, each term by name. The label
 * arguments of `parts?.push` are evaluated only when explaining.
 */
function memoryOverhead(spec: any, s: SizedVmi, config: KubeVirtResourceConfig, parts?: OverheadPart[]): number {
  const domain = spec?.domain ?? {};
  const devices = domain.devices ?? {};
  // Page tables: the spec's memory request in (rounded-up) kilobytes, one bit per 512 bytes.
  const pageTables = Math.floor((Math.ceil((s.specRequestsMemory ?? 0) / 1000) * 1000) / 512);
  let overhead = pageTables;
  if (pageTables > 0) parts?.push(['page tables', pageTables]);
  overhead += config.overheadTerms.fixedProcess;
  parts?.push(['virt-launcher, libvirt and qemu processes', config.overheadTerms.fixedProcess]);
  const vcpus = Math.max(s.vcpus, 1);
  overhead += PER_VCPU_OVERHEAD * vcpus;
  parts?.push([`${vcpus} vCPU x 8Mi`, PER_VCPU_OVERHEAD * vcpus]);
  overhead += IOTHREAD_OVERHEAD;
  parts?.push(['IOThread', IOTHREAD_OVERHEAD]);
  if (devices.autoattachGraphicsDevice !== false) {
    overhead += config.overheadTerms.videoRam;
    parts?.push(['video RAM', config.overheadTerms.videoRam]);
  }
  if (spec?.architecture === 'arm64') {
    overhead += ARM64_PFLASH_OVERHEAD;
    parts?.push(['arm64 pflash', ARM64_PFLASH_OVERHEAD]);
  }
  const sriov = Array.isArray(devices.interfaces) && devices.interfaces.some((i: any) => i?.sriov != null);
  if ((devices.hostDevices?.length ?? 0) > 0 || (devices.gpus?.length ?? 0) > 0 || sriov) {
    overhead += VFIO_OVERHEAD;
    parts?.push(['VFIO devices', VFIO_OVERHEAD]);
  }
  if (Array.isArray(spec?.volumes) && spec.volumes.some((v: any) => v?.downwardMetrics != null)) {
    overhead += DOWNWARD_METRICS_OVERHEAD;
    parts?.push(['downward metrics', DOWNWARD_METRICS_OVERHEAD]);
  }
  const liveness = spec?.livenessProbe?.exec != null;
  const readiness = spec?.readinessProbe?.exec != null;
  if (liveness) {
    overhead += PROBE_OVERHEAD;
    parts?.push(['exec liveness probe', PROBE_OVERHEAD]);
  }
  if (readiness) {
    overhead += PROBE_OVERHEAD;
    parts?.push(['exec readiness probe', PROBE_OVERHEAD]);
  }
  if (liveness || readiness) {
    overhead += PROBE_BINARY_OVERHEAD;
    parts?.push(['probe binary', PROBE_BINARY_OVERHEAD]);
  }
  if (domain.launchSecurity?.sev != null || domain.launchSecurity?.snp != null) {
    overhead += SEV_OVERHEAD;
    parts?.push(['SEV', SEV_OVERHEAD]);
  }
  if (devices.tpm != null && devices.tpm.enabled !== false) {
    overhead += TPM_OVERHEAD;
    parts?.push(['TPM', TPM_OVERHEAD]);
  }
  if (s.dedicated || wantsGuaranteedQos(s)) {
    overhead += DEDICATED_OVERHEAD;
    parts?.push([s.dedicated ? 'dedicated CPUs' : 'guaranteed QoS', DEDICATED_OVERHEAD]);
  }
  if (config.overheadRatio) {
    const ratio = Number.parseFloat(config.overheadRatio);
    // multiplyMemory: the extra is computed on kilobytes (rounded up) and truncated, as int64(float64) does.
    if (Number.isFinite(ratio)) {
      const extra = Math.trunc(Math.ceil(overhead / 1000) * (ratio - 1)) * 1000;
      overhead += extra;
      parts?.push([`additionalGuestMemoryOverheadRatio ${config.overheadRatio}`, extra]);
    }
  }
  if (overhead < 0) {
    parts?.push(['negative overhead (taken as 0)', -overhead]);
    return 0;
  }
  return overhead;
}

/** The VMI's status.memory.memoryOverhead, only where it raises the formula's figure (see above). */
function publishedOverhead(status: any): number {
  try {
    return Math.max(0, quantity(status?.memory?.memoryOverhead, 'status.memory.memoryOverhead') ?? 0);
  } catch {
    // Not a quantity: not KubeVirt's writing, and the formula stands.
    return 0;
  }
}

/** WithoutDedicatedCPU: %g of the ratio, millicores below one core, then ParseQuantity (rounding up). */
function ratioCpuRequest(cpus: number, ratio: number): number {
  const value = cpus / ratio;
  return parseMilli(value < 1 ? `${String(value * 1000)}m` : String(value));
}

export interface LauncherInput {
  /** The VMI spec (a VMI's spec, or a template's spec.template.spec). */
  spec: any;
  /** Where `spec` sits in the object, for error messages. */
  where: string;
  instancetype?: InstancetypeSizing;
  /** A VMI's status: a published overhead larger than the formula's wins. */
  status?: any;
}

/** Writes each overhead term into the given resources. */
function overheadTerms(terms: Terms, parts: readonly OverheadPart[], group: string, resources: readonly string[]): void {
  for (const [label, bytes] of parts) terms.add(label, Object.fromEntries(resources.map((r) => [r, bytes])), group);
}

/** What the virt-launcher pod's compute container will request, with effective limits where none are set. */
export function launcherResources(input: LauncherInput, config: KubeVirtResourceConfig, terms?: Terms): LauncherResources {
  const s = sizeOf(input.spec, input.instancetype, config, input.where);
  const parts: OverheadPart[] | undefined = terms ? [] : undefined;
  const formula = memoryOverhead(input.spec, s, config, parts);
  const overhead = Math.max(formula, publishedOverhead(input.status));
  if (parts && overhead > formula) parts.push(['published by KubeVirt (status.memory.memoryOverhead) beyond the formula', overhead - formula]);
  const cpus = s.vcpus + s.ioThreads;

  let requestsCpu: number;
  let limitsCpu: number | undefined;
  const memory = s.memory;
  let limitsMemory = s.limitsMemory;
  if (s.dedicated) {
    requestsCpu = (cpus + (s.isolateEmulatorThread ? 1 : 0)) * 1000;
    limitsCpu = requestsCpu;
    limitsMemory = memory;
    if (terms) {
      terms.add(`${s.vcpus} dedicated vCPUs`, { [REQUESTS_CPU]: s.vcpus * 1000, [LIMITS_CPU]: s.vcpus * 1000 });
      if (s.ioThreads > 0) terms.add(`${s.ioThreads} dedicated IO threads`, { [REQUESTS_CPU]: s.ioThreads * 1000, [LIMITS_CPU]: s.ioThreads * 1000 });
      if (s.isolateEmulatorThread) terms.add('isolated emulator thread', { [REQUESTS_CPU]: 1000, [LIMITS_CPU]: 1000 });
    }
  } else {
    const ratio = s.requestsCpu === undefined && cpus > 0 && config.cpuAllocationRatio > 0;
    requestsCpu = s.requestsCpu ?? (ratio ? ratioCpuRequest(cpus, config.cpuAllocationRatio) : 0);
    limitsCpu = s.limitsCpu;
    if (terms) {
      terms.add(ratio ? `${cpus} vCPUs / cpuAllocationRatio ${config.cpuAllocationRatio}` : 'CPU request', { [REQUESTS_CPU]: requestsCpu });
      terms.add(limitsCpu === undefined ? `${cpus} vCPUs (effective limit)` : 'CPU limit', { [LIMITS_CPU]: limitsCpu ?? cpus * 1000 });
    }
  }

  let requestsMemory: number;
  let hugepages: LauncherResources['hugepages'];
  if (s.hugepages) {
    // WithHugePages: guest memory comes from hugepages-<size>, outside requests.memory.
    const guest = s.guestMemory;
    const beyondGuest = (v: number | undefined) => (guest !== undefined && v !== undefined && v > guest ? v - guest : 0);
    hugepages = { pageSize: s.pageSize!, amount: guest !== undefined && memory > guest ? guest : memory };
    requestsMemory = beyondGuest(memory) + overhead;
    if (limitsMemory !== undefined) limitsMemory = beyondGuest(limitsMemory) + overhead;
    if (terms) {
      terms.add(`guest memory as hugepages-${s.pageSize}`, { [`${REQUESTS_HUGEPAGES_PREFIX}${s.pageSize}`]: hugepages.amount });
      terms.add('memory request beyond the guest', { [REQUESTS_MEMORY]: beyondGuest(memory) });
      terms.add(limitsMemory === undefined ? 'memory beyond the guest (effective limit)' : 'memory limit beyond the guest', {
        [LIMITS_MEMORY]: limitsMemory === undefined ? beyondGuest(memory) : beyondGuest(s.dedicated ? memory : s.limitsMemory),
      });
      overheadTerms(terms, parts!, overheadGroup(config), [REQUESTS_MEMORY, LIMITS_MEMORY]);
    }
  } else {
    requestsMemory = memory + (s.overcommitGuestOverhead ? 0 : overhead);
    if (limitsMemory !== undefined) limitsMemory += overhead;
    if (terms) {
      const base = `${s.memorySource} ${formatUnits(memory)}`;
      if (limitsMemory === undefined) {
        // The effective limit is the request.
        terms.add(base, { [REQUESTS_MEMORY]: memory, [LIMITS_MEMORY]: memory });
        if (s.overcommitGuestOverhead) terms.note('overhead not requested (overcommitGuestOverhead)');
        else overheadTerms(terms, parts!, overheadGroup(config), [REQUESTS_MEMORY, LIMITS_MEMORY]);
      } else {
        terms.add(base, { [REQUESTS_MEMORY]: memory });
        const limitBase = limitsMemory - overhead;
        terms.add(s.dedicated ? `memory limit = request ${formatUnits(limitBase)}` : `memory limit ${formatUnits(limitBase)}`, { [LIMITS_MEMORY]: limitBase });
        overheadTerms(terms, parts!, overheadGroup(config), s.overcommitGuestOverhead ? [LIMITS_MEMORY] : [REQUESTS_MEMORY, LIMITS_MEMORY]);
      }
    }
  }
  const out: LauncherResources = {
    requestsCpu: Math.max(0, requestsCpu),
    requestsMemory: Math.max(0, requestsMemory),
    limitsCpu: Math.max(0, limitsCpu ?? cpus * 1000),
    limitsMemory: Math.max(0, limitsMemory ?? requestsMemory),
    memoryOverhead: overhead,
  };
  if (hugepages !== undefined) out.hugepages = { pageSize: hugepages.pageSize, amount: Math.max(0, hugepages.amount) };
  if (terms) {
    const clamped: Record<string, number> = {};
    if (requestsCpu < 0) clamped[REQUESTS_CPU] = -requestsCpu;
    if (requestsMemory < 0) clamped[REQUESTS_MEMORY] = -requestsMemory;
    if ((limitsCpu ?? cpus * 1000) < 0) clamped[LIMITS_CPU] = -(limitsCpu ?? cpus * 1000);
    if ((limitsMemory ?? requestsMemory) < 0) clamped[LIMITS_MEMORY] = -(limitsMemory ?? requestsMemory);
    if (hugepages !== undefined && hugepages.amount < 0) clamped[`${REQUESTS_HUGEPAGES_PREFIX}${hugepages.pageSize}`] = -hugepages.amount;
    if (Object.keys(clamped).length > 0) terms.add('negative amount (charged as 0)', clamped);
  }
  return out;
}

/** vmCharging: guest — the guest's vCPUs and memory, requested and limited alike. */
export function guestResources(input: LauncherInput, config: KubeVirtResourceConfig): ComputeResources {
  const s = sizeOf(input.spec, input.instancetype, config, input.where);
  const cpu = Math.max(0, s.vcpus * 1000);
  const memory = Math.max(0, s.guestMemory ?? 0);
  return { requestsCpu: cpu, requestsMemory: memory, limitsCpu: cpu, limitsMemory: memory };
}

/** An instancetype object's sizing (cpu.guest, memory.guest, dedicated placement, hugepages). */
export function instancetypeSizing(obj: KubeObject): InstancetypeSizing {
  const spec = obj.spec ?? {};
  const name = `${obj.kind ?? 'instancetype'} ${obj.metadata?.name ?? ''}`.trim();
  const guestCpus = spec.cpu?.guest;
  if (typeof guestCpus !== 'number' || !Number.isInteger(guestCpus) || guestCpus < 1) {
    throw new Error(`${name}: spec.cpu.guest must be a positive integer`);
  }
  const guestMemory = spec.memory?.guest;
  if (typeof guestMemory !== 'string' && typeof guestMemory !== 'number') throw new Error(`${name}: spec.memory.guest is required`);
  return {
    guestCpus,
    guestMemory,
    dedicatedCpuPlacement: spec.cpu?.dedicatedCPUPlacement === true,
    isolateEmulatorThread: spec.cpu?.isolateEmulatorThread === true,
    hugepagesPageSize: typeof spec.memory?.hugepages?.pageSize === 'string' ? spec.memory.hugepages.pageSize : undefined,
  };
}
