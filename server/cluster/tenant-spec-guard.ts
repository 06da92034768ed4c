// Which spec of each Tenant tenantguard judges by (SPEC 4, 11.1: an invalid change leaves the last
// good spec in force). The CRD refuses what Kubernetes can; what it cannot (a Tenant stored before
// the CRD tightened, a quantity too large to count exactly, a CRD installed without its rules)
// must never make a review fail nor silently drop enforcement. Every Tenant entering the cluster
// view passes here: a valid spec is used and remembered; an invalid one is replaced by the last
// valid spec of that Tenant or, for a Tenant never valid since this process started, by the
// strictest reading of what it says. Each rejection is reported once (log line, metric) and kept
// for the Tenant's SpecRejected condition.
import { selectorProblems } from '../../policies/kube/label-selector.js';
import { inGrammar, LABEL_KEY, LABEL_KEY_MAX_LENGTH, LABEL_VALUE_MAX_LENGTH, LABEL_VALUE_PATTERN, SELINUX_LEVEL_PATTERN } from '../../policies/kube/name-grammar.js';
import { parseHard } from '../../policies/quota/resources.js';
import { podDefaultsOf } from '../../policies/quota/pod-constraints.js';
import type { KubeObject, LabelSelector, LabelSelectorRequirement, TenantSpec } from '../../policies/types.js';
import { validateTenantSpec } from '../config-load.js';

/** Why a Tenant's spec was not taken, and what is in force instead. */
export interface SpecRejection {
  tenant: string;
  generation: number | undefined;
  problems: string[];
  /** True: the last valid spec stays in force; false: none was seen, the strictest reading of this one is. */
  keptLastGood: boolean;
  lastGoodGeneration: number | undefined;
}

const SECTIONS = ['podSecurity', 'networkPolicy', 'vmSecurity', 'defaults'] as const;

/** What an invalid section is read as when no valid spec was ever seen: its strictest setting. */
const STRICTEST: Required<Pick<TenantSpec, (typeof SECTIONS)[number]>> = {
  podSecurity: { level: 'restricted', mode: 'enforce' },
  networkPolicy: { mode: 'enforce', require: ['Ingress', 'Egress'] },
  vmSecurity: { mode: 'enforce' },
  defaults: { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false },
};

const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);
const SELINUX_LEVEL = new RegExp(SELINUX_LEVEL_PATTERN);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function errorOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Why tenantguard cannot use this spec, empty when it can: the server's Tenant schema, the
 * selector as Kubernetes validates one (and not empty: an empty selector claims every namespace),
 * and every quota name and quantity as tenant-quota parses it.
 */
export function tenantSpecProblems(spec: unknown): string[] {
  const problems = validateTenantSpec(spec);
  if (!isObject(spec)) return problems;
  const selector = spec.namespaceSelector;
  if (selector !== undefined) {
    problems.push(...selectorProblems(selector, 'spec.namespaceSelector'));
    if (isObject(selector) && Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0) {
      problems.push('spec.namespaceSelector: must name at least one label (an empty selector would claim every namespace)');
    }
  }
  const seLinuxLevel = isObject(spec.defaults) ? spec.defaults.seLinuxLevel : undefined;
  if (typeof seLinuxLevel === 'string' && !SELINUX_LEVEL.test(seLinuxLevel)) {
    problems.push(`spec.defaults.seLinuxLevel: ${JSON.stringify(seLinuxLevel.slice(0, 100))} is not an SELinux MCS level such as s0:c123,c456`);
  }
  if (isObject(spec.quota)) {
    const hard = spec.quota.hard;
    if (isObject(hard)) {
      const err = errorOf(() => parseHard(hard));
      if (err) problems.push(err);
    }
    if (isObject(spec.quota.defaultRequests)) {
      const err = errorOf(() => podDefaultsOf(spec.quota.defaultRequests));
      if (err) problems.push(err);
    }
  }
  return [...new Set(problems)];
}

/** A requirement widened to what it can still mean: never narrower than written, never "nothing". */
function widened(req: unknown): LabelSelectorRequirement | undefined {
  if (!isObject(req) || typeof req.key !== 'string' || req.key.length > LABEL_KEY_MAX_LENGTH || !inGrammar(LABEL_KEY, req.key)) return undefined;
  const values = (Array.isArray(req.values) ? req.values : []).filter((v: unknown) => typeof v === 'string' && v.length <= LABEL_VALUE_MAX_LENGTH && LABEL_VALUE.test(v));
  switch (req.operator) {
    case 'In':
      return values.length > 0 ? { key: req.key, operator: 'In', values } : { key: req.key, operator: 'Exists' };
    case 'NotIn':
      return values.length > 0 ? { key: req.key, operator: 'NotIn', values } : undefined;
    case 'DoesNotExist':
      return { key: req.key, operator: 'DoesNotExist' };
    default:
      // Exists, or an operator that is none: the namespace must at least carry the key.
      return { key: req.key, operator: 'Exists' };
  }
}

/**
 * The selector's strictest reading: every requirement kept or widened, so the Tenant claims at
 * least the namespaces it meant to; undefined when nothing of it is usable (never an empty
 * selector, which would claim every namespace).
 */
function widenedSelector(selector: unknown): LabelSelector | undefined {
  if (!isObject(selector)) return undefined;
  const matchExpressions: LabelSelectorRequirement[] = [];
  const matchLabels: Record<string, string> = {};
  for (const [key, value] of Object.entries(isObject(selector.matchLabels) ? selector.matchLabels : {})) {
    if (key.length > LABEL_KEY_MAX_LENGTH || !inGrammar(LABEL_KEY, key)) continue;
    if (typeof value === 'string' && value.length <= LABEL_VALUE_MAX_LENGTH && LABEL_VALUE.test(value)) matchLabels[key] = value;
    else matchExpressions.push({ key, operator: 'Exists' });
  }
  for (const req of Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []) {
    const w = widened(req);
    if (w) matchExpressions.push(w);
  }
  const out: LabelSelector = {};
  if (Object.keys(matchLabels).length > 0) out.matchLabels = matchLabels;
  if (matchExpressions.length > 0) out.matchExpressions = matchExpressions;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Quota limits with every unusable value at 0 (a name tenant-quota does not account is dropped). */
function strictestQuota(quota: unknown): TenantSpec['quota'] | undefined {
  if (!isObject(quota)) return quota === undefined ? undefined : { hard: {} };
  const hard: Record<string, string> = {};
  for (const [name, value] of Object.entries(isObject(quota.hard) ? quota.hard : {})) {
    if (errorOf(() => parseHard({ [name]: '0' }))) continue;
    hard[name] = errorOf(() => parseHard({ [name]: value })) ? '0' : String(value);
  }
  const out: NonNullable<TenantSpec['quota']> = { hard, vmCharging: quota.vmCharging === 'guest' ? 'guest' : 'pod' };
  // Without usable defaults a pod that leaves its requests out is denied (SPEC 6.4): the stricter reading.
  if (isObject(quota.defaultRequests) && !errorOf(() => podDefaultsOf(quota.defaultRequests)) && validateTenantSpec({ quota: { defaultRequests: quota.defaultRequests } }).length === 0) {
    out.defaultRequests = quota.defaultRequests;
  }
  return out;
}

/** A spec never valid, read as strictly as it can be: valid parts kept, the rest at their strictest. */
export function strictestReading(spec: unknown): TenantSpec {
  if (!isObject(spec)) return {};
  const out: TenantSpec = {};
  // A single name where a list belongs still names that namespace.
  const listed: unknown[] = Array.isArray(spec.namespaces) ? spec.namespaces : [spec.namespaces];
  const namespaces = listed.filter((n): n is string => typeof n === 'string' && DNS_LABEL.test(n));
  if (namespaces.length > 0) out.namespaces = [...new Set<string>(namespaces)];
  if (spec.namespaceSelector !== undefined) {
    const selector = tenantSpecProblems({ namespaceSelector: spec.namespaceSelector }).length === 0 ? spec.namespaceSelector : widenedSelector(spec.namespaceSelector);
    if (selector) out.namespaceSelector = selector;
  }
  for (const section of SECTIONS) {
    if (spec[section] === undefined) continue;
    (out as Record<string, unknown>)[section] = tenantSpecProblems({ [section]: spec[section] }).length === 0 ? spec[section] : STRICTEST[section];
  }
  const quota = strictestQuota(spec.quota);
  if (quota) out.quota = quota;
  return out;
}

interface Seen {
  /** The spec as stored, serialized: a status update repeats it and is not judged again. */
  raw: string;
  spec: TenantSpec;
  rejection: SpecRejection | undefined;
}

export class TenantSpecGuard {
  private readonly seen = new Map<string, Seen>();
  private readonly lastGood = new Map<string, { spec: TenantSpec; generation: number | undefined }>();
  private readonly listeners: Array<(r: SpecRejection) => void> = [];

  /** Called once per rejected spec; told at once of the rejections already in force. */
  onRejected(listener: (r: SpecRejection) => void): void {
    this.listeners.push(listener);
    for (const s of this.seen.values()) if (s.rejection) listener(s.rejection);
  }

  /** The Tenant as tenantguard judges by it: the object itself when its spec is valid. */
  admit(tenant: KubeObject): KubeObject {
    const name = tenant.metadata?.name ?? '';
    const raw = JSON.stringify(tenant.spec ?? null) ?? 'null';
    let seen = this.seen.get(name);
    if (seen === undefined || seen.raw !== raw) {
      seen = this.judge(name, tenant, raw);
      this.seen.set(name, seen);
      if (seen.rejection) for (const l of this.listeners) l(seen.rejection);
    }
    return seen.rejection ? { ...tenant, spec: seen.spec } : tenant;
  }

  forget(name: string): void {
    this.seen.delete(name);
    this.lastGood.delete(name);
  }

  /** Why the Tenant's current spec is not the one in force; undefined when it is. */
  rejection(name: string): SpecRejection | undefined {
    return this.seen.get(name)?.rejection;
  }

  private judge(name: string, tenant: KubeObject, raw: string): Seen {
    const generation = typeof tenant.metadata?.generation === 'number' ? tenant.metadata.generation : undefined;
    const problems = tenantSpecProblems(tenant.spec ?? {});
    if (problems.length === 0) {
      const spec = (tenant.spec ?? {}) as TenantSpec;
      this.lastGood.set(name, { spec, generation });
      return { raw, spec, rejection: undefined };
    }
    const good = this.lastGood.get(name);
    return {
      raw,
      spec: good?.spec ?? strictestReading(tenant.spec),
      rejection: { tenant: name, generation, problems, keptLastGood: good !== undefined, lastGoodGeneration: good?.generation },
    };
  }
}
