// The "observed" half of quota usage (SPEC 6.4: usage = observed + reserved): what the objects the
// cluster view holds cost, kept per object and summed per namespace as the store changes, so that a
// review reads a tenant's usage in O(its namespaces) and never walks the cluster.
//
// Each watch event costs O(what it changed) (issue 20 item 5). An object's charge is a pure function
// of the object, the view reads its charge made (recorded: charge-reads.ts), the KubeVirt resource
// configuration and its namespace's tenant settings; a change recharges the object itself and only
// the objects whose last charge read what changed (a VMI: its VM, its launcher pod, a replica set
// counting it; a PVC: the DataVolume and VM templates of its name; a cluster instancetype: the VMs
// sized by it; a Namespace moved between Tenants with other charging settings: that namespace).
// The work is queued per namespace and done in slices of at most SLICE_MS that yield to the event
// loop, so an event that really changes many objects (a StorageClass becoming the default, a big
// namespace claimed) never holds reviews up. Reads stay exact meanwhile: a review first finishes
// the queued work of its tenant's namespaces (settle), so what it judges equals a full recomputation.
// Each charge keeps only what the limits of the Tenants charged for its namespace account
// (policies/quota/resources.ts accountedCharge). What time alone changes (a pod past its deletion
// grace) is repaired by repairNamespace(), which the reconcile runs every period.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToReviews } from 'node:timers/promises';
import { CHARGED_KINDS, chargeOf, type ChargedKind, type ChargeContext } from '../../policies/quota/charge.js';
import { kubevirtConfigOf, type KubeVirtResourceConfig } from '../../policies/quota/kubevirt-launcher-resources.js';
import { podDefaultsOf } from '../../policies/quota/pod-constraints.js';
import { accountedBy, accountedCharge, addCharge, claimantLimits, sameAmounts, zeroCharge, type Charge } from '../../policies/quota/resources.js';
import type { TenantIndex } from '../../policies/kube/tenants.js';
import type { ClusterView, QuotaConsumer, ResourceAmounts, TenantBinding, ViewKind } from '../../policies/types.js';
import { KUBEVIRT_CONFIG_READ, readsChangedBy, RecordingView, tenancyRead } from './charge-reads.js';
import type { ObjectStore, StoreChange } from './object-store.js';
import { TopConsumers } from './top-consumers.js';

/** The longest stretch of recharging done without yielding to the event loop. */
export const SLICE_MS = 5;

const CHARGED: ReadonlySet<ViewKind> = new Set<ViewKind>(CHARGED_KINDS);

export type ObservedView = ClusterView & { store: ObjectStore };

export interface ObservedUsageOptions {
  /** The clock for pods past their deletion grace (undefined: they cost until gone). */
  now?: () => number | undefined;
}

/**
 * What of a namespace's Tenants its charges read (the charging settings, and which resources their
 * limits account); undefined where no Tenant claims it (nothing is charged).
 */
function chargingOf(binding: TenantBinding): string | undefined {
  if (binding.name === undefined) return undefined;
  const quota = binding.spec.quota;
  const accounted = claimantLimits(binding).map((hard) => Object.keys(hard).sort());
  return JSON.stringify([quota?.vmCharging ?? 'pod', quota?.defaultRequests ?? null, accounted]);
}

/** Recharging still to do in one namespace: single objects ("kind/name"), and batches walked lazily. */
interface Work {
  keys: Set<string>;
  batches: Array<Iterator<string>>;
}

type KubevirtConfig = { config: KubeVirtResourceConfig } | { error: string };

export class ObservedUsage {
  /** namespace -> "kind/name" -> charge, for objects in namespaces some Tenant claims. */
  private readonly charges = new Map<string, Map<string, Charge>>();
  private readonly byNamespace = new Map<string, Charge>();
  /** "kind/namespace/name" -> why its charge could not be computed (it is then charged nothing). */
  private readonly errors = new Map<string, string>();
  /**
   * "kind/namespace/name" -> what its charge had to do without (an instancetype changed since KubeVirt
   * stored it): charged from what is known, and reported on the Tenant, never a failure.
   */
  private readonly notes = new Map<string, string>();
  /** read key -> namespace -> "kind/name" of the objects whose last charge made that read. */
  private readonly dependents = new Map<string, Map<string, Set<string>>>();
  /** "kind/namespace/name" -> the reads its last charge made. */
  private readonly readsOf = new Map<string, readonly string[]>();
  /** namespace -> its Tenant's charging settings (chargingOf), for the namespaces some Tenant claims. */
  private readonly charging = new Map<string, string>();
  private readonly pending = new Map<string, Work>();
  /** The tenant mapping `charging` was taken from. */
  private index: TenantIndex;
  private kubevirt: KubevirtConfig | undefined;
  private sliceScheduled = false;
  private readonly now: () => number | undefined;
  private readonly listeners: Array<(namespace: string) => void> = [];
  /** namespace -> the parsed hard of each Tenant charged for it, for the mapping `index` holds. */
  private readonly limits = new Map<string, readonly Readonly<ResourceAmounts>[]>();
  /** The largest charges per namespace and resource, kept where charges are set (recharge). */
  private readonly top = new TopConsumers();

  constructor(
    private readonly view: ObservedView,
    opts: ObservedUsageOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.index = view.store.tenants();
    for (const ns of this.claimedNamespaces(this.index)) this.rebind(ns, this.index);
    this.drain(undefined);
    view.store.subscribe((change) => this.changed(change));
  }

  /** What the objects in a tenant's namespaces cost now. */
  tenantUsage(tenant: string): Charge {
    const namespaces = this.settledNamespacesOf(tenant);
    const total = zeroCharge();
    for (const ns of namespaces) {
      const sum = this.byNamespace.get(ns);
      if (sum) addCharge(total, sum);
    }
    return total;
  }

  /** Told the namespace whenever a charge there moves (the status.used writer follows usage this way). */
  onChange(listener: (namespace: string) => void): void {
    this.listeners.push(listener);
  }

  /** What the objects of each of a tenant's namespaces cost now (namespaces with nothing charged left out). */
  usageByNamespace(tenant: string): ReadonlyMap<string, Readonly<Charge>> {
    const out = new Map<string, Charge>();
    for (const ns of this.settledNamespacesOf(tenant)) {
      const sum = this.byNamespace.get(ns);
      if (sum) out.set(ns, sum);
    }
    return out;
  }

  /** The k objects charged the most of `resource` in a tenant's namespaces now, largest first. */
  topConsumers(tenant: string, resource: string, k: number): QuotaConsumer[] {
    return this.top.top(this.settledNamespacesOf(tenant), resource, k).map((c) => {
      const slash = c.key.indexOf('/');
      return { kind: c.key.slice(0, slash), namespace: c.namespace, name: c.key.slice(slash + 1), amount: c.amount };
    });
  }

  /** The namespaces a tenant's usage is summed over. */
  namespacesOf(tenant: string): readonly string[] {
    return this.settledNamespacesOf(tenant);
  }

  /** What the objects of one namespace cost now (zero for a namespace no Tenant claims). */
  namespaceUsage(namespace: string): Charge {
    this.syncTenancy();
    this.settle([namespace]);
    return { ...(this.byNamespace.get(namespace) ?? zeroCharge()) };
  }

  /** Objects whose charge could not be computed, in a tenant's namespaces ("Pod ns/name: why"). */
  problems(tenant: string): string[] {
    return this.listed(this.errors, tenant);
  }

  /** Objects charged from incomplete inputs, in a tenant's namespaces ("VirtualMachine ns/name: what"). */
  notices(tenant: string): string[] {
    return this.listed(this.notes, tenant);
  }

  private listed(byObject: ReadonlyMap<string, string>, tenant: string): string[] {
    const namespaces = new Set(this.settledNamespacesOf(tenant));
    const out: string[] = [];
    for (const [key, message] of byObject) {
      const [kind, ns, name] = key.split('/');
      if (namespaces.has(ns!)) out.push(`${kind} ${ns}/${name}: ${message}`);
    }
    return out;
  }

  /**
   * Recharges every object of one namespace from the view, in slices with reviews served between
   * them, and returns whether any charge moved: the reconcile's repair of what time alone changes.
   */
  async repairNamespace(namespace: string): Promise<boolean> {
    this.syncTenancy();
    this.followKubevirtConfig();
    this.settle([namespace]);
    let moved = false;
    let deadline = performance.now() + SLICE_MS;
    for (const key of this.everyObjectOf(namespace)) {
      if (this.rechargeKey(namespace, key)) moved = true;
      if (performance.now() > deadline) {
        await yieldToReviews();
        deadline = performance.now() + SLICE_MS;
      }
    }
    return moved;
  }

  /** Namespaces with a charge or claimed by a Tenant: what repairNamespace should visit. */
  namespaces(): string[] {
    this.syncTenancy();
    return [...new Set([...this.byNamespace.keys(), ...this.charging.keys()])];
  }

  /** The tenant's namespaces, with the queued recharges there done: exact from here on. */
  private settledNamespacesOf(tenant: string): readonly string[] {
    const namespaces = this.syncTenancy().namespacesOf(tenant);
    this.settle(namespaces);
    return namespaces;
  }

  private settle(namespaces: Iterable<string>): void {
    for (const ns of namespaces) {
      const work = this.pending.get(ns);
      if (work) this.drainNamespace(ns, work, undefined);
    }
  }

  private claimedNamespaces(index: TenantIndex): Set<string> {
    const out = new Set<string>();
    for (const t of this.view.list('Tenant')) for (const ns of index.namespacesOf(t.metadata?.name ?? '')) out.add(ns);
    return out;
  }

  /**
   * Follows a new tenant mapping (a Tenant's spec or a Namespace's labels changed, or the default
   * Tenant was reloaded): a namespace whose charging settings changed, or that was claimed or
   * released, is recharged; one that merely moved between Tenants alike keeps its charges.
   */
  private syncTenancy(): TenantIndex {
    const index = this.view.store.tenants();
    if (index === this.index) return index;
    // After Namespace events only those namespaces; after a Tenant's or the default's change, all.
    const changed = index.changedSince(this.index) ?? new Set([...this.charging.keys(), ...this.claimedNamespaces(index)]);
    this.index = index;
    for (const ns of changed) this.rebind(ns, index);
    this.scheduleSlices();
    return index;
  }

  private rebind(namespace: string, index: TenantIndex): void {
    // A charge that asked which Tenant claims the namespace may see another answer now.
    this.enqueueDependents(tenancyRead(namespace));
    this.limits.delete(namespace);
    const next = chargingOf(index.tenantOf(namespace));
    if (next === this.charging.get(namespace)) return;
    if (next === undefined) this.charging.delete(namespace);
    else this.charging.set(namespace, next);
    this.work(namespace).batches.push(this.everyObjectOf(namespace));
  }

  /** "kind/name" of every object of a namespace that is charged or may be: what the view holds, then charges left for objects gone. */
  private *everyObjectOf(namespace: string): Generator<string> {
    for (const kind of CHARGED_KINDS) for (const obj of this.view.list(kind, namespace)) yield `${kind}/${obj.metadata?.name ?? ''}`;
    for (const key of [...(this.charges.get(namespace)?.keys() ?? [])]) {
      const slash = key.indexOf('/');
      if (this.view.get(key.slice(0, slash) as ChargedKind, namespace, key.slice(slash + 1)) === undefined) yield key;
    }
  }

  private changed(change: StoreChange): void {
    const { kind, namespace, name } = change;
    if (kind === 'Tenant' || kind === 'Namespace') this.syncTenancy();
    if (kind === 'KubeVirt') this.followKubevirtConfig();
    if (CHARGED.has(kind)) this.work(namespace).keys.add(`${kind}/${name}`);
    for (const read of readsChangedBy(kind, namespace, name)) this.enqueueDependents(read);
    this.drain(performance.now() + SLICE_MS);
    this.scheduleSlices();
  }

  /** A KubeVirt CR event recharges the objects that read its configuration, if the configuration changed. */
  private followKubevirtConfig(): void {
    if (this.kubevirt === undefined) return;
    const before = JSON.stringify(this.kubevirt);
    this.kubevirt = undefined;
    if (JSON.stringify(this.kubevirtConfig()) !== before) this.enqueueDependents(KUBEVIRT_CONFIG_READ);
  }

  private kubevirtConfig(): KubevirtConfig {
    if (this.kubevirt === undefined) {
      try {
        this.kubevirt = { config: kubevirtConfigOf(this.view) };
      } catch (err) {
        this.kubevirt = { error: (err as Error).message };
      }
    }
    return this.kubevirt;
  }

  private work(namespace: string): Work {
    let work = this.pending.get(namespace);
    if (!work) this.pending.set(namespace, (work = { keys: new Set(), batches: [] }));
    return work;
  }

  private enqueueDependents(read: string): void {
    const byNamespace = this.dependents.get(read);
    if (!byNamespace) return;
    // Copied: recharging rewrites these sets while the batch is walked.
    for (const [ns, keys] of byNamespace) this.work(ns).batches.push([...keys].values());
  }

  /** Recharges queued objects until the deadline (undefined: all); whether the queue is empty. */
  private drain(deadline: number | undefined): boolean {
    for (const [ns, work] of this.pending) if (!this.drainNamespace(ns, work, deadline)) return false;
    return true;
  }

  private drainNamespace(namespace: string, work: Work, deadline: number | undefined): boolean {
    for (const key of work.keys) {
      work.keys.delete(key);
      this.rechargeKey(namespace, key);
      if (deadline !== undefined && performance.now() > deadline) return false;
    }
    while (work.batches.length > 0) {
      const next = work.batches[0]!.next();
      if (next.done) work.batches.shift();
      else this.rechargeKey(namespace, next.value);
      if (deadline !== undefined && performance.now() > deadline) return false;
    }
    this.pending.delete(namespace);
    return true;
  }

  /** The rest of the queue, a slice per event-loop turn. */
  private scheduleSlices(): void {
    if (this.sliceScheduled || this.pending.size === 0) return;
    this.sliceScheduled = true;
    setImmediate(() => {
      this.sliceScheduled = false;
      this.drain(performance.now() + SLICE_MS);
      this.scheduleSlices();
    });
  }

  private rechargeKey(namespace: string, key: string): boolean {
    const slash = key.indexOf('/');
    return this.recharge(key.slice(0, slash) as ChargedKind, namespace, key.slice(slash + 1));
  }

  /** Replaces one object's charge with what it costs now (nothing once it is gone); whether it moved. */
  private recharge(kind: ChargedKind, namespace: string, name: string): boolean {
    const key = `${kind}/${name}`;
    const objectKey = `${kind}/${namespace}/${name}`;
    // Where no Tenant claims the namespace nothing is charged (and nothing read).
    const obj = this.charging.has(namespace) ? this.view.get(kind, namespace, name) : undefined;
    let inNamespace = this.charges.get(namespace);
    const old = inNamespace?.get(key);
    let next: Charge | undefined;
    this.errors.delete(objectKey);
    this.notes.delete(objectKey);
    let reads: ReadonlySet<string> | undefined;
    if (obj !== undefined) {
      const recorder = new RecordingView(this.view);
      reads = recorder.reads;
      try {
        next = accountedCharge(chargeOf(kind, obj, this.contextFor(namespace, recorder, objectKey)), this.limitsOf(namespace));
      } catch (err) {
        // It exists and costs something; the Tenant's status reports it until it is fixed.
        this.errors.set(objectKey, (err as Error).message);
      }
    }
    this.recordReads(objectKey, namespace, key, reads);
    if (old === undefined && next === undefined) return false;
    const moved = old === undefined || next === undefined || !sameAmounts(old, next);
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
      if (inNamespace!.size === 0) {
        this.charges.delete(namespace);
        this.byNamespace.delete(namespace);
      }
    }
    if (moved) for (const listener of this.listeners) listener(namespace);
    return moved;
  }

  private recordReads(objectKey: string, namespace: string, key: string, reads: ReadonlySet<string> | undefined): void {
    const old = this.readsOf.get(objectKey);
    if (old !== undefined && reads !== undefined && old.length === reads.size && old.every((r) => reads.has(r))) return;
    for (const read of old ?? []) {
      const byNamespace = this.dependents.get(read);
      const keys = byNamespace?.get(namespace);
      keys?.delete(key);
      if (keys?.size === 0) {
        byNamespace!.delete(namespace);
        if (byNamespace!.size === 0) this.dependents.delete(read);
      }
    }
    if (reads === undefined || reads.size === 0) {
      this.readsOf.delete(objectKey);
      return;
    }
    this.readsOf.set(objectKey, [...reads]);
    for (const read of reads) {
      let byNamespace = this.dependents.get(read);
      if (!byNamespace) this.dependents.set(read, (byNamespace = new Map()));
      let keys = byNamespace.get(namespace);
      if (!keys) byNamespace.set(namespace, (keys = new Set()));
      keys.add(key);
    }
  }

  /** The limits of every Tenant charged for a namespace: what its objects' charges keep (accountedCharge). */
  private limitsOf(namespace: string): readonly Readonly<ResourceAmounts>[] {
    let limits = this.limits.get(namespace);
    if (limits === undefined) this.limits.set(namespace, (limits = claimantLimits(this.index.tenantOf(namespace))));
    return limits;
  }

  private contextFor(namespace: string, view: RecordingView, objectKey: string): ChargeContext {
    const now = this.now();
    const quota = this.index.tenantOf(namespace).spec.quota;
    const kubevirt = () => {
      view.reads.add(KUBEVIRT_CONFIG_READ);
      const known = this.kubevirtConfig();
      if ('error' in known) throw new Error(known.error);
      return known.config;
    };
    return {
      view,
      namespace,
      vmCharging: quota?.vmCharging ?? 'pod',
      // Read only by the charges that use it (VMs and their kin; never a pod's).
      get kubevirt() {
        return kubevirt();
      },
      podDefaults: podDefaultsOf(quota?.defaultRequests),
      accounts: accountedBy(this.limitsOf(namespace)),
      onProblem: (problem) => this.notes.set(objectKey, problem),
      // A disk whose size cannot be known (a clone's source gone) is counted without it, and reported.
      onUnknownSize: (problem) => this.notes.set(objectKey, problem),
      ...(now === undefined ? {} : { nowMs: now }),
    };
  }
}
