// The in-memory store both cluster views keep: kind -> namespace -> name -> object, so that the
// lookups a review makes are O(1) (get) or O(objects in one namespace) (list).
import { TenantIndex } from '../../policies/kube/tenants.js';
import type { KubeObject, TenantBinding, TenantSpec, ViewKind } from '../../policies/types.js';
import { TenantSpecGuard } from './tenant-spec-guard.js';

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
  'ControllerRevision',
  'KubeVirt',
  'PersistentVolumeClaim',
  'StorageClass',
  'DataVolume',
  'CDIConfig',
  'VolumeSnapshot',
]);

const EMPTY: readonly KubeObject[] = Object.freeze([]);

/** One change to the store: the object as it now is (undefined once removed) and as it was before. */
export interface StoreChange {
  kind: ViewKind;
  /** '' for cluster-scoped kinds. */
  namespace: string;
  name: string;
  object: KubeObject | undefined;
  previous: KubeObject | undefined;
}

export type StoreListener = (change: StoreChange) => void;

/** A Tenant's status changes with every quota reservation; only its spec moves namespaces between tenants. */
function sameSpec(a: KubeObject | undefined, b: KubeObject | undefined): boolean {
  return a !== undefined && b !== undefined && (a.spec === b.spec || JSON.stringify(a.spec) === JSON.stringify(b.spec));
}

export function isViewKind(kind: unknown): kind is ViewKind {
  return typeof kind === 'string' && VIEW_KINDS.has(kind);
}

export class ObjectStore {
  private readonly kinds = new Map<ViewKind, Map<string, Map<string, KubeObject>>>();
  /** list() results are cached per namespace until that namespace's objects of the kind change. */
  private readonly listCache = new Map<string, readonly KubeObject[]>();
  private tenantIndex: TenantIndex | undefined;
  private readonly listeners: StoreListener[] = [];
  /** Every Tenant is stored with the spec tenantguard judges by (the last valid one, SPEC 11.1). */
  readonly tenantGuard = new TenantSpecGuard();
  /** The highest numeric resourceVersion stored so far (snapshot mode numbers its writes past it). */
  private latestVersion = 0;

  constructor(private defaultTenant: TenantSpec) {}

  setDefaultTenant(spec: TenantSpec): void {
    this.defaultTenant = spec;
    this.tenantIndex = undefined;
  }

  /** Called synchronously after every change (the quota's observed usage follows the store this way). */
  subscribe(listener: StoreListener): void {
    this.listeners.push(listener);
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

  upsert(kind: ViewKind, stored: KubeObject): void {
    const obj = kind === 'Tenant' ? this.tenantGuard.admit(stored) : stored;
    const scope = this.scope(kind, obj.metadata?.namespace);
    const name = obj.metadata?.name ?? '';
    let byNs = this.kinds.get(kind);
    if (!byNs) this.kinds.set(kind, (byNs = new Map()));
    let objs = byNs.get(scope);
    if (!objs) byNs.set(scope, (objs = new Map()));
    const previous = objs.get(name);
    objs.set(name, obj);
    this.noteVersion(obj.metadata?.resourceVersion);
    this.changed(kind, scope, name, kind !== 'Tenant' || !sameSpec(previous, obj));
    this.notify({ kind, namespace: scope, name, object: obj, previous });
  }

  remove(kind: ViewKind, namespace: string | undefined, name: string): void {
    const scope = this.scope(kind, namespace);
    const objs = this.kinds.get(kind)?.get(scope);
    const previous = objs?.get(name);
    if (previous === undefined || !objs!.delete(name)) return;
    if (kind === 'Tenant') this.tenantGuard.forget(name);
    this.changed(kind, scope, name, true);
    this.notify({ kind, namespace: scope, name, object: undefined, previous });
  }

  /**
   * A resourceVersion later than every one stored and than `seen` (the version a review was made
   * against), as etcd's revisions grow: snapshot mode's writes then always look later.
   */
  nextVersion(seen?: string): string {
    this.noteVersion(seen);
    return String(++this.latestVersion);
  }

  private noteVersion(version: string | undefined): void {
    const n = Number(version);
    if (Number.isSafeInteger(n) && n > this.latestVersion) this.latestVersion = n;
  }

  count(kind: ViewKind): number {
    let n = 0;
    for (const objs of this.kinds.get(kind)?.values() ?? []) n += objs.size;
    return n;
  }

  private changed(kind: ViewKind, scope: string, name: string, tenancy: boolean): void {
    this.listCache.delete(`${kind}/${scope}`);
    if (!tenancy) return;
    // A Namespace decides only its own binding: one namespace is re-resolved, not the whole index.
    if (kind === 'Namespace') this.tenantIndex = this.tenantIndex?.withNamespace(name, this.get('Namespace', '', name));
    else if (kind === 'Tenant') this.tenantIndex = undefined;
  }

  private notify(change: StoreChange): void {
    for (const listener of this.listeners) listener(change);
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
