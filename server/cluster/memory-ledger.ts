// QuotaLedger for one process (snapshot mode, replay, tests). Check-and-commit runs without an
// await in between, so on Node's single thread two reviews can never both take the last unit.
import type { QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts } from '../../policies/types.js';

export function exceededBy(used: ResourceAmounts, r: Reservation): Extract<ReservationOutcome, { ok: false }>['exceeded'] {
  const exceeded: Extract<ReservationOutcome, { ok: false }>['exceeded'] = [];
  for (const [resource, requested] of Object.entries(r.increase)) {
    const hard = r.hard[resource];
    if (hard === undefined || requested <= 0) continue;
    const now = used[resource] ?? 0;
    if (now + requested > hard) exceeded.push({ resource, requested, used: now, hard });
  }
  return exceeded;
}

export function addAmounts(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  const out: ResourceAmounts = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export class MemoryLedger implements QuotaLedger {
  private readonly usage = new Map<string, ResourceAmounts>();

  async reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    const used = this.usage.get(r.tenant) ?? {};
    const exceeded = exceededBy(used, r);
    if (exceeded.length > 0) return { ok: false, exceeded };
    const next = addAmounts(used, r.increase);
    if (!opts.dryRun) this.usage.set(r.tenant, next);
    return { ok: true, used: next };
  }

  used(tenant: string): ResourceAmounts {
    return this.usage.get(tenant) ?? {};
  }

  /** Reconcile: replace a tenant's usage with what the existing objects add up to. */
  setUsed(tenant: string, amounts: ResourceAmounts): void {
    this.usage.set(tenant, { ...amounts });
  }
}
