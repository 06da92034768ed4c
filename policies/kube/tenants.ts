// Namespace -> Tenant resolution (SPEC 4). The index is rebuilt when Tenants or Namespaces change
// so that a review looks its tenant up in O(1); a namespace claimed by two Tenants is a
// configuration error that is reported, and the stricter settings of the claimants apply, except
// quota limits: each claimant is charged for the namespace and judged against its own.
import { selectorMatches } from './label-selector.js';
import { parseMilli, parseUnits } from './quantity.js';
import type { KubeObject, Mode, PodSecurityLevel, TenantBinding, TenantSpec } from '../types.js';

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

type DefaultRequests = NonNullable<NonNullable<TenantSpec['quota']>['defaultRequests']>;

/** Per resource the larger default request (it charges more); one only one gives stays. */
function largerDefaults(a: DefaultRequests | undefined, b: DefaultRequests | undefined): DefaultRequests | undefined {
  if (!a || !b) return a ?? b;
  const out: DefaultRequests = { ...a };
  for (const [name, parse] of [['cpu', parseMilli], ['memory', parseUnits]] as const) {
    const x = a[name];
    const y = b[name];
    if (x === undefined || y === undefined) {
      if (y !== undefined) out[name] = y;
      continue;
    }
    try {
      if (parse(y) > parse(x)) out[name] = y;
    } catch {
      // An invalid default is the quota module's to report, naming it; keep the first as written.
    }
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
  // Quota limits are not merged: each Tenant is judged against its own hard (TenantBinding.quotas).
  // How an object is charged is one reading for both: the launcher pod's overhead counts unless
  // both say guest, and the larger default request stands in for a missing one.
  if (a.quota || b.quota) {
    out.quota = {
      vmCharging: a.quota?.vmCharging === 'guest' && b.quota?.vmCharging === 'guest' ? 'guest' : 'pod',
      defaultRequests: largerDefaults(a.quota?.defaultRequests, b.quota?.defaultRequests),
    };
  }
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
  private readonly byNamespace: Map<string, TenantBinding>;
  readonly conflicts: NamespaceConflict[];
  private readonly fallback: TenantBinding;
  private byTenant: Map<string, string[]> | undefined;
  /** By name, as claims are resolved (the first claimant names the binding). */
  private readonly sorted: readonly KubeObject[];
  /** The index this one was made from by withNamespace, and the namespace that changed (weak: no chain of old indexes is kept). */
  private readonly parent: { index: WeakRef<TenantIndex>; namespace: string } | undefined;

  /**
   * A full build, or (with `update`) the index after one Namespace of `update.from` changed
   * (undefined: deleted), in O(Tenants + namespaces copied) instead of O(Tenants x namespaces): a
   * namespace's labels decide only its own binding. `tenants` and `defaults` are then update.from's.
   */
  constructor(
    tenants: readonly KubeObject[],
    namespaces: readonly KubeObject[],
    defaults: TenantSpec,
    update?: { from: TenantIndex; name: string; namespace: KubeObject | undefined },
  ) {
    this.fallback = { name: undefined, spec: defaults, conflicts: [] };
    if (update !== undefined) {
      const { from, name } = update;
      this.sorted = from.sorted;
      this.byNamespace = new Map(from.byNamespace);
      this.byNamespace.delete(name);
      this.conflicts = from.conflicts.filter((c) => c.namespace !== name);
      this.parent = { index: new WeakRef(from), namespace: name };
      const listed = this.sorted.some((t) => (t.spec as TenantSpec | undefined)?.namespaces?.includes(name));
      const subject = update.namespace ?? (listed ? { metadata: { name } } : undefined);
      if (subject !== undefined) this.bind(name, subject);
      return;
    }
    this.sorted = [...tenants].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    this.byNamespace = new Map();
    this.conflicts = [];
    this.parent = undefined;
    // A Tenant may list namespaces that do not exist yet; they still belong to it when created.
    const known = new Map<string, KubeObject>(namespaces.map((n) => [n.metadata?.name ?? '', n]));
    for (const t of this.sorted) {
      for (const ns of (t.spec as TenantSpec | undefined)?.namespaces ?? []) {
        if (!known.has(ns)) known.set(ns, { metadata: { name: ns } });
      }
    }
    for (const [name, ns] of known) this.bind(name, ns);
  }

  /** The index after one Namespace changed (undefined: deleted). */
  withNamespace(name: string, namespace: KubeObject | undefined): TenantIndex {
    return new TenantIndex(this.sorted, [], this.fallback.spec, { from: this, name, namespace });
  }

  /** Resolves one namespace's claimants into its binding (and its conflict, when several claim it). */
  private bind(name: string, ns: KubeObject): void {
    const owners = this.sorted.filter((t) => claims(t, ns));
    if (owners.length === 0) return;
    const names = owners.map((t) => t.metadata?.name ?? '');
    const specs = owners.map((t) => (t.spec ?? {}) as TenantSpec);
    let spec = specs[0]!;
    for (const other of specs.slice(1)) spec = stricterSpec(spec, other);
    this.byNamespace.set(name, {
      name: names[0],
      spec: withDefaults(spec, this.fallback.spec),
      conflicts: names.slice(1),
      quotas: specs.map((s, i) => ({ tenant: names[i]!, quota: s.quota ?? this.fallback.spec.quota })),
    });
    if (owners.length > 1) this.conflicts.push({ namespace: name, tenants: names });
  }

  /**
   * The namespaces whose binding may differ from `older`'s, when this index was made from it by
   * withNamespace (a few steps at most); undefined when that cannot be told (then any may differ).
   */
  changedSince(older: TenantIndex): string[] | undefined {
    const changed: string[] = [];
    let at: TenantIndex | undefined = this;
    for (let steps = 0; at !== undefined && steps < 64; steps++) {
      if (at === older) return changed;
      if (at.parent === undefined) return undefined;
      changed.push(at.parent.namespace);
      at = at.parent.index.deref();
    }
    return undefined;
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
