// QuotaLedger for the live cluster (SPEC 6.4): usage = observed (this replica's informer cache) +
// reserved (every replica's reservations, shared in the Tenant's status.reservations). The check and
// the record are one optimistic write, as the built-in ResourceQuota admission does: read the
// Tenant, merge its reservations into this replica's book, check, replace /status with the read
// resourceVersion as precondition; a 409 means another replica wrote in between, so read and check
// again (bounded). Reservations that arrive while a write is in flight are written together in the
// next one, so a replica makes one write at a time per tenant however many creates race.
// A reservation ends when this replica's view observes its object, or at its TTL; no review frees.
import { context, type Context } from '@opentelemetry/api';
import type { QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts } from '../../policies/types.js';
import type { KubeClient } from '../../platform/kube-client.js';
import { ObservedUsage, type ObservedView } from './observed-usage.js';
import { DEFAULT_MAX_RESERVATIONS, DEFAULT_RESERVATION_TTL_MS, ReservationBook, usageWith, type ReservationEntry } from './reservation-book.js';
import { checkReservation } from './reservation-check.js';
import type { LedgerOptions } from './memory-ledger.js';
import { mergeStatus, nextReservations, reservedTotal } from './tenant-reservations.js';
import { DEFAULT_STATUS_WRITE, updateTenantStatus, type StatusWriteOptions } from './tenant-status.js';

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

export interface TenantLedgerOptions extends LedgerOptions, Partial<StatusWriteOptions> {
  /** How long an entry another replica may still be waiting to observe stays in the status once observed. */
  observedGraceMs?: number;
}

export const DEFAULT_OBSERVED_GRACE_MS = 10_000;

export class TenantStatusLedger implements QuotaLedger {
  readonly observed: ObservedUsage;
  readonly book: ReservationBook;
  private readonly write: StatusWriteOptions;
  private readonly ttlMs: number;
  private readonly maxReservations: number;
  readonly observedGraceMs: number;
  readonly now: () => number;
  private readonly queues = new Map<string, TenantQueue>();
  private readonly inflight = new Map<string, Promise<ReservationOutcome>>();

  constructor(
    private readonly client: KubeClient,
    view: ObservedView,
    opts: TenantLedgerOptions = {},
  ) {
    this.write = { ...DEFAULT_STATUS_WRITE, ...opts };
    this.ttlMs = opts.ttlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.maxReservations = opts.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
    this.observedGraceMs = opts.observedGraceMs ?? DEFAULT_OBSERVED_GRACE_MS;
    this.now = opts.now ?? Date.now;
    this.observed = new ObservedUsage(view, { now: opts.observedClock ?? this.now });
    this.book = new ReservationBook(view.store, this.now, opts.events);
    // Other replicas' reservations count here as soon as the Tenant watch shows them.
    view.store.subscribe((change) => {
      if (change.kind === 'Tenant' && change.object !== undefined && change.object.status !== change.previous?.status) {
        mergeStatus(this.book, change.name, change.object.status);
      }
    });
  }

  reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    if (!Object.values(r.increase).some((v) => v > 0)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    if (opts.dryRun) return Promise.resolve(this.check(r, []).outcome);
    if (this.book.has(r.uid)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    const running = this.inflight.get(r.uid);
    if (running) return running;
    const promise = new Promise<ReservationOutcome>((resolve, reject) => {
      this.enqueue({ reservation: r, signal: opts.signal, ctx: context.active(), resolve, reject });
    }).finally(() => this.inflight.delete(r.uid));
    this.inflight.set(r.uid, promise);
    return promise;
  }

  used(tenant: string): ResourceAmounts {
    return usageWith(this.observed.tenantUsage(tenant), this.book.reserved(tenant));
  }

  private check(r: Reservation, pending: readonly ReservationEntry[]) {
    return checkReservation(this, r, pending, { maxReservations: this.maxReservations, now: this.now(), ttlMs: this.ttlMs });
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
    let accepted: ReservationEntry[] = [];
    try {
      await updateTenantStatus(this.client, tenant, (fresh) => {
        // A review that gave up (its time budget ran out) must not be charged by a later attempt.
        batch = batch.filter((p) => !abandoned(p));
        mergeStatus(this.book, tenant, fresh.status);
        accepted = [];
        outcomes = batch.map((p) => {
          const { outcome, entry } = this.check(p.reservation, accepted);
          if (entry) accepted.push(entry);
          return outcome;
        });
        if (accepted.length === 0) return undefined;
        const reservations = nextReservations(this.book, tenant, fresh.status, accepted, this.now(), this.observedGraceMs);
        return { ...(fresh.status as Record<string, unknown> | undefined), reservations, reserved: reservedTotal(tenant, reservations) };
      }, this.write);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (const entry of accepted) this.book.add(entry);
    batch.forEach((p, i) => p.resolve(outcomes[i]!));
  }
}
