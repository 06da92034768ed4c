// QuotaLedger for one process (snapshot mode, replay, tests). Check-and-commit runs without an
// await in between, so on Node's single thread two reviews can never both take the last unit.
import { applyReservation } from '../../policies/quota/reservation.js';
import { usageByTenant } from '../../policies/quota/usage.js';
import type { ClusterView, ModuleSettings, QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts } from '../../policies/types.js';

// The live ledger (tenant-ledger.ts) imports these from here; applyReservation is the whole check,
// decreases included.
export { applyReservation, exceededBy } from '../../policies/quota/reservation.js';

export function addAmounts(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  const out: ResourceAmounts = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export class MemoryLedger implements QuotaLedger {
  private readonly usage = new Map<string, ResourceAmounts>();

  async reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    const outcome = applyReservation(this.usage.get(r.tenant) ?? {}, r);
    if (outcome.ok && !opts.dryRun) this.usage.set(r.tenant, outcome.used);
    return outcome;
  }

  used(tenant: string): ResourceAmounts {
    return this.usage.get(tenant) ?? {};
  }

  /** Reconcile: replace a tenant's usage with what the existing objects add up to. */
  setUsed(tenant: string, amounts: ResourceAmounts): void {
    this.usage.set(tenant, { ...amounts });
  }

  /**
   * Recomputes every tenant's usage from the view (snapshot mode: after loading the state, so that
   * what already exists is charged, and whenever the state is known to have drifted).
   */
  reconcile(view: ClusterView, settings: ModuleSettings, nowMs?: number): void {
    this.usage.clear();
    for (const [tenant, used] of usageByTenant(view, settings, nowMs)) this.usage.set(tenant, used);
  }
}
