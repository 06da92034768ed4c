// The check every QuotaLedger applies before it records a reservation (SPEC 6.4):
//
//   exceededBy(usage, { increase, hard }) -> the resources the increase would take past hard
//
// `usage` is observed + reserved. Resources without a limit are tracked, never refused.
import type { Reservation, ReservationOutcome, ResourceAmounts } from '../types.js';

export type Exceeded = Extract<ReservationOutcome, { exceeded: unknown[] }>['exceeded'];

export function exceededBy(usage: ResourceAmounts, r: Pick<Reservation, 'increase' | 'hard'>): Exceeded {
  const exceeded: Exceeded = [];
  for (const [resource, requested] of Object.entries(r.increase)) {
    const hard = r.hard[resource];
    if (hard === undefined || requested <= 0) continue;
    const now = usage[resource] ?? 0;
    if (now + requested > hard) exceeded.push({ resource, requested, used: now, hard });
  }
  return exceeded;
}
