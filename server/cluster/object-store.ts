// The in-memory store both cluster views keep: kind -> namespace -> name -> object, so that the
// lookups a review makes are O(1) (get) or O(objects in one namespace) (list).
import { TenantIndex } from '../../policies/tenants.js';
import type { KubeObject, TenantBinding, TenantSpec, ViewKind } from '../../policies/types.js';

export const CLUSTER_SCOPED: ReadonlySet<ViewKind> = new Set<ViewKind>([
  'Namespace',
  'Tenant',
  'VirtualMachineClusterInstancetype',
  'StorageClass',
  'CDIConfig',
]);

export const VIEW_KINDS: ReadonlySet<string> = new Set<ViewKind>([
  'Namespace',
  'NetworkPolicy',
  'Pod',
  'Tenant',
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
  'VirtualMachineInstanceMigration',
  'VirtualMachineInstancetype',
  'VirtualMachineClusterInstancetype',
  'KubeVirt',
  'PersistentVolumeClaim',
  'StorageClass',
  'DataVolume',
  'CDIConfig',
]);

const EMPTY: readonly KubeObject[] = Object.freeze([]);

export function isViewKind(kind: unknown): kind is ViewKind {
  return typeof kind === 'string' && VIEW_KINDS.has(kind);
}

export class ObjectStore {
  private readonly kinds = new Map<ViewKind, Map<string, Map<string, KubeObject>>>();
  /** list() results are cached per namespace until that namespace's objects of the kind change. */
  private readonly listCache = new Map<string, readonly KubeObject[]>();
  private tenantIndex: TenantIndex | undefined;

  constructor(private defaultTenant: TenantSpec) {}

  setDefaultTenant(spec: TenantSpec): void {
    this.defaultTenant = spec;
    this.tenantIndex = undefined;
  }

  private scope(kind: ViewKind, namespace: string | undefined): string {
    return CLUSTER_SCOPED.has(kind) ? '' : (namespace ?? '');
  }

  get(kind: ViewKind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.kinds.get(kind)?.get(this.scope(kind, namespace))?.get(name);
  }

  list(kind: ViewKind, namespace?: string): readonly KubeObject[] {
    const byNs = this.kinds.get(kind);
    if (!byNs) return EMPTY;
    if (namespace === undefined && !CLUSTER_SCOPED.has(kind)) {
      const all: KubeObject[] = [];
      for (const objs of byNs.values()) all.push(...objs.values());
      return all;
    }
    const scope = this.scope(kind, namespace);
    const key = `${kind}/${scope}`;
    let cached = this.listCache.get(key);
    if (!cached) {
      cached = [...(byNs.get(scope)?.values() ?? [])];
      this.listCache.set(key, cached);
    }
    return cached;
  }

  upsert(kind: ViewKind, obj: KubeObject): void {
    const scope = this.scope(kind, obj.metadata?.namespace);
    const name = obj.metadata?.name ?? '';
    let byNs = this.kinds.get(kind);
    if (!byNs) this.kinds.set(kind, (byNs = new Map()));
    let objs = byNs.get(scope);
    if (!objs) byNs.set(scope, (objs = new Map()));
    objs.set(name, obj);
    this.changed(kind, scope);
  }

  remove(kind: ViewKind, namespace: string | undefined, name: string): void {
    const scope = this.scope(kind, namespace);
    const objs = this.kinds.get(kind)?.get(scope);
    if (objs?.delete(name)) this.changed(kind, scope);
  }

  /** Drops every object of a kind (a relist replaces them). */
  clear(kind: ViewKind): void {
    this.kinds.delete(kind);
    for (const key of [...this.listCache.keys()]) if (key.startsWith(`${kind}/`)) this.listCache.delete(key);
    if (kind === 'Tenant' || kind === 'Namespace') this.tenantIndex = undefined;
  }

  count(kind: ViewKind): number {
    let n = 0;
    for (const objs of this.kinds.get(kind)?.values() ?? []) n += objs.size;
    return n;
  }

  private changed(kind: ViewKind, scope: string): void {
    this.listCache.delete(`${kind}/${scope}`);
    if (kind === 'Tenant' || kind === 'Namespace') this.tenantIndex = undefined;
  }

  /** Rebuilt lazily after a Tenant or Namespace change, so reviews look tenants up in O(1). */
  tenants(): TenantIndex {
    this.tenantIndex ??= new TenantIndex(this.list('Tenant'), this.list('Namespace'), this.defaultTenant);
    return this.tenantIndex;
  }

  tenantOf(namespace: string): TenantBinding {
    return this.tenants().tenantOf(namespace);
  }
}
