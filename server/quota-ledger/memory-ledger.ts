// QuotaLedger for one process (snapshot mode, replay, tests): usage = observed + reserved, both kept
// in memory over the SnapshotView's store. An admitted review is applied to the store right after
// (the apiserver would have persisted it), so its reservation is observed, and released, at once.
// Check-and-record runs without an await in between, so on Node's single thread two reviews can
// never both take the last unit.
import type { QuotaConsumers, QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts } from '../../policies/types.js';
import { ObservedUsage, type ObservedView } from '../cluster/observed-usage.js';
import { consumersOf, DEFAULT_MAX_RESERVATIONS, DEFAULT_RESERVATION_TTL_MS, ReservationBook, usageWith, type ReservationEvents } from './reservation-book.js';
import { checkReservation } from './reservation-check.js';

export interface LedgerOptions {
  /** How long a reservation waits for its object before it expires (SPEC 6.4: 2 minutes). */
  ttlMs?: number;
  /** Reservations a tenant may have waiting at once; more are denied, not stored. */
  maxReservations?: number;
  now?: () => number;
  /** The clock for pods past their deletion grace; a clock that says undefined charges them until gone. */
  observedClock?: () => number | undefined;
  events?: ReservationEvents;
}

export class MemoryLedger implements QuotaLedger {
  readonly observed: ObservedUsage;
  readonly book: ReservationBook;
  private readonly ttlMs: number;
  private readonly maxReservations: number;
  private readonly now: () => number;

  constructor(view: ObservedView, opts: LedgerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.ttlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.maxReservations = opts.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
    this.observed = new ObservedUsage(view, { now: opts.observedClock ?? this.now });
    this.book = new ReservationBook(view.store, this.now, opts.events);
  }

  async reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    const { outcome, entry } = checkReservation(this, r, [], { maxReservations: this.maxReservations, now: this.now(), ttlMs: this.ttlMs });
    if (entry && !opts.dryRun) this.book.add(entry);
    return outcome;
  }

  used(tenant: string): ResourceAmounts {
    return usageWith(this.observed.tenantUsage(tenant), this.book.reserved(tenant));
  }

  reserved(tenant: string): ResourceAmounts {
    return this.book.reserved(tenant);
  }

  reservationCount(tenant: string): number {
    return this.book.count(tenant);
  }

  consumers(tenant: string, resource: string, k: number): QuotaConsumers {
    return consumersOf(this.observed, [this.book], tenant, resource, k);
  }
}
