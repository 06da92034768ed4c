// QuotaLedger for the live cluster (SPEC 6.4, README "Quota ledger"): usage = observed (this
// replica's informer cache) + reserved, with the headroom held in escrow by the replicas.
// - Far from a limit, a create is admitted from this replica's grant (status.escrow[replica]):
//   no API call. The grant is taken by one optimistic write of the Tenant status (resourceVersion
//   precondition, bounded 409 retries) that keeps, per limited resource,
//     observed + per-uid entries + the other replicas' grants + this grant <= hard,
//   and is a share of the headroom that shrinks as the tenant fills. What this replica admitted
//   stays in its grant until it has observed it AND a later write has published a watermark
//   covering it; a replica relies on its observed usage in a write only once its informers have
//   passed every published watermark (etcd revisions are global and grow).
// - Near a limit, each increase is a per-uid entry in status.reservations (a retried review is
//   recognised on any replica), grants keep no slack, and a replica that would refuse while others
//   hold unused grant asks them to give it back (status.recall) and waits, bounded, for that.
// Writes are batched per tenant: a replica makes one write at a time per tenant however many
// creates race. A reservation ends when this replica's view observes its object, or at its TTL;
// no review frees.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { context, type Context } from '@opentelemetry/api';
import { exceededBy } from '../../policies/quota/reservation.js';
import type { QuotaConsumers, QuotaLedger, Reservation, ReservationOutcome, ResourceAmounts, ViewKind } from '../../policies/types.js';
import type { KubeClient } from '../cluster/kube-client.js';
import { ObservedUsage, type ObservedView } from '../cluster/observed-usage.js';
import { DEFAULT_STATUS_WRITE, updateTenantStatus, type StatusWriteOptions } from '../cluster/tenant-status.js';
import { EscrowPlan } from './escrow-plan.js';
import { escrowFields, holdsGrant, MAX_ESCROW_RECORDS, raiseWatermark, readEscrow, type EscrowStatus } from './escrow-status.js';
import type { LedgerOptions } from './memory-ledger.js';
import { consumersOf, DEFAULT_MAX_RESERVATIONS, DEFAULT_RESERVATION_TTL_MS, entryOf, ReservationBook, usageWith, type ReservationEntry } from './reservation-book.js';
import { mergeStatus, nextReservations, reservedTotal } from './tenant-reservations.js';

interface Pending {
  reservation: Reservation;
  signal: AbortSignal;
  /** The review's trace context, so the API calls show up in its trace. */
  ctx: Context;
  /** Until when (wall clock) a refusal may wait for other replicas to give back unused grant. */
  recallUntil: number;
  resolve: (outcome: ReservationOutcome) => void;
  reject: (err: unknown) => void;
}

interface TenantQueue {
  pending: Pending[];
  giveBack: boolean;
  running: boolean;
}

/** This replica's grant for one tenant, as its last write recorded it. */
interface Account {
  grant: ResourceAmounts;
  /** The limits the grant was sized against: another hard means a write first. */
  hard: ResourceAmounts;
  expiresAt: number;
  /** While a write is in flight: the grant it records and what it places in it. */
  pendingGrant?: ResourceAmounts;
  inflight: ResourceAmounts;
  /** Admitted from the grant, observed here, not yet covered by a published watermark. */
  unpublished: ResourceAmounts;
  /** kind -> sequence number of its latest unpublished release. */
  unpublishedKinds: Map<string, number>;
  seq: number;
  lastRecall: number;
}

export interface TenantLedgerOptions extends LedgerOptions, Partial<StatusWriteOptions> {
  /** How long a grant is good for; its owner renews it at half-life (default 60 s). */
  leaseMs?: number;
  /** Longest a write waits for this replica's view to reach the published watermarks (default 1.5 s). */
  lagWaitMs?: number;
  /** Longest a refused create waits for other replicas to give back unused grant (default 1 s). */
  recallWaitMs?: number;
  /**
   * This replica's name in status.escrow (default: the host name and a random suffix: a restarted
   * process must not take over a record whose admitted creates it does not know).
   */
  replicaId?: string;
}

export type LedgerView = ObservedView & { seenVersion?(kind: ViewKind): number | undefined };

export const DEFAULT_LEASE_MS = 60_000;

function add(into: ResourceAmounts, amounts: ResourceAmounts, sign = 1): void {
  for (const [r, v] of Object.entries(amounts)) into[r] = (into[r] ?? 0) + sign * v;
}

function sameHard(a: ResourceAmounts, b: ResourceAmounts): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => a[k] === b[k]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TenantStatusLedger implements QuotaLedger {
  readonly observed: ObservedUsage;
  /** Per-uid entries: this replica's near a limit and every other replica's, from the status. */
  readonly book: ReservationBook;
  /** What this replica admitted from its grants, until observed here. */
  readonly escrowBook: ReservationBook;
  readonly replicaId: string;
  private readonly write: StatusWriteOptions;
  private readonly ttlMs: number;
  private readonly maxReservations: number;
  private readonly leaseMs: number;
  private readonly lagWaitMs: number;
  private readonly recallWaitMs: number;
  readonly now: () => number;
  private readonly queues = new Map<string, TenantQueue>();
  private readonly inflight = new Map<string, Promise<ReservationOutcome>>();
  private readonly accounts = new Map<string, Account>();

  constructor(
    private readonly client: KubeClient,
    private readonly view: LedgerView,
    opts: TenantLedgerOptions = {},
  ) {
    this.write = { ...DEFAULT_STATUS_WRITE, ...opts };
    this.ttlMs = opts.ttlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.maxReservations = opts.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.lagWaitMs = opts.lagWaitMs ?? 1500;
    this.recallWaitMs = opts.recallWaitMs ?? 1000;
    this.replicaId = opts.replicaId ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    this.now = opts.now ?? Date.now;
    this.observed = new ObservedUsage(view, { now: opts.observedClock ?? this.now });
    this.book = new ReservationBook(view.store, this.now, opts.events);
    this.escrowBook = new ReservationBook(view.store, this.now, {
      released: (entry, afterMs) => {
        const account = this.accounts.get(entry.tenant);
        if (account) {
          add(account.unpublished, entry.amounts);
          account.unpublishedKinds.set(entry.object.kind, ++account.seq);
        }
        opts.events?.released?.(entry, afterMs);
      },
      expired: (entry) => opts.events?.expired?.(entry),
    });
    // Other replicas' entries count here as soon as the Tenant watch shows them; a recall is answered.
    view.store.subscribe((change) => {
      if (change.kind !== 'Tenant' || change.object === undefined || change.object.status === change.previous?.status) return;
      mergeStatus(this.book, change.name, change.object.status);
      this.answerRecall(change.name, change.object.status);
    });
  }

  reserve(r: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome> {
    if (!Object.values(r.increase).some((v) => v > 0)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    if (this.known(r)) return Promise.resolve({ ok: true, used: this.used(r.tenant) });
    if (opts.dryRun) return Promise.resolve(this.dryCheck(r));
    const running = this.inflight.get(r.uid);
    if (running) return running;
    const local = this.fromGrant(r);
    if (local) return Promise.resolve(local);
    const promise = new Promise<ReservationOutcome>((resolve, reject) => {
      this.enqueue(r.tenant, { reservation: r, signal: opts.signal, ctx: context.active(), recallUntil: Date.now() + this.recallWaitMs, resolve, reject });
    }).finally(() => this.inflight.delete(r.uid));
    this.inflight.set(r.uid, promise);
    return promise;
  }

  used(tenant: string): ResourceAmounts {
    return usageWith(this.observed.tenantUsage(tenant), this.reserved(tenant));
  }

  /** What this replica counts as admitted and not yet observed: per-uid entries and its own grant's. */
  reserved(tenant: string): ResourceAmounts {
    return usageWith(this.book.reserved(tenant), this.escrowBook.reserved(tenant));
  }

  /** Who uses a resource of a tenant: the largest observed objects, then what is reserved (both books). */
  consumers(tenant: string, resource: string, k: number): QuotaConsumers {
    return consumersOf(this.observed, [this.book, this.escrowBook], tenant, resource, k);
  }

  /** Reservations this replica knows to be waiting for their objects. */
  reservationCount(tenant: string): number {
    return this.book.count(tenant) + this.escrowBook.count(tenant);
  }

  /** This replica's grant for a tenant (what it may admit without a write), if it holds one. */
  grantOf(tenant: string): ResourceAmounts | undefined {
    return this.accounts.get(tenant)?.grant;
  }

  /**
   * The ledger's fields of a Tenant status with what is over pruned (the reconcile writes them):
   * entries expired or observed here (raising their kinds' watermarks), records of replicas that
   * stopped renewing long enough ago that nothing they admitted can still be waiting.
   */
  prunedFields(tenant: string, status: unknown, now: number): Record<string, unknown> {
    const escrow = readEscrow(tenant, status);
    for (const [id, r] of [...escrow.records]) if (now >= r.expiresAt + this.ttlMs) escrow.records.delete(id);
    const mine = escrow.records.get(this.replicaId);
    if (mine) mine.consumed = this.escrowBook.reserved(tenant);
    const { reservations, observedKinds } = nextReservations(this.book, tenant, status, [], now);
    for (const kind of observedKinds) {
      const rv = this.view.seenVersion?.(kind as ViewKind);
      if (rv !== undefined) raiseWatermark(escrow, kind, rv);
    }
    const fromGrants = [...escrow.records.values()].map((r) => r.consumed);
    return { reservations, reserved: reservedTotal(tenant, reservations, fromGrants), ...escrowFields(escrow) };
  }

  private known(r: Reservation): boolean {
    if (this.book.has(r.uid) || this.escrowBook.has(r.uid)) return true;
    // A retried review of something already stored: its charge is in the observed half.
    return this.book.observed({ object: r.object });
  }

  private dryCheck(r: Reservation): ReservationOutcome {
    const usage = this.used(r.tenant);
    const exceeded = exceededBy(usage, r);
    return exceeded.length > 0 ? { ok: false, exceeded } : { ok: true, used: usageWith(usage, r.increase) };
  }

  /** Admits from this replica's grant without a write, when it holds room for the whole increase. */
  private fromGrant(r: Reservation): ReservationOutcome | undefined {
    const account = this.accounts.get(r.tenant);
    if (!account) return undefined;
    const now = this.now();
    // Renewed at half-life by a write, so that the grant never runs out under a steady stream.
    if (now >= account.expiresAt - this.leaseMs / 2 || !sameHard(account.hard, r.hard)) return undefined;
    if (this.reservationCount(r.tenant) >= this.maxReservations) return undefined;
    const mine = this.escrowBook.reserved(r.tenant);
    for (const [resource, requested] of Object.entries(r.increase)) {
      if (r.hard[resource] === undefined || requested <= 0) continue;
      const consumed = (mine[resource] ?? 0) + (account.unpublished[resource] ?? 0) + (account.inflight[resource] ?? 0);
      const room = Math.min(account.grant[resource] ?? 0, account.pendingGrant?.[resource] ?? Infinity);
      if (consumed + requested > room) return undefined;
    }
    this.escrowBook.add(entryOf(r, now, this.ttlMs));
    return { ok: true, used: this.used(r.tenant) };
  }

  private account(tenant: string): Account {
    let account = this.accounts.get(tenant);
    if (!account) {
      account = { grant: {}, hard: {}, expiresAt: 0, inflight: {}, unpublished: {}, unpublishedKinds: new Map(), seq: 0, lastRecall: 0 };
      this.accounts.set(tenant, account);
    }
    return account;
  }

  /** Another replica asked for room: give back what this one holds unused, in one write. */
  private answerRecall(tenant: string, status: unknown): void {
    const account = this.accounts.get(tenant);
    if (!account) return;
    const escrow = readEscrow(tenant, status);
    if (escrow.recall <= account.lastRecall) return;
    account.lastRecall = escrow.recall;
    const mine = escrow.records.get(this.replicaId);
    if (mine && holdsGrant(mine)) this.enqueue(tenant, undefined);
  }

  private enqueue(tenant: string, p: Pending | undefined): void {
    let queue = this.queues.get(tenant);
    if (!queue) this.queues.set(tenant, (queue = { pending: [], giveBack: false, running: false }));
    if (p) queue.pending.push(p);
    else queue.giveBack = true;
    if (!queue.running) void this.drain(tenant, queue);
  }

  private async drain(tenant: string, queue: TenantQueue): Promise<void> {
    queue.running = true;
    try {
      while (queue.pending.length > 0 || queue.giveBack) {
        const batch = queue.pending.splice(0);
        const giveBack = queue.giveBack;
        queue.giveBack = false;
        // Batches run in the context of their first review, not of whichever started the loop.
        const run = () => this.commitBatch(tenant, batch, giveBack);
        await (batch[0] ? context.with(batch[0].ctx, run) : run());
      }
    } finally {
      queue.running = false;
      this.queues.delete(tenant);
    }
  }

  /** Waits (bounded) until this replica's informers have passed every published watermark. */
  private async caughtUp(tenant: string, watermarks: ReadonlyMap<string, number>): Promise<void> {
    const deadline = Date.now() + this.lagWaitMs;
    for (;;) {
      const behind = [...watermarks].find(([kind, rv]) => {
        const seen = this.view.seenVersion?.(kind as ViewKind);
        return seen !== undefined && seen < rv;
      });
      if (!behind) return;
      if (Date.now() >= deadline) {
        throw new Error(`Tenant "${tenant}": this replica's view of ${behind[0]} has not reached resourceVersion ${behind[1]}, which another replica has observed, after ${this.lagWaitMs} ms`);
      }
      await sleep(5);
    }
  }

  /**
   * Whether another live replica holds grant it has not given back since the recall `since`: unused
   * room, or creates it has observed but not yet published (which this view counts as observed too).
   */
  private othersHold(escrow: EscrowStatus, now: number, since: number): boolean {
    for (const [id, r] of escrow.records) {
      // A lease run out still counts until the TTL after it: its owner, if alive, can still give it back.
      if (id === this.replicaId || now >= r.expiresAt + this.ttlMs) continue;
      if (holdsGrant(r) && r.answered < since) return true;
    }
    return false;
  }

  private async commitBatch(tenant: string, all: Pending[], giveBack: boolean): Promise<void> {
    const abandoned = (p: Pending) => {
      if (!p.signal.aborted) return false;
      p.reject(new Error(`quota reservation for Tenant "${tenant}" abandoned: ${String(p.signal.reason ?? 'aborted')}`));
      return true;
    };
    const account = this.account(tenant);
    let batch = all;
    let outcomes: Array<ReservationOutcome | 'wait'> = [];
    let entries: ReservationEntry[] = [];
    let granted: ReservationEntry[] = [];
    let recalled = 0;
    let written: { grant: ResourceAmounts; hard: ResourceAmounts; expiresAt: number; unpublished: ResourceAmounts; seq: number } | undefined;
    try {
      await updateTenantStatus(this.client, tenant, async (fresh) => {
        written = undefined;
        account.pendingGrant = undefined;
        account.inflight = {};
        const escrow = readEscrow(tenant, fresh.status);
        mergeStatus(this.book, tenant, fresh.status);
        await this.caughtUp(tenant, escrow.watermarks);
        // From here on nothing awaits: the plan is made against one state of the view.
        batch = batch.filter((p) => !abandoned(p));
        const now = this.now();
        const hard = batch[0]?.reservation.hard ?? account.hard;
        const othersGrant: ResourceAmounts = {};
        let replicas = 1;
        for (const [id, r] of [...escrow.records]) {
          if (id === this.replicaId) continue;
          // A record its owner stopped renewing counts until whatever it admitted has expired.
          if (now >= r.expiresAt + this.ttlMs) escrow.records.delete(id);
          else {
            add(othersGrant, r.grant);
            replicas++;
          }
        }
        const noRecord = !escrow.records.has(this.replicaId) && escrow.records.size >= MAX_ESCROW_RECORDS;
        const unreleased = this.escrowBook.reserved(tenant);
        const plan = new EscrowPlan({
          hard,
          observed: this.observed.tenantUsage(tenant),
          entries: this.book.reserved(tenant),
          othersGrant,
          unreleased,
          replicas,
          // A recall this replica has not answered yet: this write gives back, whatever else it does.
          giveBack: giveBack || noRecord || escrow.recall > (escrow.records.get(this.replicaId)?.answered ?? 0),
        });
        entries = [];
        granted = [];
        let recall = false;
        const seen = new Set<string>();
        outcomes = batch.map((p): ReservationOutcome | 'wait' => {
          const r = p.reservation;
          if (this.known(r) || seen.has(r.uid)) return { ok: true, used: this.used(tenant) };
          seen.add(r.uid);
          const inFlight = this.reservationCount(tenant) + entries.length + granted.length;
          if (inFlight >= this.maxReservations) return { ok: false, tooMany: { inFlight, limit: this.maxReservations } };
          const placement = plan.place(r.increase);
          if (placement.placed === 'refused') {
            if (Date.now() < p.recallUntil && this.othersHold(escrow, now, Infinity)) {
              recall = true;
              return 'wait';
            }
            return { ok: false, exceeded: placement.exceeded };
          }
          (placement.placed === 'grant' ? granted : entries).push(entryOf(r, now, this.ttlMs));
          return { ok: true, used: placement.used };
        });
        const { reservations, observedKinds } = nextReservations(this.book, tenant, fresh.status, entries, now);
        if (entries.length === 0 && granted.length === 0 && !recall && !giveBack && observedKinds.size === 0) return undefined;
        // What this replica observed and stops counting in its grant or the entries: others first see as far.
        for (const kind of [...observedKinds, ...account.unpublishedKinds.keys()]) {
          const rv = this.view.seenVersion?.(kind as ViewKind);
          if (rv !== undefined) raiseWatermark(escrow, kind, rv);
        }
        const grant = plan.grant();
        const consumed: ResourceAmounts = { ...unreleased };
        for (const e of granted) add(consumed, e.amounts);
        const expiresAt = now + this.leaseMs;
        if (recall) escrow.recall = recalled = Math.max(now, escrow.recall + 1);
        if (!noRecord) escrow.records.set(this.replicaId, { grant, consumed, expiresAt, answered: escrow.recall });
        account.pendingGrant = grant;
        for (const e of granted) add(account.inflight, e.amounts);
        written = { grant: noRecord ? {} : grant, hard, expiresAt, unpublished: { ...account.unpublished }, seq: account.seq };
        const records = [...escrow.records.values()].map((r) => r.consumed);
        return {
          ...(fresh.status as Record<string, unknown> | undefined),
          reservations,
          reserved: reservedTotal(tenant, reservations, records),
          ...escrowFields(escrow),
        };
      }, this.write);
    } catch (err) {
      // A write whose answer was lost may have been stored: until the next write, hold to the
      // smaller of the grant recorded before and the one it carried.
      if (account.pendingGrant) {
        for (const [r, v] of Object.entries(account.pendingGrant)) account.grant[r] = Math.min(account.grant[r] ?? 0, v);
      }
      account.pendingGrant = undefined;
      account.inflight = {};
      for (const p of batch) p.reject(err);
      return;
    }
    account.pendingGrant = undefined;
    account.inflight = {};
    const done = written as typeof written;
    if (done) {
      for (const e of granted) this.escrowBook.add(e);
      for (const e of entries) this.book.add(e);
      account.grant = done.grant;
      account.hard = done.hard;
      account.expiresAt = done.expiresAt;
      // Published: what was observed before the write no longer holds the grant.
      add(account.unpublished, done.unpublished, -1);
      for (const [kind, seq] of [...account.unpublishedKinds]) if (seq <= done.seq) account.unpublishedKinds.delete(kind);
    }
    const waiting: Pending[] = [];
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome === 'wait') waiting.push(p);
      else p.resolve(outcome);
    });
    if (waiting.length > 0) void this.afterRecall(tenant, waiting, recalled);
  }

  /** Refused creates wait for the other replicas to give back (or their time to run out), then try again. */
  private async afterRecall(tenant: string, waiting: Pending[], recalled: number): Promise<void> {
    const until = Math.min(...waiting.map((p) => p.recallUntil));
    while (Date.now() < until) {
      const cached = this.view.get('Tenant', undefined, tenant);
      if (!this.othersHold(readEscrow(tenant, cached?.status), this.now(), recalled)) break;
      await sleep(5);
    }
    for (const p of waiting) this.enqueue(tenant, { ...p, recallUntil: Math.min(p.recallUntil, Date.now()) });
  }
}
