// QuotaLedger over the Tenant's status.used (SPEC 6.4): the check and the commit are one optimistic
// write, as the built-in ResourceQuota admission does: read the Tenant, check used + increase
// against hard (applyReservation, which also applies what the request frees), replace /status with the read resourceVersion as precondition; a 409 means another
// replica committed in between, so re-read and check again (bounded). Reservations that arrive
// while a write is in flight are committed together in the next write, so one replica makes one
// write at a time per tenant however many creates race, and replicas contend only with each other.
import { context, type Context } from '@opentelemetry/api';
import { formatMilli, formatUnits, parseMilli, parseUnits } from '../../policies/quantity.js';
import { isCpu } from '../../policies/quota/resources.js';
import type { ClusterView, KubeObject, QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts } from '../../policies/types.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import { applyReservation } from './memory-ledger.js';

export const TENANT_API = '/apis/tenantguard.io/v1alpha1/tenants';

export class TenantStatusConflictError extends Error {
  override readonly name = 'TenantStatusConflictError';
}

export interface StatusWriteOptions {
  /** Write attempts before giving up under contention (each 409 costs one). */
  maxAttempts: number;
  /** Base of the jittered backoff between attempts: attempt n waits up to n * backoffMs. */
  backoffMs: number;
  /** Bound on each API call. */
  requestTimeoutMs: number;
}

export const DEFAULT_STATUS_WRITE: StatusWriteOptions = { maxAttempts: 8, backoffMs: 10, requestTimeoutMs: 2000 };

export function tenantPath(name: string): string {
  return `${TENANT_API}/${encodeURIComponent(name)}`;
}

/** status.used as canonical amounts; a value that is not a quantity throws naming the field. */
export function parseUsed(tenant: string, used: unknown): ResourceAmounts {
  const out: ResourceAmounts = {};
  if (used === undefined || used === null) return out;
  if (typeof used !== 'object' || Array.isArray(used)) throw new Error(`Tenant "${tenant}": status.used is not a map of quantities`);
  for (const [resource, raw] of Object.entries(used as Record<string, unknown>)) {
    if (typeof raw !== 'string' && typeof raw !== 'number') throw new Error(`Tenant "${tenant}": status.used["${resource}"] is not a quantity`);
    try {
      out[resource] = isCpu(resource) ? parseMilli(raw) : parseUnits(raw);
    } catch (err) {
      throw new Error(`Tenant "${tenant}": status.used["${resource}"]: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Canonical amounts as Kubernetes quantity strings (what `kubectl get tenants -o yaml` shows). */
export function formatUsed(amounts: ResourceAmounts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const resource of Object.keys(amounts).sort()) {
    const v = amounts[resource]!;
    out[resource] = isCpu(resource) ? formatMilli(v) : formatUnits(v);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads the Tenant and replaces its status with what `mutate` returns (undefined: nothing to
 * write), with the read resourceVersion as precondition; on 409 reads and asks `mutate` again.
 * Returns the Tenant as written, or undefined when `mutate` declined.
 */
export async function updateTenantStatus(
  client: KubeClient,
  name: string,
  mutate: (tenant: KubeObject) => Record<string, unknown> | undefined,
  opts: StatusWriteOptions = DEFAULT_STATUS_WRITE,
): Promise<KubeObject | undefined> {
  for (let attempt = 1; ; attempt++) {
    let tenant: KubeObject;
    try {
      tenant = await client.request('GET', tenantPath(name), {
        signal: AbortSignal.timeout(opts.requestTimeoutMs),
        operation: 'get tenant',
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) throw new Error(`Tenant "${name}" not found`);
      throw err;
    }
    const status = mutate(tenant);
    if (status === undefined) return undefined;
    try {
      return await client.request('PUT', `${tenantPath(name)}/status`, {
        body: { ...tenant, status },
        signal: AbortSignal.timeout(opts.requestTimeoutMs),
        operation: 'update tenant status',
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      if (attempt >= opts.maxAttempts) {
        throw new TenantStatusConflictError(
          `Tenant "${name}": status update still conflicting after ${attempt} attempts (other writers keep changing it)`,
        );
      }
      await sleep(Math.random() * attempt * opts.backoffMs);
    }
  }
}

interface Pending {
  reservation: Reservation;
  signal: AbortSignal;
  /** The review's trace context, so the API calls show up in its trace. */
  ctx: Context;
  resolve: (outcome: ReservationOutcome) => void;
  reject: (err: unknown) => void;
}

interface TenantQueue {
  pending: Pending[];
  running: boolean;
}

export interface TenantLedgerOptions extends Partial<StatusWriteOptions> {
  /** How long a committed request uid is remembered, so an apiserver retry is not charged twice. */
  dedupeTtlMs?: number;
  /**
   * Usage to start from when a Tenant has no status.used yet (a new Tenant over existing objects);
   * the reconciler's recomputation from the view. Without it a new Tenant starts from zero.
   */
  initialUsed?: (tenant: string) => ResourceAmounts;
  now?: () => number;
}

export class TenantStatusLedger implements QuotaLedger {
  private readonly write: StatusWriteOptions;
  private readonly dedupeTtlMs: number;
  private readonly now: () => number;
  private readonly queues = new Map<string, TenantQueue>();
  /** uid -> expiry; insertion order is expiry order, so pruning pops from the front. */
  private readonly committed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<ReservationOutcome>>();
  private readonly parsed = new WeakMap<object, ResourceAmounts>();

  constructor(
    private readonly client: KubeClient,
    private readonly view: ClusterView,
    private readonly opts: TenantLedgerOptions = {},
  ) {
    this.write = { ...DEFAULT_STATUS_WRITE, ...opts };
    this.dedupeTtlMs = opts.dedupeTtlMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    const changes = (amounts: ResourceAmounts | undefined) => Object.values(amounts ?? {}).some((v) => v > 0);
    if (!changes(r.increase) && !changes(r.decrease)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    if (opts.dryRun) return this.check(r);
    this.prune();
    if (this.committed.has(r.uid)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    const running = this.inflight.get(r.uid);
    if (running) return running;
    const promise = new Promise<ReservationOutcome>((resolve, reject) => {
      this.enqueue({ reservation: r, signal: opts.signal, ctx: context.active(), resolve, reject });
    }).finally(() => this.inflight.delete(r.uid));
    this.inflight.set(r.uid, promise);
    return promise;
  }

  /** status.used of the Tenant as the informer last saw it. */
  used(tenant: string): ResourceAmounts {
    const used: unknown = this.view.get('Tenant', undefined, tenant)?.status?.used;
    if (used === null || typeof used !== 'object') return {};
    let amounts = this.parsed.get(used);
    if (!amounts) {
      try {
        amounts = parseUsed(tenant, used);
      } catch {
        // A hand-edited bad value: reported by reserve() and repaired by the reconciler.
        amounts = {};
      }
      this.parsed.set(used, amounts);
    }
    return amounts;
  }

  private usedOf(tenant: KubeObject, name: string): ResourceAmounts {
    const used: unknown = tenant.status?.used;
    if (used === undefined && this.opts.initialUsed) return this.opts.initialUsed(name);
    return parseUsed(name, used);
  }

  /** dryRun: the same check against a fresh read, and no write. */
  private async check(r: Reservation): Promise<ReservationOutcome> {
    let outcome: ReservationOutcome | undefined;
    await updateTenantStatus(this.client, r.tenant, (tenant) => {
      outcome = applyReservation(this.usedOf(tenant, r.tenant), r);
      return undefined;
    }, this.write);
    return outcome!;
  }

  private enqueue(p: Pending): void {
    let queue = this.queues.get(p.reservation.tenant);
    if (!queue) this.queues.set(p.reservation.tenant, (queue = { pending: [], running: false }));
    queue.pending.push(p);
    if (!queue.running) void this.drain(p.reservation.tenant, queue);
  }

  private async drain(tenant: string, queue: TenantQueue): Promise<void> {
    queue.running = true;
    try {
      while (queue.pending.length > 0) {
        const batch = queue.pending.splice(0);
        // Batches run in the context of their first review, not of whichever started the loop.
        await context.with(batch[0]!.ctx, () => this.commitBatch(tenant, batch));
      }
    } finally {
      queue.running = false;
      this.queues.delete(tenant);
    }
  }

  private async commitBatch(tenant: string, all: Pending[]): Promise<void> {
    const abandoned = (p: Pending) => {
      if (!p.signal.aborted) return false;
      p.reject(new Error(`quota reservation for Tenant "${tenant}" abandoned: ${String(p.signal.reason ?? 'aborted')}`));
      return true;
    };
    let batch = all;
    let outcomes: ReservationOutcome[] = [];
    try {
      await updateTenantStatus(this.client, tenant, (obj) => {
        // A review that gave up (its time budget ran out) must not be charged by a later attempt.
        batch = batch.filter((p) => !abandoned(p));
        let used = this.usedOf(obj, tenant);
        const before = used;
        outcomes = batch.map((p) => {
          const outcome = applyReservation(used, p.reservation);
          if (outcome.ok) used = outcome.used;
          return outcome;
        });
        if (used === before) return undefined;
        return { ...(obj.status as Record<string, unknown> | undefined), used: formatUsed(used) };
      }, this.write);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    const expires = this.now() + this.dedupeTtlMs;
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) this.committed.set(p.reservation.uid, expires);
      p.resolve(outcome);
    });
  }

  private prune(): void {
    const now = this.now();
    for (const [uid, expires] of this.committed) {
      if (expires > now) break;
      this.committed.delete(uid);
    }
  }
}
