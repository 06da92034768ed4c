// A charge explained (SPEC 10): the labelled amounts the charge functions added it up from, so that
// a denial, `tenantguard explain` and `tenantguard usage` show where a number comes from. The charge
// functions write terms only when handed a Terms collector (a denial, a warning, the CLI); an allowed
// review passes none, and `terms?.add(...)` then evaluates neither its label nor its amounts.
// The terms of a charge add up to it, resource by resource: a rule that takes a maximum (init
// containers), replaces (pod-level resources), subtracts (what an owner already pays) or clamps at 0
// writes its effect as a term of its own, possibly negative.
import type { ResourceAmounts } from '../types.js';

export interface Term {
  label: string;
  /** Terms of one group are shown together, e.g. "KubeVirt v1.9 memory overhead". */
  group?: string;
  /** Per resource; negative where the rule takes something away. */
  amounts: ResourceAmounts;
}

export class Terms {
  private readonly byKey = new Map<string, Term>();

  get list(): Term[] {
    return [...this.byKey.values()];
  }

  /** Adds `amounts` to the term `label` (one term per label and group); a term of nothing is not kept. */
  add(label: string, amounts: ResourceAmounts, group?: string): void {
    const key = `${group ?? ''}\0${label}`;
    let term = this.byKey.get(key);
    if (!term) {
      if (!Object.values(amounts).some((v) => v !== 0)) return;
      term = group === undefined ? { label, amounts: {} } : { label, group, amounts: {} };
      this.byKey.set(key, term);
    }
    for (const [r, v] of Object.entries(amounts)) if (v !== 0) term.amounts[r] = (term.amounts[r] ?? 0) + v;
  }

  /** A remark without an amount: why something costs nothing ("not running: no compute"). */
  note(label: string): void {
    const key = `\0${label}`;
    if (!this.byKey.has(key)) this.byKey.set(key, { label, amounts: {} });
  }

  /** Another collector's terms, each times `factor`, labelled with `prefix`. */
  addAll(other: Terms, factor = 1, prefix = ''): void {
    for (const t of other.list) {
      if (Object.keys(t.amounts).length === 0) {
        this.note(`${prefix}${t.label}`);
        continue;
      }
      const scaled: ResourceAmounts = {};
      for (const [r, v] of Object.entries(t.amounts)) scaled[r] = v * factor;
      this.add(`${prefix}${t.label}`, scaled, t.group);
    }
  }

  /** What the terms add up to, per resource. */
  total(): ResourceAmounts {
    const out: ResourceAmounts = {};
    for (const t of this.byKey.values()) for (const [r, v] of Object.entries(t.amounts)) out[r] = (out[r] ?? 0) + v;
    return out;
  }
}

/**
 * Records what a rule changed in `charge` as one term: `after - before` per resource. Used where a
 * rule rewrites a charge (max, clamp, subtract) rather than adding a part to it.
 */
export function noteChange(terms: Terms | undefined, label: string, before: ResourceAmounts, after: ResourceAmounts, group?: string): void {
  if (!terms) return;
  const delta: ResourceAmounts = {};
  for (const r of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[r] ?? 0) - (before[r] ?? 0);
    if (d !== 0) delta[r] = d;
  }
  if (Object.keys(delta).length > 0) terms.add(label, delta, group);
}
