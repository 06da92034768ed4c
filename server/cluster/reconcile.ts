// The periodic reconcile (SPEC 4, 6.4): every period each replica recharges every object its view
// holds (repairing what the incremental observed usage missed: a pod past its deletion grace, a
// dependency between objects), then writes each Tenant's status: used = observed, the reservations
// with expired and long-observed entries pruned, reserved = their sum, and the conditions
// (tenant-conditions.ts). Decisions never read status.used (usage = observed + reserved, both this replica's), so
// nothing here waits for traffic to settle: a busy tenant is repaired within one period like any.
import { setImmediate as yieldToReviews } from 'node:timers/promises';
import { sameAmounts, usedForStatus } from '../../policies/quota/resources.js';
import type { ClusterView, KubeObject, ResourceAmounts } from '../../policies/types.js';
import type { KubeClient } from '../../platform/kube-client.js';
import type { ObjectStore } from './object-store.js';
import type { TenantStatusLedger } from './tenant-ledger.js';
import { nextConditions } from './tenant-conditions.js';
import { nextReservations, reservedTotal } from './tenant-reservations.js';
import { DEFAULT_STATUS_WRITE, formatUsed, parseUsed, updateTenantStatus, type StatusWriteOptions } from './tenant-status.js';

/** The view the reconcile reads: the store for tenant resolution, and readiness when it has one. */
export type ReconcileView = ClusterView & { store: ObjectStore; synced?: () => boolean };

export interface ReconcilerOptions {
  /** Pass interval (default 30s). */
  intervalMs?: number;
  write?: Partial<StatusWriteOptions>;
  onError?: (tenant: string, err: Error) => void;
  /** A Tenant's status.used was rewritten: the usage before (undefined: none or unreadable) and after. */
  onRepaired?: (tenant: string, before: ResourceAmounts | undefined, after: ResourceAmounts) => void;
  /** The end of every pass, with what it did (metrics). */
  onPass?: (results: readonly ReconcileResult[], driftedNamespaces: number) => void;
}

export type ReconcileOutcome = 'unchanged' | 'repaired' | 'updated' | 'skipped' | 'failed';

export interface ReconcileResult {
  tenant: string;
  outcome: ReconcileOutcome;
  error?: string;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export class TenantReconciler {
  private readonly intervalMs: number;
  private readonly write: StatusWriteOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileResult[]> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly view: ReconcileView,
    private readonly ledger: TenantStatusLedger,
    private readonly opts: ReconcilerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.write = { ...DEFAULT_STATUS_WRITE, ...opts.write };
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

  /** One pass over every Tenant (on demand, or from the timer); a half-synced view would undercount, so it waits. */
  runOnce(): Promise<ReconcileResult[]> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<ReconcileResult[]> {
    const tenants = this.view.list('Tenant');
    if (this.view.synced && !this.view.synced()) {
      return tenants.map((t) => ({ tenant: t.metadata?.name ?? '', outcome: 'skipped' as const, error: 'cluster view not synced' }));
    }
    let drifted = 0;
    for (const namespace of this.ledger.observed.namespaces()) {
      if (this.ledger.observed.repairNamespace(namespace)) drifted++;
      // A large cluster is recharged in slices, with reviews served between them.
      await yieldToReviews();
    }
    const now = this.ledger.now();
    const conflicts = this.view.store.tenants().conflicts;
    const results: ReconcileResult[] = [];
    for (const cached of this.view.list('Tenant')) {
      const name = cached.metadata?.name;
      if (!name) continue;
      const shared = conflicts
        .filter((c) => c.tenants.includes(name))
        .map((c) => ({ namespace: c.namespace, others: c.tenants.filter((t) => t !== name) }));
      try {
        results.push({ tenant: name, outcome: await this.reconcile(name, shared, now) });
      } catch (err) {
        this.opts.onError?.(name, err as Error);
        results.push({ tenant: name, outcome: 'failed', error: (err as Error).message });
      }
    }
    this.opts.onPass?.(results, drifted);
    return results;
  }

  private async reconcile(name: string, shared: Array<{ namespace: string; others: string[] }>, now: number): Promise<ReconcileOutcome> {
    const observed = this.ledger.observed.tenantUsage(name);
    // Storage shows as 0 before the first claim (a `kubectl get tenants` column).
    const desired: ResourceAmounts = usedForStatus(observed);
    const used = formatUsed(desired);
    let before: ResourceAmounts | undefined;
    let repaired = false;
    const written = await updateTenantStatus(this.client, name, (fresh) => {
      const status: Record<string, unknown> = { ...(fresh.status as Record<string, unknown> | undefined) };
      let changed = false;
      try {
        before = status.used === undefined ? undefined : parseUsed(name, status.used);
      } catch {
        before = undefined;
      }
      repaired = before === undefined || !sameAmounts(before, desired);
      if (repaired) {
        status.used = used;
        changed = true;
      }
      const reservations = nextReservations(this.ledger.book, name, fresh.status, [], now, this.ledger.observedGraceMs);
      if (!sameJson(reservations, status.reservations ?? [])) {
        status.reservations = reservations;
        changed = true;
      }
      const reserved = reservedTotal(name, reservations);
      if (!sameJson(reserved, status.reserved ?? {})) {
        status.reserved = reserved;
        changed = true;
      }
      const conditions = nextConditions(fresh, shared, this.ledger.observed.notices(name), now);
      if (conditions !== undefined) {
        status.conditions = conditions;
        changed = true;
      }
      return changed ? status : undefined;
    }, this.write);
    if (written === undefined) return 'unchanged';
    if (!repaired) return 'updated';
    this.opts.onRepaired?.(name, before, desired);
    return 'repaired';
  }
}
