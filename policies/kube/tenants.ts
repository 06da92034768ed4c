// Namespace -> Tenant resolution (SPEC 4). The index is rebuilt when Tenants or Namespaces change
// so that a review looks its tenant up in O(1); a namespace claimed by two Tenants is a
// configuration error that is reported, and the stricter settings of the claimants apply.
import { selectorMatches } from './label-selector.js';
import { isCpu, parseHard } from '../quota/resources.js';
import type { KubeObject, Mode, PodSecurityLevel, ResourceAmounts, TenantBinding, TenantSpec } from '../types.js';

export interface NamespaceConflict {
  namespace: string;
  tenants: string[];
}

const MODE_RANK: Record<Mode | 'off', number> = { off: 0, audit: 1, warn: 2, enforce: 3 };
const LEVEL_RANK: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };

function stricterMode<M extends Mode | 'off'>(a: M, b: M): M {
  return MODE_RANK[a] >= MODE_RANK[b] ? a : b;
}

function intersect(a: string[] | undefined, b: string[] | undefined): string[] {
  const set = new Set(b ?? []);
  return (a ?? []).filter((x) => set.has(x));
}

/** Per resource the smaller limit; a resource only one limits stays limited. */
function stricterHard(a: Record<string, string>, b: Record<string, string>): Record<string, string> {
  let pa: ResourceAmounts;
  let pb: ResourceAmounts;
  try {
    pa = parseHard(a);
    pb = parseHard(b);
  } catch {
    // An invalid limit is the quota module's to report, naming it; keep the first as written.
    return a;
  }
  const out: Record<string, string> = {};
  for (const r of new Set([...Object.keys(pa), ...Object.keys(pb)])) {
    const v = Math.min(pa[r] ?? Infinity, pb[r] ?? Infinity);
    out[r] = isCpu(r) ? `${v}m` : String(v);
  }
  return out;
}

/** Field-wise stricter of two tenant specs, for a namespace that two Tenants claim. */
export function stricterSpec(a: TenantSpec, b: TenantSpec): TenantSpec {
  const out: TenantSpec = { ...a };
  if (a.podSecurity && b.podSecurity) {
    out.podSecurity = {
      level: LEVEL_RANK[a.podSecurity.level] >= LEVEL_RANK[b.podSecurity.level] ? a.podSecurity.level : b.podSecurity.level,
      mode: stricterMode(a.podSecurity.mode, b.podSecurity.mode),
    };
  } else out.podSecurity = a.podSecurity ?? b.podSecurity;
  if (a.networkPolicy && b.networkPolicy) {
    out.networkPolicy = {
      mode: stricterMode(a.networkPolicy.mode, b.networkPolicy.mode),
      require: [...new Set([...(a.networkPolicy.require ?? []), ...(b.networkPolicy.require ?? [])])],
    };
  } else out.networkPolicy = a.networkPolicy ?? b.networkPolicy;
  if (a.vmSecurity && b.vmSecurity) {
    out.vmSecurity = {
      mode: stricterMode(a.vmSecurity.mode, b.vmSecurity.mode),
      allowHostDevices: intersect(a.vmSecurity.allowHostDevices, b.vmSecurity.allowHostDevices),
      allowHookSidecars: !!a.vmSecurity.allowHookSidecars && !!b.vmSecurity.allowHookSidecars,
      allowDedicatedCpu: !!a.vmSecurity.allowDedicatedCpu && !!b.vmSecurity.allowDedicatedCpu,
    };
  } else out.vmSecurity = a.vmSecurity ?? b.vmSecurity;
  if (a.quota?.hard && b.quota?.hard) {
    out.quota = {
      hard: stricterHard(a.quota.hard, b.quota.hard),
      // Charging what the launcher pod requests counts the overhead too: the stricter of the two.
      vmCharging: a.quota.vmCharging === 'guest' && b.quota.vmCharging === 'guest' ? 'guest' : 'pod',
    };
  } else out.quota = a.quota?.hard ? a.quota : b.quota?.hard ? b.quota : (a.quota ?? b.quota);
  out.defaults = a.defaults ?? b.defaults;
  return out;
}

/** A Tenant's settings with the server's defaultTenant filling the sections it leaves out. */
export function withDefaults(spec: TenantSpec, defaults: TenantSpec): TenantSpec {
  return {
    ...spec,
    podSecurity: spec.podSecurity ?? defaults.podSecurity,
    networkPolicy: spec.networkPolicy ?? defaults.networkPolicy,
    vmSecurity: spec.vmSecurity ?? defaults.vmSecurity,
    defaults: spec.defaults ?? defaults.defaults,
    quota: spec.quota ?? defaults.quota,
  };
}

function claims(tenant: KubeObject, namespace: KubeObject): boolean {
  const spec = (tenant.spec ?? {}) as TenantSpec;
  const name = namespace.metadata?.name ?? '';
  if (spec.namespaces?.includes(name)) return true;
  return spec.namespaceSelector ? selectorMatches(spec.namespaceSelector, namespace.metadata?.labels) : false;
}

/**
 * The Tenant a namespace (as given, e.g. the object a request admits) belongs to: the first by name
 * of those claiming it, as TenantIndex resolves a namespace two Tenants claim. O(Tenants).
 */
export function claimingTenantOf(tenants: readonly KubeObject[], namespace: KubeObject): string | undefined {
  let first: string | undefined;
  for (const t of tenants) {
    const name = t.metadata?.name ?? '';
    if ((first === undefined || name.localeCompare(first) < 0) && claims(t, namespace)) first = name;
  }
  return first;
}

export class TenantIndex {
  private readonly byNamespace = new Map<string, TenantBinding>();
  readonly conflicts: NamespaceConflict[] = [];
  private readonly fallback: TenantBinding;
  private byTenant: Map<string, string[]> | undefined;

  constructor(tenants: readonly KubeObject[], namespaces: readonly KubeObject[], defaults: TenantSpec) {
    this.fallback = { name: undefined, spec: defaults, conflicts: [] };
    const sorted = [...tenants].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    // A Tenant may list namespaces that do not exist yet; they still belong to it when created.
    const known = new Map<string, KubeObject>(namespaces.map((n) => [n.metadata?.name ?? '', n]));
    for (const t of sorted) {
      for (const ns of (t.spec as TenantSpec | undefined)?.namespaces ?? []) {
        if (!known.has(ns)) known.set(ns, { metadata: { name: ns } });
      }
    }
    for (const [name, ns] of known) {
      const owners = sorted.filter((t) => claims(t, ns));
      if (owners.length === 0) continue;
      const names = owners.map((t) => t.metadata?.name ?? '');
      let spec = (owners[0]!.spec ?? {}) as TenantSpec;
      for (const other of owners.slice(1)) spec = stricterSpec(spec, (other.spec ?? {}) as TenantSpec);
      this.byNamespace.set(name, {
        name: names[0],
        spec: withDefaults(spec, defaults),
        conflicts: names.slice(1),
      });
      if (owners.length > 1) this.conflicts.push({ namespace: name, tenants: names });
    }
  }

  tenantOf(namespace: string): TenantBinding {
    return this.byNamespace.get(namespace) ?? this.fallback;
  }

  /** Namespaces owned by a tenant, a shared one counted for each Tenant claiming it (quota usage is per review). */
  namespacesOf(tenant: string): readonly string[] {
    if (this.byTenant === undefined) {
      this.byTenant = new Map();
      for (const [ns, b] of this.byNamespace) {
        for (const t of [b.name!, ...b.conflicts]) {
          const list = this.byTenant.get(t);
          if (list) list.push(ns);
          else this.byTenant.set(t, [ns]);
        }
      }
    }
    return this.byTenant.get(tenant) ?? [];
  }
}
