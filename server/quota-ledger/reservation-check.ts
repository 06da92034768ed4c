// The one quota verdict both ledgers give a reservation (SPEC 6.4), against usage = observed +
// reserved (+ what the same write accepted before it): a uid already reserved, or an object the
// view already holds, changes nothing (a retried review; a review of something already stored);
// past the in-flight bound the reservation is refused, not stored; past a hard limit it is refused
// naming the resources; otherwise it is the entry to record.
import { exceededBy } from '../../policies/quota/reservation.js';
import type { Reservation, ReservationOutcome } from '../../policies/types.js';
import type { ObservedUsage } from '../cluster/observed-usage.js';
import { entryOf, usageWith, type ReservationBook, type ReservationEntry } from './reservation-book.js';

export interface CheckOptions {
  maxReservations: number;
  now: number;
  ttlMs: number;
}

export function checkReservation(
  ledger: { observed: ObservedUsage; book: ReservationBook },
  r: Reservation,
  pending: readonly ReservationEntry[],
  opts: CheckOptions,
): { outcome: ReservationOutcome; entry?: ReservationEntry } {
  const { observed, book } = ledger;
  const usage = usageWith(observed.tenantUsage(r.tenant), book.reserved(r.tenant), pending);
  const entry = entryOf(r, opts.now, opts.ttlMs);
  if (book.has(r.uid) || pending.some((p) => p.uid === r.uid) || book.observed(entry)) return { outcome: { ok: true, used: usage } };
  const inFlight = book.count(r.tenant) + pending.length;
  if (inFlight >= opts.maxReservations) return { outcome: { ok: false, tooMany: { inFlight, limit: opts.maxReservations } } };
  const exceeded = exceededBy(usage, r);
  if (exceeded.length > 0) return { outcome: { ok: false, exceeded } };
  return { outcome: { ok: true, used: usageWith(usage, r.increase) }, entry };
}
