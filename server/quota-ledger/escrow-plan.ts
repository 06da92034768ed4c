// What one replica's status write decides for a batch of reservations (README "Quota ledger"):
// each increase either goes into this replica's grant (far from the limit: later creates are
// admitted from it without a write) or becomes a per-uid entry in status.reservations (near the
// limit, where a grant held unused by one replica would refuse another's create), or is refused.
// The invariant every write keeps, per resource the Tenant limits:
//   observed + entries + the other replicas' grants + this replica's new grant <= hard
// where this replica's grant covers everything it admitted from a grant and has not yet published
// as observed. Pure arithmetic over integer amounts.
import type { ResourceAmounts } from '../../policies/types.js';
import type { Exceeded } from '../../policies/quota/reservation.js';

export interface PlanInput {
  hard: ResourceAmounts;
  /** This replica's view, caught up with every published watermark. */
  observed: ResourceAmounts;
  /** Per-uid entries this replica counts (every replica's, not yet observed here). */
  entries: ResourceAmounts;
  /** The sum of the other live replicas' grants. */
  othersGrant: ResourceAmounts;
  /** What this replica admitted from its grant and has not observed: its new grant must cover it. */
  unreleased: ResourceAmounts;
  /** Live replicas holding a record, this one included. */
  replicas: number;
  /** Keep no slack: another replica asked for room, or the tenant is near a limit. */
  giveBack: boolean;
}

export type Placement = { placed: 'grant' | 'entry'; used: ResourceAmounts } | { placed: 'refused'; exceeded: Exceeded };

export class EscrowPlan {
  private readonly fromGrant: ResourceAmounts = {};
  private readonly asEntries: ResourceAmounts = {};
  private near: boolean;

  constructor(private readonly input: PlanInput) {
    this.near = input.giveBack;
  }

  private committed(resource: string): number {
    const i = this.input;
    return (i.observed[resource] ?? 0) + (i.entries[resource] ?? 0) + (i.othersGrant[resource] ?? 0) + (i.unreleased[resource] ?? 0) + (this.fromGrant[resource] ?? 0) + (this.asEntries[resource] ?? 0);
  }

  /** Free room for a resource, not counting this replica's slack (the plan sizes it anew). */
  free(resource: string): number {
    return this.input.hard[resource]! - this.committed(resource);
  }

  /** What the slack of a grant would be with `free` left: a share that shrinks with the headroom. */
  private share(free: number): number {
    return Math.floor(Math.max(0, free) / (2 * this.input.replicas));
  }

  place(increase: ResourceAmounts): Placement {
    const exceeded: Exceeded = [];
    let near = false;
    for (const [resource, requested] of Object.entries(increase)) {
      const hard = this.input.hard[resource];
      if (hard === undefined || requested <= 0) continue;
      const free = this.free(resource);
      if (requested > free) exceeded.push({ resource, requested, used: hard - free, hard });
      // A grant whose share would not hold even one more such increase is not worth holding.
      else if (this.share(free - requested) < requested) near = true;
    }
    if (exceeded.length > 0) return { placed: 'refused', exceeded };
    const placed = near || this.near ? 'entry' : 'grant';
    if (near) this.near = true;
    const into = placed === 'grant' ? this.fromGrant : this.asEntries;
    for (const [resource, v] of Object.entries(increase)) into[resource] = (into[resource] ?? 0) + v;
    const used: ResourceAmounts = {};
    for (const resource of new Set([...Object.keys(this.input.observed), ...Object.keys(increase)])) used[resource] = this.committed(resource);
    return { placed, used };
  }

  /** Whether the batch went near a limit (the grant then keeps no slack). */
  get nearLimit(): boolean {
    return this.near;
  }

  /** The grant to record: what this replica admitted and has not observed, plus a share of what is left. */
  grant(): ResourceAmounts {
    const out: ResourceAmounts = {};
    for (const resource of Object.keys(this.input.hard)) {
      const consumed = (this.input.unreleased[resource] ?? 0) + (this.fromGrant[resource] ?? 0);
      out[resource] = consumed + (this.near ? 0 : this.share(this.free(resource)));
    }
    return out;
  }
}
