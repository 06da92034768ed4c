// Which checks apply at a level and policy version, precomputed for every version as PSA's check
// registry does (registry.go): each check's newest revision at or below the version; at restricted,
// the baseline checks not overridden by a restricted revision at that version, then the restricted
// ones; baseline ids first, each group sorted by id, so messages come out in PSA's order.
import { BASELINE_CHECKS } from './controls/baseline.js';
import type { Check, CheckFn, PodContext, Violation } from './controls/context.js';
import { RESTRICTED_CHECKS } from './controls/restricted.js';

export interface ControlCheck {
  control: string;
  check: CheckFn;
}

export interface ControlViolation extends Violation {
  control: string;
}

export type EvaluatedLevel = 'baseline' | 'restricted';

export const ALL_CHECKS: readonly Check[] = [...BASELINE_CHECKS, ...RESTRICTED_CHECKS];

/** The newest policy version any check defines: what "latest", and any newer pin, evaluates as. */
export const MAX_POLICY_VERSION: number = Math.max(...ALL_CHECKS.map((c) => c.versions[c.versions.length - 1]!.minVersion));

function revisionAt(check: Check, version: number) {
  let found: Check['versions'][number] | undefined;
  for (const revision of check.versions) if (revision.minVersion <= version) found = revision;
  return found;
}

function byId(a: Check, b: Check): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function buildTables(): { baseline: ControlCheck[][]; restricted: ControlCheck[][] } {
  const baselineChecks = [...BASELINE_CHECKS].sort(byId);
  const restrictedChecks = [...RESTRICTED_CHECKS].sort(byId);
  const baseline: ControlCheck[][] = [];
  const restricted: ControlCheck[][] = [];
  for (let v = 0; v <= MAX_POLICY_VERSION; v++) {
    const overridden = new Set<string>();
    const restrictedHere: ControlCheck[] = [];
    for (const check of restrictedChecks) {
      const revision = revisionAt(check, v);
      if (!revision) continue;
      for (const id of revision.overrides ?? []) overridden.add(id);
      restrictedHere.push({ control: check.control, check: revision.check });
    }
    const baselineHere: ControlCheck[] = [];
    const inheritedHere: ControlCheck[] = [];
    for (const check of baselineChecks) {
      const revision = revisionAt(check, v);
      if (!revision) continue;
      const entry = { control: check.control, check: revision.check };
      baselineHere.push(entry);
      if (!overridden.has(check.id)) inheritedHere.push(entry);
    }
    baseline.push(baselineHere);
    restricted.push([...inheritedHere, ...restrictedHere]);
  }
  return { baseline, restricted };
}

const TABLES = buildTables();

export function checksAt(level: EvaluatedLevel, version: number): readonly ControlCheck[] {
  const v = version > MAX_POLICY_VERSION ? MAX_POLICY_VERSION : version;
  return TABLES[level][v]!;
}

const ALLOWED: readonly ControlViolation[] = Object.freeze([]);

/** Every violated control at that level and version; an empty (shared) list when the pod passes. */
export function evaluatePod(level: EvaluatedLevel, version: number, pod: PodContext): readonly ControlViolation[] {
  let out: ControlViolation[] | undefined;
  for (const { control, check } of checksAt(level, version)) {
    const violation = check(pod);
    if (violation) (out ??= []).push({ control, reason: violation.reason, detail: violation.detail });
  }
  return out ?? ALLOWED;
}
