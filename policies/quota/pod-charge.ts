// What a Pod costs, by Kubernetes' own rule (k8s.io/component-helpers/resource/helpers.go
// PodRequests/PodLimits, the sidecar-aware form, with pod-level resources and spec.overhead), and
// when it stops costing (k8s.io/kubernetes/pkg/quota/v1/evaluator/core QuotaV1Pod: terminal pods
// and pods past their deletion grace). count/pods counts the object whatever its state, as the
// built-in object-count quota does. hugepages-<size> requests are charged as
// requests.hugepages-<size> (the built-in quota's name; pkg/quota/v1/evaluator/core/pods.go
// podComputeUsageHelper counts them by the same pod-requests rule). The Tenant's
// quota.defaultRequests stand in for the cpu or memory request a container leaves out.
// In-place resize (pods/resize): as the built-in quota (pods.go podComputeUsageHelper calls
// PodRequests/PodLimits with UseStatusResources), a container or sidecar with status resources is
// charged the larger of its spec and what the kubelet reports (status resources, allocatedResources;
// component-helpers determineContainerReqs/determineContainerLimits), so a decrease the kubelet has
// not applied frees nothing early. Unlike the helper, an infeasible resize does not drop the spec:
// the spec stays the floor, so no status (which only the kubelet should write) can lower a charge.
// Each step writes its terms (terms.ts) when asked: containers, sidecars, the init-container max
// rule, pod-level resources, overhead, and a resize still held.
import { parseMilli, parseUnits } from '../kube/quantity.js';
import type { KubeObject } from '../types.js';
import { COUNT_PODS, LIMITS_CPU, LIMITS_MEMORY, REQUESTS_CPU, REQUESTS_MEMORY, hugepagesQuotaName, zeroCharge, type Charge } from './resources.js';
import type { Terms } from './terms.js';

/** quota.defaultRequests in canonical units (millicores, bytes). */
export interface PodDefaults {
  cpu?: number;
  memory?: number;
}

type ResourceList = Record<string, string | number> | null | undefined;

interface Container {
  name?: string;
  restartPolicy?: string;
  resources?: { requests?: ResourceList; limits?: ResourceList } | null;
}

/** What the kubelet reports for a container (status.containerStatuses[] / initContainerStatuses[]). */
interface ContainerStatus {
  name?: string;
  resources?: { requests?: ResourceList; limits?: ResourceList } | null;
  allocatedResources?: ResourceList;
}

/** A container's status by name, for app containers and sidecars; undefined when the pod reports none. */
type StatusOf = ((c: Container) => ContainerStatus | undefined) | undefined;

function statusesOf(pod: KubeObject): StatusOf {
  const st = pod.status;
  // Most pods the view holds report nothing (projections.ts keeps a report only during a resize).
  if (st?.containerStatuses === undefined && st?.initContainerStatuses === undefined) return undefined;
  const lists = [st?.containerStatuses, st?.initContainerStatuses].filter((l): l is ContainerStatus[] => Array.isArray(l) && l.length > 0);
  if (lists.length === 0) return undefined;
  const byName = new Map<string, ContainerStatus>();
  for (const list of lists) for (const cs of list) if (typeof cs?.name === 'string' && cs.resources) byName.set(cs.name, cs);
  return byName.size === 0 ? undefined : (c) => (c.name === undefined ? undefined : byName.get(c.name));
}

/** A term's amounts: cpu and memory under the quota names given. */
type Note = (label: string, amounts: CpuMem) => void;

/** cpu in millicores and memory in bytes; undefined where the list does not name the resource. */
interface CpuMem {
  cpu: number | undefined;
  memory: number | undefined;
}

/**
 * The list's cpu and memory. Its field path (`${owner}[${index}].${field}`, or `${owner}.${field}`
 * for a negative index) is only assembled for an error message.
 */
function amountsOf(list: ResourceList, owner: string, index: number, field: string): CpuMem {
  return {
    cpu: list?.cpu === undefined ? undefined : parsed(list.cpu, parseMilli, owner, index, field, 'cpu'),
    memory: list?.memory === undefined ? undefined : parsed(list.memory, parseUnits, owner, index, field, 'memory'),
  };
}

function parsed(value: string | number, parse: (v: string | number) => number, owner: string, index: number, field: string, name: string): number {
  try {
    return parse(value);
  } catch (err) {
    throw new Error(`${owner}${index < 0 ? '' : `[${index}]`}.${field}.${name}: ${(err as Error).message}`);
  }
}

/**
 * Container requests with the API's defaulting applied (SetDefaults_Pod: a resource with a limit and
 * no request requests its limit). Objects from the API server are defaulted already; snapshot files
 * need not be, and both must cost the same.
 */
function containerRequests(c: Container, list: string, index: number, status?: ContainerStatus): CpuMem {
  const req = amountsOf(c.resources?.requests, list, index, 'resources.requests');
  const lim = amountsOf(c.resources?.limits, list, index, 'resources.limits');
  const spec = { cpu: req.cpu ?? lim.cpu, memory: req.memory ?? lim.memory };
  if (status === undefined) return spec;
  maxInto(spec, amountsOf(status.resources?.requests, `status of ${list}`, index, 'resources.requests'));
  maxInto(spec, amountsOf(status.allocatedResources, `status of ${list}`, index, 'allocatedResources'));
  return spec;
}

type Pick = (c: Container, list: string, index: number, status?: ContainerStatus) => CpuMem;

/** Requests with the Tenant's defaults in place of what the container leaves out. */
function requestsWithDefaults(defaults: PodDefaults | undefined): Pick {
  if (defaults?.cpu === undefined && defaults?.memory === undefined) return containerRequests;
  return (c, list, index, status) => {
    const r = containerRequests(c, list, index, status);
    return { cpu: r.cpu ?? defaults.cpu, memory: r.memory ?? defaults.memory };
  };
}

function containerLimits(c: Container, list: string, index: number, status?: ContainerStatus): CpuMem {
  const spec = amountsOf(c.resources?.limits, list, index, 'resources.limits');
  if (status !== undefined) maxInto(spec, amountsOf(status.resources?.limits, `status of ${list}`, index, 'resources.limits'));
  return spec;
}

/**
 * aggregateContainerResourcesByFn: app containers and restartable (sidecar) init containers add up;
 * each ordinary init container runs alongside the sidecars started before it, and the pod needs the
 * larger of the steady state and the largest such init phase. Absent entries stay absent (they are
 * not zero: PodLimits adds overhead only to limits that exist).
 */
function aggregate(spec: any, pick: Pick, statusOf: StatusOf, note?: Note): CpuMem {
  const sum: CpuMem = { cpu: undefined, memory: undefined };
  const containers: Container[] = Array.isArray(spec?.containers) ? spec.containers : [];
  for (let i = 0; i < containers.length; i++) {
    const c = containers[i]!;
    const own = pick(c, 'spec.containers', i, statusOf?.(c));
    addInto(sum, own);
    note?.(`container ${c.name ?? i}`, own);
  }
  const inits: Container[] = Array.isArray(spec?.initContainers) ? spec.initContainers : [];
  if (inits.length === 0) return sum;
  const sidecars: CpuMem = { cpu: undefined, memory: undefined };
  const initPeak: CpuMem = { cpu: undefined, memory: undefined };
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i]!;
    if (c.restartPolicy === 'Always') {
      const own = pick(c, 'spec.initContainers', i, statusOf?.(c));
      addInto(sum, own);
      note?.(`sidecar ${c.name ?? i}`, own);
      addInto(sidecars, own);
      maxInto(initPeak, sidecars);
    } else {
      const own = pick(c, 'spec.initContainers', i);
      addInto(own, sidecars);
      maxInto(initPeak, own);
    }
  }
  const before = note ? { ...sum } : undefined;
  maxInto(sum, initPeak);
  if (note) note('init containers (largest init phase beyond the rest)', minus(sum, before!));
  return sum;
}

function minus(a: CpuMem, b: CpuMem): CpuMem {
  return { cpu: (a.cpu ?? 0) - (b.cpu ?? 0), memory: (a.memory ?? 0) - (b.memory ?? 0) };
}

function addInto(into: CpuMem, b: CpuMem): void {
  if (b.cpu !== undefined) into.cpu = (into.cpu ?? 0) + b.cpu;
  if (b.memory !== undefined) into.memory = (into.memory ?? 0) + b.memory;
}

function maxInto(into: CpuMem, b: CpuMem): void {
  if (b.cpu !== undefined && (into.cpu === undefined || b.cpu > into.cpu)) into.cpu = b.cpu;
  if (b.memory !== undefined && (into.memory === undefined || b.memory > into.memory)) into.memory = b.memory;
}

/** Pod-level resources (PodLevelResources) replace the container aggregate for cpu and memory. */
function applyPodLevel(into: CpuMem, list: CpuMem): void {
  if (list.cpu !== undefined) into.cpu = list.cpu;
  if (list.memory !== undefined) into.memory = list.memory;
}

const POD_LEVEL = 'pod-level resources (replace the containers)';

/** PodRequests: aggregate, pod-level requests, plus overhead. */
export function podRequests(pod: KubeObject, defaults?: PodDefaults, note?: Note): { cpu: number; memory: number } {
  const spec = pod.spec;
  const out = aggregate(spec, requestsWithDefaults(defaults), statusesOf(pod), note);
  const before = note ? { ...out } : undefined;
  applyPodLevel(out, amountsOf(spec?.resources?.requests, 'spec', -1, 'resources.requests'));
  if (note) note(POD_LEVEL, minus(out, before!));
  const overhead = amountsOf(spec?.overhead, 'spec', -1, 'overhead');
  note?.('pod overhead (RuntimeClass)', overhead);
  return { cpu: (out.cpu ?? 0) + (overhead.cpu ?? 0), memory: (out.memory ?? 0) + (overhead.memory ?? 0) };
}

/** PodLimits: aggregate, pod-level limits when pod-level resources are set, overhead added to non-zero limits. */
export function podLimits(pod: KubeObject, note?: Note): { cpu: number; memory: number } {
  const spec = pod.spec;
  const out = aggregate(spec, containerLimits, statusesOf(pod), note);
  const podRequestsSet = amountsOf(spec?.resources?.requests, 'spec', -1, 'resources.requests');
  const podLimitsSet = amountsOf(spec?.resources?.limits, 'spec', -1, 'resources.limits');
  const podLevelSet = [podRequestsSet.cpu, podRequestsSet.memory, podLimitsSet.cpu, podLimitsSet.memory].some((v) => v !== undefined);
  const before = note ? { ...out } : undefined;
  if (podLevelSet) applyPodLevel(out, podLimitsSet);
  if (note) note(POD_LEVEL, minus(out, before!));
  const overhead = amountsOf(spec?.overhead, 'spec', -1, 'overhead');
  const cpu = out.cpu ?? 0;
  const memory = out.memory ?? 0;
  const result = {
    cpu: cpu !== 0 ? cpu + (overhead.cpu ?? 0) : 0,
    memory: memory !== 0 ? memory + (overhead.memory ?? 0) : 0,
  };
  if (note) note('pod overhead (RuntimeClass)', { cpu: result.cpu - cpu, memory: result.memory - memory });
  return result;
}

/**
 * QuotaV1Pod: whether the pod still holds compute. `nowMs` is the caller's clock (policies have
 * none); without it a terminating pod is charged until it is gone, which never under-counts.
 */
export function podHoldsCompute(pod: KubeObject, nowMs?: number): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const deletion = pod.metadata?.deletionTimestamp;
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  if (nowMs !== undefined && deletion !== undefined && typeof grace === 'number') {
    const deadline = Date.parse(deletion) + grace * 1000;
    if (nowMs > deadline) return false;
  }
  return true;
}

function hugepagesNames(spec: any): Set<string> {
  const names = new Set<string>();
  for (const list of [spec?.containers, spec?.initContainers, [spec]]) {
    if (!Array.isArray(list)) continue;
    for (const c of list as Container[]) {
      for (const rl of [c?.resources?.requests, c?.resources?.limits]) {
        if (rl) for (const name of Object.keys(rl)) if (hugepagesQuotaName(name) !== undefined) names.add(name);
      }
    }
  }
  return names;
}

/**
 * Each hugepages-<size> the pod requests, by the pod-requests rule (a request defaults to the
 * limit, as hugepages must set both equal), keyed requests.hugepages-<size>.
 */
export function podHugepages(pod: KubeObject, accounts?: (resource: string) => boolean, terms?: Terms): Record<string, number> {
  const spec = pod.spec;
  const out: Record<string, number> = {};
  for (const name of hugepagesNames(spec)) {
    const resource = hugepagesQuotaName(name)!;
    // Sizes no limit names are not summed at all (resources.ts accountedBy): a pod may invent thousands.
    if (accounts !== undefined && !accounts(resource)) continue;
    // The same aggregation as cpu, carried in the cpu slot of the helper.
    const pick = (list: ResourceList | undefined, owner: string, index: number, field: string): number | undefined =>
      list?.[name] === undefined ? undefined : parsed(list[name]!, parseUnits, owner, index, field, name);
    const note: Note | undefined = terms && ((label, a) => terms.add(label, { [resource]: a.cpu ?? 0 }));
    const sum = aggregate(
      spec,
      (c, list, index) => ({
        cpu: pick(c.resources?.requests, list, index, 'resources.requests') ?? pick(c.resources?.limits, list, index, 'resources.limits'),
        memory: undefined,
      }),
      undefined,
      note,
    );
    const podLevel = pick(spec?.resources?.requests, 'spec', -1, 'resources.requests') ?? pick(spec?.resources?.limits, 'spec', -1, 'resources.limits');
    const amount = Math.max(0, podLevel ?? sum.cpu ?? 0);
    if (note) {
      if (podLevel !== undefined) note(POD_LEVEL, { cpu: podLevel - (sum.cpu ?? 0), memory: undefined });
      note(CLAMPED, { cpu: amount - (podLevel ?? sum.cpu ?? 0), memory: undefined });
    }
    if (amount > 0) out[resource] = amount;
  }
  return out;
}

const CLAMPED = 'negative amount (charged as 0)';

/** Writes a pod's cpu/memory terms under the request or limit names. */
function noteInto(terms: Terms | undefined, cpu: string, memory: string): Note | undefined {
  return terms && ((label, a) => terms.add(label, { [cpu]: a.cpu ?? 0, [memory]: a.memory ?? 0 }));
}

function clamp(terms: Terms | undefined, resource: string, value: number): number {
  if (value >= 0) return value;
  terms?.add(CLAMPED, { [resource]: -value });
  return 0;
}

/**
 * The full charge of an ordinary pod (hugepage sizes only where `accounts` says so); never negative.
 * With `terms`, what it adds up from.
 */
export function podCharge(pod: KubeObject, nowMs?: number, defaults?: PodDefaults, accounts?: (resource: string) => boolean, terms?: Terms): Charge {
  const charge = zeroCharge();
  charge[COUNT_PODS] = 1;
  terms?.add('the Pod', { [COUNT_PODS]: 1 });
  if (!podHoldsCompute(pod, nowMs)) {
    terms?.note('terminal or past its deletion grace: no compute');
    return charge;
  }
  const req = podRequests(pod, defaults, noteInto(terms, REQUESTS_CPU, REQUESTS_MEMORY));
  const lim = podLimits(pod, noteInto(terms, LIMITS_CPU, LIMITS_MEMORY));
  charge[REQUESTS_CPU] = clamp(terms, REQUESTS_CPU, req.cpu);
  charge[REQUESTS_MEMORY] = clamp(terms, REQUESTS_MEMORY, req.memory);
  charge[LIMITS_CPU] = clamp(terms, LIMITS_CPU, lim.cpu);
  charge[LIMITS_MEMORY] = clamp(terms, LIMITS_MEMORY, lim.memory);
  Object.assign(charge, podHugepages(pod, accounts, terms));
  return charge;
}
