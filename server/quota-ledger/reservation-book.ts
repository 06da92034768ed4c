// The "reserved" half of quota usage (SPEC 6.4): increases admitted but not yet seen in the cluster
// view, keyed by admission request uid. An entry counts until this process's view observes its
// object (then the object's charge is in the observed half) or until it expires (the create was
// refused later in the chain, or never persisted). Both ledgers keep one: the MemoryLedger alone,
// the live ledger merged with the entries every replica writes to the Tenant's status.
import type { QuotaConsumers, Reservation, ReservedObject, ResourceAmounts } from '../../policies/types.js';
import { ExpiryQueue } from './expiry-queue.js';
import type { ObjectStore } from '../cluster/object-store.js';

export interface ReservationEntry {
  tenant: string;
  uid: string;
  object: ReservedObject;
  amounts: ResourceAmounts;
  /** ms since the epoch. */
  createdAt: number;
  expiresAt: number;
  /** Made by this process (expiries are counted and logged where they were made). */
  local: boolean;
}

export interface ReservationEvents {
  /** The view observed the object; `afterMs` since the reservation was made. */
  released?(entry: ReservationEntry, afterMs: number): void;
  /** The TTL ran out first. */
  expired?(entry: ReservationEntry): void;
}

export const DEFAULT_RESERVATION_TTL_MS = 120_000;
export const DEFAULT_MAX_RESERVATIONS = 500;

export function entryOf(r: Reservation, now: number, ttlMs: number): ReservationEntry {
  return { tenant: r.tenant, uid: r.uid, object: r.object, amounts: r.increase, createdAt: now, expiresAt: now + ttlMs, local: true };
}

function objectKey(o: ReservedObject): string {
  return `${o.kind}/${o.namespace}/${o.name}`;
}

/**
 * Whether `current` is a later version than `from`. A real apiserver's resourceVersions are etcd
 * revisions, which grow; a view that lags and still holds an older version than the one the
 * UPDATE was made against has not observed the change.
 */
function laterVersion(current: string | undefined, from: string): boolean {
  if (current === undefined || current === from) return false;
  const a = Number(current);
  const b = Number(from);
  return Number.isSafeInteger(a) && Number.isSafeInteger(b) ? a > b : true;
}

export class ReservationBook {
  private readonly byUid = new Map<string, ReservationEntry>();
  private readonly byTenant = new Map<string, Map<string, ReservationEntry>>();
  private readonly byObject = new Map<string, Set<ReservationEntry>>();
  private readonly totals = new Map<string, ResourceAmounts>();
  /**
   * uid -> expiry of reservations this view has observed: a status entry another replica has not
   * pruned yet must not count again once its object is gone (deleted after it was observed).
   */
  private readonly released = new Map<string, number>();
  /**
   * Expiry order of the entries and released uids ever added, by uid (an entry itself would be
   * kept for its whole TTL after its release); a uid whose entry is gone, or that was remembered
   * again, is skipped when it comes due.
   */
  private readonly entryExpiries = new ExpiryQueue<string>();
  private readonly releasedExpiries = new ExpiryQueue<string>();
  /** No entry expires before this; reads skip the expiry step until then. */
  private nextExpiry = Infinity;

  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => number,
    private readonly events: ReservationEvents = {},
  ) {
    store.subscribe((change) => {
      const waiting = this.byObject.get(`${change.kind}/${change.namespace}/${change.name}`);
      if (!waiting) return;
      for (const entry of [...waiting]) {
        if (!this.observed(entry)) continue;
        this.drop(entry);
        this.remember(entry);
        this.events.released?.(entry, this.now() - entry.createdAt);
      }
    });
  }

  /** Whether the view holds the object as the reservation's change left it. */
  observed(entry: Pick<ReservationEntry, 'object'>): boolean {
    const o = entry.object;
    const obj = this.store.get(o.kind, o.namespace, o.name);
    if (obj === undefined) return false;
    if (o.uid !== undefined && obj.metadata?.uid !== undefined && obj.metadata.uid !== o.uid) return false;
    return o.updatedFrom === undefined || laterVersion(obj.metadata?.resourceVersion, o.updatedFrom);
  }

  /** Observed here (and so counted in this view's observed half), not yet forgotten. */
  isReleased(uid: string): boolean {
    return this.released.has(uid);
  }

  /** Known: counting now, or already observed. */
  has(uid: string): boolean {
    return this.byUid.has(uid) || this.released.has(uid);
  }

  /**
   * Records an entry unless its uid is known or its object is already observed (a retried review
   * after the object was stored: its charge is in the observed half). Returns whether it counts.
   */
  add(entry: ReservationEntry): boolean {
    const known = this.byUid.get(entry.uid);
    if (known) {
      // This replica's own write, seen first through the Tenant watch.
      if (entry.local) known.local = true;
      return false;
    }
    if (this.released.has(entry.uid) || entry.expiresAt <= this.now()) return false;
    if (this.observed(entry)) {
      this.remember(entry);
      return false;
    }
    this.byUid.set(entry.uid, entry);
    this.entryExpiries.push(entry.expiresAt, entry.uid);
    this.nextExpiry = Math.min(this.nextExpiry, entry.expiresAt);
    let mine = this.byTenant.get(entry.tenant);
    if (!mine) this.byTenant.set(entry.tenant, (mine = new Map()));
    mine.set(entry.uid, entry);
    const key = objectKey(entry.object);
    let set = this.byObject.get(key);
    if (!set) this.byObject.set(key, (set = new Set()));
    set.add(entry);
    const total = this.totals.get(entry.tenant) ?? {};
    for (const [r, v] of Object.entries(entry.amounts)) total[r] = (total[r] ?? 0) + v;
    this.totals.set(entry.tenant, total);
    return true;
  }

  /** What a tenant's live reservations add up to. */
  reserved(tenant: string): ResourceAmounts {
    this.expire();
    return this.totals.get(tenant) ?? {};
  }

  count(tenant: string): number {
    this.expire();
    return this.byTenant.get(tenant)?.size ?? 0;
  }

  /** A tenant's live entries. */
  entries(tenant: string): ReservationEntry[] {
    this.expire();
    return [...(this.byTenant.get(tenant)?.values() ?? [])];
  }

  tenants(): string[] {
    this.expire();
    return [...this.byTenant.keys()];
  }

  /** Drops every entry past its TTL (nothing to do until the earliest expiry has passed). */
  expire(): void {
    const now = this.now();
    if (now < this.nextExpiry) return;
    this.releasedExpiries.popDue(now, (uid, at) => {
      if (this.released.get(uid) === at) this.released.delete(uid);
    });
    this.entryExpiries.popDue(now, (uid, at) => {
      const entry = this.byUid.get(uid);
      if (entry === undefined || entry.expiresAt !== at) return;
      this.drop(entry);
      this.events.expired?.(entry);
    });
    this.nextExpiry = Math.min(this.releasedExpiries.nextTime(), this.entryExpiries.nextTime());
  }

  private remember(entry: ReservationEntry): void {
    this.released.set(entry.uid, entry.expiresAt);
    this.releasedExpiries.push(entry.expiresAt, entry.uid);
    this.nextExpiry = Math.min(this.nextExpiry, entry.expiresAt);
  }

  private drop(entry: ReservationEntry): void {
    if (this.byUid.get(entry.uid) !== entry) return;
    this.byUid.delete(entry.uid);
    const key = objectKey(entry.object);
    const set = this.byObject.get(key);
    set?.delete(entry);
    if (set?.size === 0) this.byObject.delete(key);
    const mine = this.byTenant.get(entry.tenant)!;
    mine.delete(entry.uid);
    if (mine.size === 0) {
      this.byTenant.delete(entry.tenant);
      this.totals.delete(entry.tenant);
      return;
    }
    const total = this.totals.get(entry.tenant)!;
    for (const [r, v] of Object.entries(entry.amounts)) total[r] = (total[r] ?? 0) - v;
  }
}

/** observed + reserved + what a batch accepted before this one: the usage a reservation is checked against. */
export function usageWith(observed: ResourceAmounts, reserved: ResourceAmounts, pending: readonly Pick<ReservationEntry, 'amounts'>[] = []): ResourceAmounts {
  const out: ResourceAmounts = { ...observed };
  for (const [r, v] of Object.entries(reserved)) out[r] = (out[r] ?? 0) + v;
  for (const e of pending) for (const [r, v] of Object.entries(e.amounts)) out[r] = (out[r] ?? 0) + v;
  return out;
}

/**
 * Who uses `resource` of a tenant: the observed index's top k and the largest of the tenant's
 * reservations in `books` (each bounded per tenant by maxReservations).
 */
export function consumersOf(
  observed: { topConsumers(tenant: string, resource: string, k: number): QuotaConsumers['top'] },
  books: readonly ReservationBook[],
  tenant: string,
  resource: string,
  k: number,
): QuotaConsumers {
  const reserved = books
    .flatMap((book) => book.entries(tenant))
    .filter((e) => (e.amounts[resource] ?? 0) > 0)
    .map((e) => ({ kind: e.object.kind, namespace: e.object.namespace, name: e.object.name, amount: e.amounts[resource]! }))
    .sort((a, b) => b.amount - a.amount);
  const reservedTotal = books.reduce((sum, book) => sum + (book.reserved(tenant)[resource] ?? 0), 0);
  return { top: observed.topConsumers(tenant, resource, k), reserved: reserved.slice(0, k), reservedTotal };
}
