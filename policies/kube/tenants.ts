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
    let spec = (owners[0]!.spec ?? {}) as TenantSpec;
    for (const other of owners.slice(1)) spec = stricterSpec(spec, (other.spec ?? {}) as TenantSpec);
    this.byNamespace.set(name, {
      name: names[0],
      spec: withDefaults(spec, this.fallback.spec),
      conflicts: names.slice(1),
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
