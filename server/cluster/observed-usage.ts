// The "observed" half of quota usage (SPEC 6.4: usage = observed + reserved): what the objects the
// cluster view holds cost, kept per object and summed per namespace as the store changes, so that a
// review reads a tenant's usage in O(its namespaces) and never walks the cluster.
//
// An object's charge can depend on others: a VM's on its VMI, a launcher pod's on its VMI and the
// pod it replaces in a migration. A change to any KubeVirt object or KubeVirt pod therefore
// recharges that namespace's KubeVirt objects and pods (few next to its plain pods); a change to the
// KubeVirt CR, a cluster instancetype, a StorageClass, CDI's config or the Tenant/Namespace
// mapping recharges everything, lazily. A PVC or DataVolume recharges the links of its disk chain,
// a PVC also the populator PVC' named after its uid. Each charge keeps only what the limits of the
// Tenants charged for its namespace account (policies/quota/resources.ts accountedCharge).
// What time alone changes (a pod past its deletion grace) and anything the dependencies above miss
// is repaired by repair(), which the reconcile runs every period: drift lasts at most one period.
import { CHARGED_KINDS, chargeOf, type ChargedKind, type ChargeContext } from '../../policies/quota/charge.js';
import { kubevirtConfigOf, type KubeVirtResourceConfig } from '../../policies/quota/kubevirt-launcher-resources.js';
import { controllerRef } from '../../policies/kube/controller-ref.js';
import { podDefaultsOf } from '../../policies/quota/pod-constraints.js';
import { accountedBy, accountedCharge, addCharge, claimantLimits, sameAmounts, zeroCharge, type Charge } from '../../policies/quota/resources.js';
import type { TenantIndex } from '../../policies/kube/tenants.js';
import type { ClusterView, KubeObject, QuotaConsumer, ResourceAmounts, ViewKind } from '../../policies/types.js';
import type { ObjectStore, StoreChange } from './object-store.js';
import { TopConsumers } from './top-consumers.js';

const KUBEVIRT_KINDS: ReadonlySet<ViewKind> = new Set<ViewKind>([
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
  'VirtualMachineInstanceMigration',
  'VirtualMachineInstancetype',
  'ControllerRevision',
]);

/** Cluster-wide inputs of every VM's charge, and of every disk's (the default class, CDI's overhead). */
const CLUSTER_INPUTS: ReadonlySet<ViewKind> = new Set<ViewKind>(['KubeVirt', 'VirtualMachineClusterInstancetype', 'StorageClass', 'CDIConfig']);

const CHARGED: ReadonlySet<ViewKind> = new Set<ViewKind>(CHARGED_KINDS);

/** A pod whose charge depends on a VMI: KubeVirt's launcher pods, real or claimed. */
function kubevirtPod(pod: KubeObject | undefined): boolean {
  const meta = pod?.metadata;
  return meta?.labels?.['kubevirt.io'] !== undefined || meta?.ownerReferences?.some((r) => r.kind === 'VirtualMachineInstance') === true;
}

export type ObservedView = ClusterView & { store: ObjectStore };

export interface ObservedUsageOptions {
  /** The clock for pods past their deletion grace (undefined: they cost until gone). */
  now?: () => number | undefined;
}

export class ObservedUsage {
  /** namespace -> "kind/name" -> charge, for objects in namespaces some Tenant claims. */
  private readonly charges = new Map<string, Map<string, Charge>>();
  private readonly byNamespace = new Map<string, Charge>();
  /** namespace -> the parsed hard of each Tenant charged for it, for the mapping `index` holds. */
  private readonly limits = new Map<string, readonly Readonly<ResourceAmounts>[]>();
  /** Per namespace, the names of its KubeVirt pods (recharged with its KubeVirt objects). */
  private readonly kubevirtPods = new Map<string, Set<string>>();
  /** "kind/namespace/name" -> why its charge could not be computed (it is then charged nothing). */
  private readonly errors = new Map<string, string>();
  /**
   * "kind/namespace/name" -> what its charge had to do without (an instancetype changed since KubeVirt
   * stored it): charged from what is known, and reported on the Tenant, never a failure.
   */
  private readonly notes = new Map<string, string>();
  /** The tenant mapping the charges were computed under; another one means recharge everything. */
  private index: TenantIndex | undefined;
  private kubevirt: KubeVirtResourceConfig | undefined;
  private readonly now: () => number | undefined;
  /** The largest charges per namespace and resource, kept where charges are set (recharge, rebuild). */
  private readonly top = new TopConsumers();

  constructor(
    private readonly view: ObservedView,
    opts: ObservedUsageOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    view.store.subscribe((change) => this.changed(change));
  }

  /** What the objects in a tenant's namespaces cost now. */
  tenantUsage(tenant: string): Charge {
    const index = this.current();
    const total = zeroCharge();
    for (const ns of index.namespacesOf(tenant)) {
      const sum = this.byNamespace.get(ns);
      if (sum) addCharge(total, sum);
    }
    return total;
  }

  /** The k objects charged the most of `resource` in a tenant's namespaces now, largest first. */
  topConsumers(tenant: string, resource: string, k: number): QuotaConsumer[] {
    return this.top.top(this.current().namespacesOf(tenant), resource, k).map((c) => {
      const slash = c.key.indexOf('/');
      return { kind: c.key.slice(0, slash), namespace: c.namespace, name: c.key.slice(slash + 1), amount: c.amount };
    });
  }

  /** The namespaces a tenant's usage is summed over. */
  namespacesOf(tenant: string): readonly string[] {
    return this.current().namespacesOf(tenant);
  }

  /** What the objects of one namespace cost now (zero for a namespace no Tenant claims). */
  namespaceUsage(namespace: string): Charge {
    this.current();
    return { ...(this.byNamespace.get(namespace) ?? zeroCharge()) };
  }

  /** Objects whose charge could not be computed, in a tenant's namespaces ("Pod ns/name: why"). */
  problems(tenant: string): string[] {
    return this.listed(this.errors, tenant);
  }

  private listed(byObject: ReadonlyMap<string, string>, tenant: string): string[] {
    const namespaces = new Set(this.current().namespacesOf(tenant));
    const out: string[] = [];
    for (const [key, message] of byObject) {
      const [kind, ns, name] = key.split('/');
      if (namespaces.has(ns!)) out.push(`${kind} ${ns}/${name}: ${message}`);
    }
    return out;
  }

  /** Objects charged from incomplete inputs, in a tenant's namespaces ("VirtualMachine ns/name: what"). */
  notices(tenant: string): string[] {
    return this.listed(this.notes, tenant);
  }

  /**
   * Recharges every object of one namespace from the view and returns whether its sum moved: the
   * reconcile's repair, one namespace at a time so that reviews run in between.
   */
  repairNamespace(namespace: string): boolean {
    const index = this.current();
    const before = this.byNamespace.get(namespace) ?? zeroCharge();
    if (index.tenantOf(namespace).name !== undefined) {
      this.kubevirt = undefined;
      for (const kind of CHARGED_KINDS) for (const obj of this.view.list(kind, namespace)) this.recharge(kind, namespace, obj.metadata?.name ?? '', index);
    }
    for (const key of [...(this.charges.get(namespace)?.keys() ?? [])]) {
      const [kind, name] = key.split('/') as [ChargedKind, string];
      if (this.view.get(kind, namespace, name) === undefined) this.recharge(kind, namespace, name, index);
    }
    const after = this.byNamespace.get(namespace) ?? zeroCharge();
    return !sameAmounts(before, after);
  }

  /** Namespaces with a charge or claimed by a Tenant: what repairNamespace should visit. */
  namespaces(): string[] {
    const out = new Set(this.byNamespace.keys());
    for (const t of this.view.list('Tenant')) for (const ns of this.current().namespacesOf(t.metadata?.name ?? '')) out.add(ns);
    return [...out];
  }

  private current(): TenantIndex {
    const index = this.view.store.tenants();
    if (index !== this.index) this.rebuild(index);
    return index;
  }

  private rebuild(index: TenantIndex): void {
    this.index = index;
    this.kubevirt = undefined;
    this.charges.clear();
    this.limits.clear();
    this.top.clear();
    this.byNamespace.clear();
    this.kubevirtPods.clear();
    this.errors.clear();
    this.notes.clear();
    const seen = new Set<string>();
    for (const t of this.view.list('Tenant')) {
      for (const ns of index.namespacesOf(t.metadata?.name ?? '')) {
        if (seen.has(ns)) continue;
        seen.add(ns);
        for (const kind of CHARGED_KINDS) for (const obj of this.view.list(kind, ns)) this.recharge(kind, ns, obj.metadata?.name ?? '', index);
      }
    }
  }

  private changed(change: StoreChange): void {
    const index = this.index;
    // Never built, or the mapping is stale: the next read rebuilds from the store anyway.
    if (index === undefined || index !== this.view.store.tenants()) return;
    const { kind, namespace, name } = change;
    if (CLUSTER_INPUTS.has(kind)) {
      this.index = undefined;
      return;
    }
    if (index.tenantOf(namespace).name === undefined) return;
    if (kind === 'Pod' && !kubevirtPod(change.object) && !kubevirtPod(change.previous)) {
      this.recharge('Pod', namespace, name, index);
      return;
    }
    if (kind === 'PersistentVolumeClaim' || kind === 'DataVolume') {
      this.recharge(kind, namespace, name, index);
      // The disk chain (policies/quota/storage-charge.ts): a DataVolume pays until a PVC of its name
      // exists, a VM for each template until its DataVolume or a PVC of that name does. Which VM
      // names a template is not indexed: a PVC appearing or going recharges the namespace's VMs.
      // The source PVC or VolumeSnapshot a sizeless clone was sized from is left to repair().
      if (kind === 'PersistentVolumeClaim') {
        this.recharge('DataVolume', namespace, name, index);
        // A populator's PVC' pays nothing while its target is unbound (policies/kube/cdi-pvc.ts).
        for (const uid of new Set([change.object?.metadata?.uid, change.previous?.metadata?.uid])) {
          if (uid) this.recharge('PersistentVolumeClaim', namespace, `prime-${uid}`, index);
        }
        if ((change.object === undefined) !== (change.previous === undefined)) {
          for (const vm of this.view.list('VirtualMachine', namespace)) this.recharge('VirtualMachine', namespace, vm.metadata?.name ?? '', index);
        }
      } else {
        for (const obj of [change.object, change.previous]) {
          const owner = obj === undefined ? undefined : controllerRef(obj);
          if (owner?.kind === 'VirtualMachine') this.recharge('VirtualMachine', namespace, owner.name, index);
        }
      }
      return;
    }
    if (!KUBEVIRT_KINDS.has(kind) && kind !== 'Pod') return;
    if (CHARGED.has(kind)) this.recharge(kind as ChargedKind, namespace, name, index);
    for (const k of CHARGED_KINDS) {
      // Pods are recharged below (KubeVirt's only); no disk's charge depends on a KubeVirt object.
      if (k === 'Pod' || k === 'PersistentVolumeClaim' || k === 'DataVolume') continue;
      for (const obj of this.view.list(k, namespace)) this.recharge(k, namespace, obj.metadata?.name ?? '', index);
    }
    for (const pod of [...(this.kubevirtPods.get(namespace) ?? [])]) this.recharge('Pod', namespace, pod, index);
  }

  /** Replaces one object's charge with what it costs now (nothing once it is gone). */
  private recharge(kind: ChargedKind, namespace: string, name: string, index: TenantIndex): void {
    const key = `${kind}/${name}`;
    const errorKey = `${kind}/${namespace}/${name}`;
    const obj = this.view.get(kind, namespace, name);
    let inNamespace = this.charges.get(namespace);
    const old = inNamespace?.get(key);
    let next: Charge | undefined;
    this.errors.delete(errorKey);
    this.notes.delete(errorKey);
    if (obj !== undefined) {
      try {
        next = accountedCharge(chargeOf(kind, obj, this.contextFor(namespace, index, errorKey)), this.limitsOf(namespace, index));
      } catch (err) {
        // It exists and costs something; the Tenant's status reports it until it is fixed.
        this.errors.set(errorKey, (err as Error).message);
      }
    }
    if (kind === 'Pod') this.trackKubevirtPod(namespace, name, obj);
    if (old === undefined && next === undefined) return;
    this.top.update(namespace, key, old, next);
    let sum = this.byNamespace.get(namespace);
    if (!sum) this.byNamespace.set(namespace, (sum = zeroCharge()));
    if (old) addCharge(sum, old, -1);
    if (next) {
      addCharge(sum, next);
      if (!inNamespace) this.charges.set(namespace, (inNamespace = new Map()));
      inNamespace.set(key, next);
    } else {
      inNamespace!.delete(key);
    }
  }

  private trackKubevirtPod(namespace: string, name: string, pod: KubeObject | undefined): void {
    let names = this.kubevirtPods.get(namespace);
    if (kubevirtPod(pod)) {
      if (!names) this.kubevirtPods.set(namespace, (names = new Set()));
      names.add(name);
    } else {
      names?.delete(name);
    }
  }

  /** The limits of every Tenant charged for a namespace: what its objects' charges keep (accountedCharge). */
  private limitsOf(namespace: string, index: TenantIndex): readonly Readonly<ResourceAmounts>[] {
    let limits = this.limits.get(namespace);
    if (limits === undefined) this.limits.set(namespace, (limits = claimantLimits(index.tenantOf(namespace))));
    return limits;
  }

  private contextFor(namespace: string, index: TenantIndex, objectKey: string): ChargeContext {
    this.kubevirt ??= kubevirtConfigOf(this.view);
    const now = this.now();
    const quota = index.tenantOf(namespace).spec.quota;
    return {
      view: this.view,
      namespace,
      vmCharging: quota?.vmCharging ?? 'pod',
      kubevirt: this.kubevirt,
      podDefaults: podDefaultsOf(quota?.defaultRequests),
      accounts: accountedBy(this.limitsOf(namespace, index)),
      onProblem: (problem) => this.notes.set(objectKey, problem),
      // A disk whose size cannot be known (a clone's source gone) is counted without it, and reported.
      onUnknownSize: (problem) => this.notes.set(objectKey, problem),
      ...(now === undefined ? {} : { nowMs: now }),
    };
  }
}
