// status.reservations of a Tenant: the per-uid reservations replicas make near a limit, shared
// through the apiserver so that replicas admitting at once check against each other's and a retried
// review is recognised on any replica (SPEC 6.4). An entry leaves the status as soon as a writer's
// view has observed it; that writer raises the kind's watermark (escrow-status.ts) in the same
// write, so no replica relies on a view that has not observed it yet.
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
 * The status.reservations to write: what the status holds, less expired entries and those this
 * view has observed (their kinds are returned: the writer raises their watermarks), plus this
 * process's own live entries the status lost (a hand edit, a lost write) and the `added` ones.
 */
export function nextReservations(
  book: ReservationBook,
  tenant: string,
  status: unknown,
  added: readonly ReservationEntry[],
  now: number,
): { reservations: StatusReservation[]; observedKinds: Set<string> } {
  const reservations: StatusReservation[] = [];
  const observedKinds = new Set<string>();
  const present = new Set<string>();
  for (const raw of listOf(status)) {
    const entry = fromStatus(tenant, raw);
    if (!entry || present.has(entry.uid)) continue;
    present.add(entry.uid);
    // Expiries are counted by the book of the replica that made the entry.
    if (entry.expiresAt <= now) continue;
    if (book.isReleased(entry.uid) || book.observed(entry)) {
      observedKinds.add(entry.object.kind);
      continue;
    }
    reservations.push(toStatus(entry));
  }
  for (const entry of [...book.entries(tenant), ...added]) {
    if (!entry.local || present.has(entry.uid)) continue;
    present.add(entry.uid);
    reservations.push(toStatus(entry));
  }
  return { reservations, observedKinds };
}

/** status.reserved: the per-uid entries plus what each replica had admitted from its grant, not yet observed, as quantities. */
export function reservedTotal(tenant: string, reservations: readonly StatusReservation[], fromGrants: Iterable<ResourceAmounts>): Record<string, string> {
  const total: ResourceAmounts = {};
  for (const r of reservations) {
    for (const [k, v] of Object.entries(parseUsed(tenant, r.amounts))) total[k] = (total[k] ?? 0) + v;
  }
  for (const consumed of fromGrants) for (const [k, v] of Object.entries(consumed)) total[k] = (total[k] ?? 0) + v;
  return formatUsed(total);
}
