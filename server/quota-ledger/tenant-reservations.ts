// status.reservations of a Tenant: every replica's reservations, shared through the apiserver so that
// replicas admitting at once check against each other's (SPEC 6.4), and status.reserved, their sum,
// for `kubectl get tenants`. An entry another replica has observed stays for a short grace, marked
// `observed`, so that a replica whose watch lags still counts it until its own view has the object.
import { CHARGED_KINDS } from '../../policies/quota/charge.js';
import type { ReservedObject, ResourceAmounts, ViewKind } from '../../policies/types.js';
import type { ReservationBook, ReservationEntry } from './reservation-book.js';
import { formatUsed, parseUsed } from '../cluster/tenant-status.js';

/** One entry as stored in the Tenant's status. */
export interface StatusReservation {
  uid: string;
  kind: string;
  namespace: string;
  name: string;
  objectUID?: string;
  updatedFrom?: string;
  amounts: Record<string, string>;
  created: string;
  expires: string;
  /** When a replica first saw the object in its view; the entry is dropped `graceMs` later. */
  observed?: string;
}

/** The kinds a reservation can be for: those quota charges (an entry naming another is not ours). */
const CHARGED: ReadonlySet<string> = new Set<string>(CHARGED_KINDS);

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function toStatus(e: ReservationEntry): StatusReservation {
  const out: StatusReservation = {
    uid: e.uid,
    kind: e.object.kind,
    namespace: e.object.namespace,
    name: e.object.name,
    amounts: formatUsed(e.amounts),
    created: iso(e.createdAt),
    expires: iso(e.expiresAt),
  };
  if (e.object.uid !== undefined) out.objectUID = e.object.uid;
  if (e.object.updatedFrom !== undefined) out.updatedFrom = e.object.updatedFrom;
  return out;
}

/** An entry read back, or undefined for one that is not of this shape (a hand edit): it is not counted. */
export function fromStatus(tenant: string, raw: unknown): ReservationEntry | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Partial<StatusReservation>;
  if (typeof r.uid !== 'string' || typeof r.kind !== 'string' || !CHARGED.has(r.kind)) return undefined;
  if (typeof r.namespace !== 'string' || typeof r.name !== 'string') return undefined;
  const createdAt = Date.parse(r.created ?? '');
  const expiresAt = Date.parse(r.expires ?? '');
  if (!Number.isFinite(createdAt) || !Number.isFinite(expiresAt)) return undefined;
  let amounts: ResourceAmounts;
  try {
    amounts = parseUsed(tenant, r.amounts);
  } catch {
    return undefined;
  }
  const object: ReservedObject = { kind: r.kind as ViewKind, namespace: r.namespace, name: r.name };
  if (typeof r.objectUID === 'string') object.uid = r.objectUID;
  if (typeof r.updatedFrom === 'string') object.updatedFrom = r.updatedFrom;
  return { tenant, uid: r.uid, object, amounts, createdAt, expiresAt, local: false };
}

function listOf(status: unknown): unknown[] {
  const list = (status as { reservations?: unknown } | undefined)?.reservations;
  return Array.isArray(list) ? list : [];
}

/** Adds the entries of a Tenant's status to the book (those it does not know, have not expired and are not observed). */
export function mergeStatus(book: ReservationBook, tenant: string, status: unknown): void {
  for (const raw of listOf(status)) {
    const entry = fromStatus(tenant, raw);
    if (entry) book.add(entry);
  }
}

/**
 * The status.reservations to write: what the status holds, less expired entries and observed ones
 * past the grace, plus this process's own live entries the status lost (a hand edit, a lost write)
 * and the `added` ones.
 */
export function nextReservations(
  book: ReservationBook,
  tenant: string,
  status: unknown,
  added: readonly ReservationEntry[],
  now: number,
  graceMs: number,
): StatusReservation[] {
  const out: StatusReservation[] = [];
  const present = new Set<string>();
  for (const raw of listOf(status)) {
    const entry = fromStatus(tenant, raw);
    if (!entry || present.has(entry.uid)) continue;
    present.add(entry.uid);
    // Expiries are counted by the book of the replica that made the entry.
    if (entry.expiresAt <= now) continue;
    const stored = raw as StatusReservation;
    let observed = typeof stored.observed === 'string' ? Date.parse(stored.observed) : NaN;
    if (!Number.isFinite(observed) && book.observed(entry)) observed = now;
    if (Number.isFinite(observed) && observed + graceMs <= now) continue;
    out.push(Number.isFinite(observed) ? { ...toStatus(entry), observed: iso(observed) } : toStatus(entry));
  }
  for (const entry of [...book.entries(tenant), ...added]) {
    if (!entry.local || present.has(entry.uid)) continue;
    present.add(entry.uid);
    out.push(toStatus(entry));
  }
  return out;
}

/** status.reserved: the sum of the entries not yet observed, as quantities. */
export function reservedTotal(tenant: string, reservations: readonly StatusReservation[]): Record<string, string> {
  const total: ResourceAmounts = {};
  for (const r of reservations) {
    if (r.observed !== undefined) continue;
    for (const [k, v] of Object.entries(parseUsed(tenant, r.amounts))) total[k] = (total[k] ?? 0) + v;
  }
  return formatUsed(total);
}
