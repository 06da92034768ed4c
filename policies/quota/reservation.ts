// The reservation check every QuotaLedger applies (MemoryLedger in one process, the live ledger on
// the Tenant's status.used):
//
//   applyReservation(used, reservation) -> { ok: true, used: next } | { ok: false, exceeded }
//
// `used` is the tenant's current usage; the reservation is refused when any increased resource
// would go past its hard limit (resources without a limit are tracked, never refused). When it fits,
// `next` is used + increase - decrease (decreases are applied, not checked, and never go below 0):
// the ledger stores `next` (unless dryRun), with optimistic concurrency where it is shared.
import type { Reservation, ReservationOutcome, ResourceAmounts } from '../types.js';

type Exceeded = Extract<ReservationOutcome, { ok: false }>['exceeded'];

export function exceededBy(used: ResourceAmounts, r: Pick<Reservation, 'increase' | 'hard'>): Exceeded {
  const exceeded: Exceeded = [];
  for (const [resource, requested] of Object.entries(r.increase)) {
    const hard = r.hard[resource];
    if (hard === undefined || requested <= 0) continue;
    const now = used[resource] ?? 0;
    if (now + requested > hard) exceeded.push({ resource, requested, used: now, hard });
  }
  return exceeded;
}

export function applyReservation(used: ResourceAmounts, r: Reservation): ReservationOutcome {
  const exceeded = exceededBy(used, r);
  if (exceeded.length > 0) return { ok: false, exceeded };
  const next: ResourceAmounts = { ...used };
  for (const [resource, amount] of Object.entries(r.increase)) next[resource] = (next[resource] ?? 0) + amount;
  for (const [resource, amount] of Object.entries(r.decrease ?? {})) next[resource] = Math.max(0, (next[resource] ?? 0) - amount);
  return { ok: true, used: next };
}
