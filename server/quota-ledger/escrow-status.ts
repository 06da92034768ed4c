// The escrow half of a Tenant's status (README "Quota ledger"): one small record per replica,
//   status.escrow[replica] = {grant, consumed, expires, answered}
// (the share of the headroom a replica may admit from without a write, what it had admitted but
// not observed at its last write, when it stops admitting from it, and the latest recall it had
// seen when it wrote), status.watermarks
// {kind: resourceVersion} (no replica may rely on its view of a kind before it has seen that far:
// a replica that stopped counting something it observed raised it first), and status.recall (a
// replica asked the others to give back what they hold unused). Records and watermarks are
// bounded by the replicas and kinds, never by the creates.
import type { ResourceAmounts } from '../../policies/types.js';
import { formatUsed, parseUsed } from '../cluster/tenant-status.js';

export interface EscrowRecord {
  grant: ResourceAmounts;
  consumed: ResourceAmounts;
  /** ms since the epoch; the owner admits from the grant only before this. */
  expiresAt: number;
  /** The status.recall its owner had seen at its last write (ms; 0: none). */
  answered: number;
}

export interface EscrowStatus {
  records: Map<string, EscrowRecord>;
  /** kind -> resourceVersion. */
  watermarks: Map<string, number>;
  /** ms since the epoch of the latest recall; 0 when none. */
  recall: number;
}

/** At most this many replicas hold a record (the CRD's maxProperties); more are refused a grant. */
export const MAX_ESCROW_RECORDS = 32;

function amountsOf(tenant: string, raw: unknown): ResourceAmounts | undefined {
  try {
    return parseUsed(tenant, raw);
  } catch {
    return undefined;
  }
}

/** The escrow fields of a status; what does not parse is left out (a hand edit counts as nothing it cannot prove). */
export function readEscrow(tenant: string, status: unknown): EscrowStatus {
  const s = (status ?? {}) as { escrow?: unknown; watermarks?: unknown; recall?: unknown };
  const records = new Map<string, EscrowRecord>();
  if (s.escrow !== null && typeof s.escrow === 'object' && !Array.isArray(s.escrow)) {
    for (const [id, raw] of Object.entries(s.escrow as Record<string, unknown>)) {
      const r = (raw ?? {}) as { grant?: unknown; consumed?: unknown; expires?: unknown; answered?: unknown };
      const grant = amountsOf(tenant, r.grant);
      const consumed = amountsOf(tenant, r.consumed) ?? {};
      const expiresAt = typeof r.expires === 'string' ? Date.parse(r.expires) : NaN;
      const answered = typeof r.answered === 'string' ? Date.parse(r.answered) : NaN;
      if (grant !== undefined && Number.isFinite(expiresAt)) records.set(id, { grant, consumed, expiresAt, answered: Number.isFinite(answered) ? answered : 0 });
    }
  }
  const watermarks = new Map<string, number>();
  if (s.watermarks !== null && typeof s.watermarks === 'object' && !Array.isArray(s.watermarks)) {
    for (const [kind, raw] of Object.entries(s.watermarks as Record<string, unknown>)) {
      const rv = Number(raw);
      if (Number.isSafeInteger(rv) && rv > 0) watermarks.set(kind, rv);
    }
  }
  const recall = typeof s.recall === 'string' ? Date.parse(s.recall) : NaN;
  return { records, watermarks, recall: Number.isFinite(recall) ? recall : 0 };
}

/** The escrow fields as written back. */
export function escrowFields(e: EscrowStatus): Record<string, unknown> {
  const escrow: Record<string, unknown> = {};
  for (const [id, r] of [...e.records].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const record: Record<string, unknown> = { grant: formatUsed(r.grant), consumed: formatUsed(r.consumed), expires: new Date(r.expiresAt).toISOString() };
    if (r.answered > 0) record.answered = new Date(r.answered).toISOString();
    escrow[id] = record;
  }
  const watermarks: Record<string, string> = {};
  for (const [kind, rv] of [...e.watermarks].sort(([a], [b]) => (a < b ? -1 : 1))) watermarks[kind] = String(rv);
  const out: Record<string, unknown> = { escrow, watermarks };
  if (e.recall > 0) out.recall = new Date(e.recall).toISOString();
  return out;
}

/** Raises a kind's watermark (they only grow). */
export function raiseWatermark(e: EscrowStatus, kind: string, rv: number): void {
  if (rv > (e.watermarks.get(kind) ?? 0)) e.watermarks.set(kind, rv);
}

/** Whether a record holds any grant (what a recall asks its owner to give back, observed or unused). */
export function holdsGrant(r: EscrowRecord): boolean {
  return Object.values(r.grant).some((v) => v > 0);
}
