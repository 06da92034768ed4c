// The periodic reconcile (SPEC 4, 6.4): every Tenant's status.used recomputed from the objects the
// view holds (repairing charges for creates that later failed and whatever was freed without a
// review), and its NamespaceConflict condition kept in step with the namespaces it shares with other
// Tenants. Writes use the ledger's optimistic concurrency.
//
// Reservations commit before their object exists, so the view briefly lags status.used. A used value
// that changed since the previous pass is therefore left alone until it has been quiet for settleMs
// (and a write whose precondition finds it changed again is dropped): repairing it sooner would erase
// charges for creates still in flight and let concurrent creates past the hard limit.
import { usedForStatus, zeroCharge } from '../../policies/quota/resources.js';
import { tenantUsage } from '../../policies/quota/usage.js';
import type { ClusterView, KubeObject, ModuleSettings, ResourceAmounts } from '../../policies/types.js';
import type { KubeClient } from './kube-client.js';
import type { ObjectStore } from './object-store.js';
import { DEFAULT_STATUS_WRITE, formatUsed, parseUsed, updateTenantStatus, type StatusWriteOptions } from './tenant-ledger.js';

export const NAMESPACE_CONFLICT = 'NamespaceConflict';

export interface TenantCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** The view the reconcile reads: the store for tenant resolution, and readiness when it has one. */
export type ReconcileView = ClusterView & { store: ObjectStore; synced?: () => boolean };

export interface ReconcilerOptions {
  settings: ModuleSettings;
  /** Pass interval (default 30s). */
  intervalMs?: number;
  /** How long status.used must be unchanged before it is repaired (default 10s). */
  settleMs?: number;
  write?: Partial<StatusWriteOptions>;
  now?: () => number;
  onError?: (tenant: string, err: Error) => void;
  /** A Tenant's status was rewritten: the usage before (undefined: none or unreadable) and after. */
  onRepaired?: (tenant: string, before: ResourceAmounts | undefined, after: ResourceAmounts) => void;
}

export type ReconcileOutcome = 'unchanged' | 'repaired' | 'settling' | 'skipped' | 'failed';

export interface ReconcileResult {
  tenant: string;
  outcome: ReconcileOutcome;
  error?: string;
}

function sameAmounts(a: ResourceAmounts, b: ResourceAmounts): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

function fingerprint(tenant: KubeObject | undefined): string {
  return JSON.stringify(tenant?.status?.used ?? null);
}

export class TenantReconciler {
  private readonly intervalMs: number;
  private readonly settleMs: number;
  private readonly write: StatusWriteOptions;
  private readonly now: () => number;
  /** status.used as last seen per Tenant, and since when, to tell a quiet value from a moving one. */
  private readonly seen = new Map<string, { fingerprint: string; since: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileResult[]> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly view: ReconcileView,
    private readonly opts: ReconcilerOptions,
  ) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.settleMs = opts.settleMs ?? 10_000;
    this.write = { ...DEFAULT_STATUS_WRITE, ...opts.write };
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.runOnce().finally(() => {
          if (this.timer !== undefined) tick();
        });
      }, this.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * One pass over every Tenant (on demand, or from the timer). `force` repairs used without waiting
   * for it to settle; it does not bypass readiness: a half-synced view would undercount.
   */
  runOnce(opts: { force?: boolean } = {}): Promise<ReconcileResult[]> {
    this.running ??= this.pass(opts.force === true).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** A Tenant's usage as the view's objects add up (the ledger's start for a Tenant without status.used). */
  usageOf(tenant: string): ResourceAmounts {
    const obj = this.view.get('Tenant', undefined, tenant);
    const namespaces = this.view.store.tenants().namespacesOf(tenant);
    return tenantUsage(this.view, namespaces, this.opts.settings, obj?.spec?.quota?.vmCharging ?? 'pod', this.now());
  }

  private async pass(force: boolean): Promise<ReconcileResult[]> {
    const tenants = this.view.list('Tenant');
    if (this.view.synced && !this.view.synced()) {
      return tenants.map((t) => ({ tenant: t.metadata?.name ?? '', outcome: 'skipped' as const, error: 'cluster view not synced' }));
    }
    const now = this.now();
    const conflicts = this.view.store.tenants().conflicts;
    const results: ReconcileResult[] = [];
    const names = new Set<string>();
    for (const cached of tenants) {
      const name = cached.metadata?.name;
      if (!name) continue;
      names.add(name);
      const fp = fingerprint(cached);
      const seen = this.seen.get(name);
      if (!seen || seen.fingerprint !== fp) this.seen.set(name, { fingerprint: fp, since: now });
      const since = this.seen.get(name)!.since;
      const shared = conflicts
        .filter((c) => c.tenants.includes(name))
        .map((c) => ({ namespace: c.namespace, others: c.tenants.filter((t) => t !== name) }));
      try {
        results.push({ tenant: name, outcome: await this.reconcile(name, cached, fp, since, shared, force, now) });
      } catch (err) {
        this.opts.onError?.(name, err as Error);
        results.push({ tenant: name, outcome: 'failed', error: (err as Error).message });
      }
    }
    for (const name of this.seen.keys()) if (!names.has(name)) this.seen.delete(name);
    return results;
  }

  private async reconcile(
    name: string,
    cached: KubeObject,
    fp: string,
    since: number,
    shared: Array<{ namespace: string; others: string[] }>,
    force: boolean,
    now: number,
  ): Promise<ReconcileOutcome> {
    const desired = { ...zeroCharge(), ...this.usageOf(name) };
    let before: ResourceAmounts | undefined;
    let readable = true;
    try {
      before = cached.status?.used === undefined ? undefined : parseUsed(name, cached.status.used);
    } catch {
      readable = false;
    }
    // No value yet, or one reservations cannot read: nothing in flight to protect, repair now.
    const settled = force || before === undefined || !readable || now - since >= this.settleMs;
    const usedWrong = before === undefined || !readable || !sameAmounts(before, desired);
    const conditions = nextConditions(cached, shared, now);
    if (!usedWrong && conditions === undefined) return 'unchanged';
    if (usedWrong && !settled && conditions === undefined) return 'settling';

    let repaired = false;
    const written = await updateTenantStatus(this.client, name, (fresh) => {
      const status: Record<string, unknown> = { ...(fresh.status as Record<string, unknown> | undefined) };
      let changed = false;
      // A reservation that committed since the view was read means the usage is moving: wait.
      if (usedWrong && settled && (force || fingerprint(fresh) === fp)) {
        status.used = formatUsed(usedForStatus(desired));
        changed = repaired = true;
      }
      const conds = nextConditions(fresh, shared, now);
      if (conds !== undefined) {
        status.conditions = conds;
        changed = true;
      }
      return changed ? status : undefined;
    }, this.write);
    if (written === undefined) return usedWrong ? 'settling' : 'unchanged';
    if (!repaired) return usedWrong ? 'settling' : 'repaired';
    this.opts.onRepaired?.(name, before, desired);
    this.seen.set(name, { fingerprint: fingerprint(written), since: now });
    return 'repaired';
  }
}

/**
 * The Tenant's conditions with NamespaceConflict brought up to date, or undefined when they already
 * are. The condition appears when a namespace is shared, turns False when that ends, and keeps its
 * lastTransitionTime while its status stays the same.
 */
export function nextConditions(
  tenant: KubeObject,
  shared: ReadonlyArray<{ namespace: string; others: string[] }>,
  now: number,
): TenantCondition[] | undefined {
  const current: TenantCondition[] = Array.isArray(tenant.status?.conditions) ? tenant.status.conditions : [];
  const existing = current.find((c) => c.type === NAMESPACE_CONFLICT);
  if (shared.length === 0 && (existing === undefined || existing.status === 'False')) return undefined;
  const conflict = shared.length > 0;
  const message = conflict
    ? [...shared]
        .sort((a, b) => a.namespace.localeCompare(b.namespace))
        .map((s) => `namespace "${s.namespace}" is also selected by Tenant ${s.others.map((o) => `"${o}"`).join(', ')}`)
        .join('; ') + '; the stricter settings of both apply and it counts against each quota'
    : 'no namespace is selected by another Tenant';
  const next: TenantCondition = {
    type: NAMESPACE_CONFLICT,
    status: conflict ? 'True' : 'False',
    reason: conflict ? 'NamespaceSelectedByMultipleTenants' : 'NoConflict',
    message,
    lastTransitionTime: existing?.status === (conflict ? 'True' : 'False') ? existing.lastTransitionTime : new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  if (typeof tenant.metadata?.generation === 'number') next.observedGeneration = tenant.metadata.generation;
  if (
    existing &&
    existing.status === next.status &&
    existing.reason === next.reason &&
    existing.message === next.message &&
    existing.observedGeneration === next.observedGeneration
  ) {
    return undefined;
  }
  return [...current.filter((c) => c.type !== NAMESPACE_CONFLICT), next];
}
