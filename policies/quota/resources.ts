// The resources tenant-quota accounts (SPEC 6.4), their units, and the arithmetic on amounts.
// Every charge carries the six fixed keys so that objects keep one shape; hugepages, whose names
// carry the page size (the built-in quota's requests.hugepages-<size>), and storage, whose
// per-class names carry the class, are added only where charged. No arithmetic here ever yields a
// negative amount: a charge is clamped at 0 per resource.
import { inGrammar, QUOTA_NAME } from '../kube/name-grammar.js';
import { formatMilli, formatUnits, parseMilli, parseUnits } from '../kube/quantity.js';
import type { ResourceAmounts, TenantBinding } from '../types.js';

export const COUNT_PODS = 'count/pods';
export const COUNT_VMS = 'count/virtualmachines.kubevirt.io';
export const REQUESTS_CPU = 'requests.cpu';
export const REQUESTS_MEMORY = 'requests.memory';
export const LIMITS_CPU = 'limits.cpu';
export const LIMITS_MEMORY = 'limits.memory';

export const RESOURCES = [COUNT_PODS, COUNT_VMS, REQUESTS_CPU, REQUESTS_MEMORY, LIMITS_CPU, LIMITS_MEMORY] as const;
export type QuotaResource = (typeof RESOURCES)[number];

/** The built-in quota's name for hugepages of one page size (k8s.io/api core/v1 ResourceRequestsHugePagesPrefix). */
export const REQUESTS_HUGEPAGES_PREFIX = 'requests.hugepages-';
const HUGEPAGES_PREFIX = 'hugepages-';

/** `requests.hugepages-<size>` for a pod or launcher resource name `hugepages-<size>`; undefined for other names. */
export function hugepagesQuotaName(resourceName: string): string | undefined {
  return resourceName.startsWith(HUGEPAGES_PREFIX) && resourceName.length > HUGEPAGES_PREFIX.length
    ? `${REQUESTS_HUGEPAGES_PREFIX}${resourceName.slice(HUGEPAGES_PREFIX.length)}`
    : undefined;
}

/** Storage (SPEC 6.6), as the built-in quota names it (k8s.io/api core/v1 ResourceRequestsStorage, ResourcePersistentVolumeClaims). */
export const REQUESTS_STORAGE = 'requests.storage';
export const COUNT_PVCS = 'persistentvolumeclaims';
export const STORAGE_RESOURCES = [REQUESTS_STORAGE, COUNT_PVCS] as const;
/**
 * The built-in quota's per-class names: `<class>.storageclass.storage.k8s.io/<resource>`
 * (kubernetes pkg/quota/v1/evaluator/core/persistent_volume_claims.go storageClassSuffix).
 */
export const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/';

export function storageClassResource(storageClass: string, resource: (typeof STORAGE_RESOURCES)[number]): string {
  return `${storageClass}${STORAGE_CLASS_SUFFIX}${resource}`;
}

/** What one object costs, in canonical units (millicores, bytes, objects). */
export interface Charge extends ResourceAmounts {
  'count/pods': number;
  'count/virtualmachines.kubevirt.io': number;
  'requests.cpu': number;
  'requests.memory': number;
  'limits.cpu': number;
  'limits.memory': number;
}

/** Whether two amounts agree on every resource either names (a missing one is 0). */
export function sameAmounts(a: ResourceAmounts, b: ResourceAmounts): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

/** The built-in ResourceQuota's short names, accepted in Tenant hard limits as it accepts them. */
const ALIASES: Readonly<Record<string, QuotaResource>> = { cpu: REQUESTS_CPU, memory: REQUESTS_MEMORY, pods: COUNT_PODS };

export function zeroCharge(): Charge {
  return {
    'count/pods': 0,
    'count/virtualmachines.kubevirt.io': 0,
    'requests.cpu': 0,
    'requests.memory': 0,
    'limits.cpu': 0,
    'limits.memory': 0,
  };
}

/**
 * Usage as Tenant.status.used shows it: the fixed resources and storage always (so that `kubectl
 * get tenants` has a value in every column), the per-size and per-class ones where used.
 */
export function usedForStatus(usage: ResourceAmounts): ResourceAmounts {
  const out: ResourceAmounts = {};
  for (const r of [...RESOURCES, ...STORAGE_RESOURCES]) out[r] = usage[r] ?? 0;
  for (const [r, v] of Object.entries(usage)) if (v > 0) out[r] = v;
  return out;
}

const FIXED: ReadonlySet<string> = new Set<string>([...RESOURCES, ...STORAGE_RESOURCES]);

function accounted(resource: string, hards: readonly Readonly<ResourceAmounts>[]): boolean {
  return FIXED.has(resource) || hards.some((h) => h[resource] !== undefined);
}

/** Whether a resource is accounted under `hards` (accountedCharge), for skipping work on the others. */
export function accountedBy(hards: readonly Readonly<ResourceAmounts>[]): (resource: string) => boolean {
  return (resource) => accounted(resource, hards);
}

/**
 * The charge as tenant-quota accounts it under `hards` (the limits of every Tenant charged for it):
 * the fixed resources always (status.used shows them), a per-size or per-class one only where some
 * hard names it, as the built-in quota keeps only what its hard names (kubernetes
 * pkg/quota/v1/resources.go Mask with evaluator MatchingResources). A tenant picks hugepage sizes
 * and class names freely; unmasked, every name it invents would be summed, reserved and published.
 */
export function accountedCharge(charge: Charge, hards: readonly Readonly<ResourceAmounts>[]): Charge {
  let out: Charge | undefined;
  for (const r in charge) {
    if (accounted(r, hards)) continue;
    out ??= { ...charge };
    delete out[r];
  }
  return out ?? charge;
}

/** The parsed hard of each Tenant charged for a namespace; an invalid one limits nothing here (the module reports it). */
export function claimantLimits(binding: TenantBinding): Readonly<ResourceAmounts>[] {
  const out: Readonly<ResourceAmounts>[] = [];
  for (const { quota } of binding.quotas ?? []) {
    try {
      out.push(parseHard(quota?.hard));
    } catch {
      // The review that needs it fails naming the limit.
    }
  }
  return out;
}

/**
 * What the quota metrics publish for a Tenant: the fixed resources and each resource its hard
 * names, 0 where nothing is used, so a usage that fell to 0 reads 0 and a resource the hard no
 * longer names is not published at all (bounded by the hard, not by what objects ask for).
 */
export function publishedAmounts(amounts: ResourceAmounts, hard: Readonly<ResourceAmounts>): ResourceAmounts {
  const out: ResourceAmounts = {};
  for (const r of FIXED) out[r] = amounts[r] ?? 0;
  for (const r of Object.keys(hard)) out[r] = amounts[r] ?? 0;
  return out;
}

export function isCpu(resource: string): boolean {
  return resource === REQUESTS_CPU || resource === LIMITS_CPU;
}

/** Adds `b` times `factor` into `into` (replicas of a template are one charge times N). */
export function addCharge(into: Charge, b: Charge, factor = 1): Charge {
  for (const r of Object.keys(b)) into[r] = (into[r] ?? 0) + Math.max(0, b[r]!) * factor;
  return into;
}

/**
 * What `total` holds beyond `share`, per resource and never below 0: an owned object pays what it
 * runs over what its owner already pays for it.
 */
export function chargeBeyond(total: Charge, share: Charge): Charge {
  const out = zeroCharge();
  for (const r of Object.keys(total)) {
    const d = total[r]! - (share[r] ?? 0);
    if (d > 0 || (RESOURCES as readonly string[]).includes(r)) out[r] = Math.max(0, d);
  }
  return out;
}

/** Per-resource positive and negative parts of next - prev: what an UPDATE reserves and frees. */
export function chargeDelta(prev: Charge, next: Charge): { increase: ResourceAmounts; decrease: ResourceAmounts } {
  const increase: ResourceAmounts = {};
  const decrease: ResourceAmounts = {};
  for (const r of new Set([...Object.keys(prev), ...Object.keys(next)])) {
    const d = Math.max(0, next[r] ?? 0) - Math.max(0, prev[r] ?? 0);
    if (d > 0) increase[r] = d;
    else if (d < 0) decrease[r] = -d;
  }
  return { increase, decrease };
}

/**
 * A Tenant's spec.quota.hard in canonical units, keyed by the canonical resource name. A resource
 * tenantguard does not account, or a value that is not a quantity, throws naming the resource: a
 * typo in a limit must not silently leave the tenant unlimited.
 */
// Tenant objects are replaced, never mutated, when they change, so a parsed spec.quota.hard can be
// remembered by object identity: every review of a tenant then skips the quantity parsing.
const parsedHard = new WeakMap<object, Readonly<ResourceAmounts>>();
const NO_HARD: Readonly<ResourceAmounts> = Object.freeze({});

export function parseHard(hard: Record<string, unknown> | undefined): Readonly<ResourceAmounts> {
  if (!hard) return NO_HARD;
  let out = parsedHard.get(hard);
  if (out === undefined) {
    out = Object.freeze(parseHardUncached(hard));
    parsedHard.set(hard, out);
  }
  return out;
}

function parseHardUncached(hard: Record<string, unknown>): ResourceAmounts {
  const out: ResourceAmounts = {};
  for (const [name, raw] of Object.entries(hard)) {
    // The grammar the Tenant CRD's rule is generated from (policies/kube/name-grammar.ts).
    const resource = ALIASES[name] ?? (inGrammar(QUOTA_NAME, name) ? name : undefined);
    if (resource === undefined) {
      throw new Error(
        `tenant quota: unsupported resource "${name}" in spec.quota.hard (supported: ${[...RESOURCES, ...STORAGE_RESOURCES].join(', ')}, ${REQUESTS_HUGEPAGES_PREFIX}<size>, <storage class>${STORAGE_CLASS_SUFFIX}requests.storage, <storage class>${STORAGE_CLASS_SUFFIX}persistentvolumeclaims, cpu, memory, pods)`,
      );
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      throw new Error(`tenant quota: spec.quota.hard["${name}"] must be a quantity string or number`);
    }
    let amount: number;
    try {
      amount = isCpu(resource) ? parseMilli(raw) : parseUnits(raw);
    } catch (err) {
      throw new Error(`tenant quota: spec.quota.hard["${name}"]: ${(err as Error).message}`);
    }
    if (amount < 0) throw new Error(`tenant quota: spec.quota.hard["${name}"] must not be negative`);
    out[resource] = amount;
  }
  return out;
}

/** One amount as the built-in quota prints it: requests.cpu=1500m, requests.memory=2Gi, count/pods=3. */
export function formatAmount(resource: string, amount: number): string {
  return `${resource}=${isCpu(resource) ? formatMilli(amount) : formatUnits(amount)}`;
}
