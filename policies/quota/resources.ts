// The resources tenant-quota accounts (SPEC 6.4), their units, and the arithmetic on amounts.
// Every charge carries all six keys so that objects keep one shape and deltas need no lookups.
import { formatMilli, formatUnits, parseMilli, parseUnits } from '../quantity.js';
import type { ResourceAmounts } from '../types.js';

export const COUNT_PODS = 'count/pods';
export const COUNT_VMS = 'count/virtualmachines.kubevirt.io';
export const REQUESTS_CPU = 'requests.cpu';
export const REQUESTS_MEMORY = 'requests.memory';
export const LIMITS_CPU = 'limits.cpu';
export const LIMITS_MEMORY = 'limits.memory';

export const RESOURCES = [COUNT_PODS, COUNT_VMS, REQUESTS_CPU, REQUESTS_MEMORY, LIMITS_CPU, LIMITS_MEMORY] as const;
export type QuotaResource = (typeof RESOURCES)[number];

/** What one object costs, in canonical units (millicores, bytes, objects). */
export interface Charge extends ResourceAmounts {
  'count/pods': number;
  'count/virtualmachines.kubevirt.io': number;
  'requests.cpu': number;
  'requests.memory': number;
  'limits.cpu': number;
  'limits.memory': number;
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

export function isCpu(resource: string): boolean {
  return resource === REQUESTS_CPU || resource === LIMITS_CPU;
}

/** Adds `b` times `factor` into `into` (replicas of a template are one charge times N). */
export function addCharge(into: Charge, b: Charge, factor = 1): Charge {
  for (const r of RESOURCES) into[r] += b[r] * factor;
  return into;
}

/** Per-resource positive and negative parts of next - prev: what an UPDATE reserves and frees. */
export function chargeDelta(prev: Charge, next: Charge): { increase: ResourceAmounts; decrease: ResourceAmounts } {
  const increase: ResourceAmounts = {};
  const decrease: ResourceAmounts = {};
  for (const r of RESOURCES) {
    const d = next[r] - prev[r];
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
    const resource = ALIASES[name] ?? (RESOURCES as readonly string[]).find((r) => r === name);
    if (resource === undefined) {
      throw new Error(`tenant quota: unsupported resource "${name}" in spec.quota.hard (supported: ${RESOURCES.join(', ')}, cpu, memory, pods)`);
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
