// The conditions the reconcile keeps on a Tenant's status, in the Kubernetes convention: a condition
// keeps its lastTransitionTime while its status stays the same, and turns False (not removed) when
// what it reports ends.
// - NamespaceConflict: a namespace the Tenant claims is claimed by another Tenant too.
// - ChargeIncomplete: objects charged without all of their inputs (an instancetype edited or deleted
//   since KubeVirt stored it, SPEC 6.4 "Trust"); their charge is what is known, and the condition
//   says which, so that an operator can see it without every later review failing.
// - SpecRejected: the Tenant's spec cannot be used (tenant-spec-guard.ts); it says why and what is
//   judged by instead (the last valid spec, or the strictest reading of this one).
import type { KubeObject } from '../../policies/types.js';
import type { SpecRejection } from './tenant-spec-guard.js';

export const NAMESPACE_CONFLICT = 'NamespaceConflict';
export const CHARGE_INCOMPLETE = 'ChargeIncomplete';
export const SPEC_REJECTED = 'SpecRejected';

/** At most this many objects are named in ChargeIncomplete's message; the rest are counted. */
const NAMED_NOTICES = 5;

export interface TenantCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

type Desired = Pick<TenantCondition, 'type' | 'status' | 'reason' | 'message'>;

function namespaceConflict(shared: ReadonlyArray<{ namespace: string; others: string[] }>): Desired {
  if (shared.length === 0) return { type: NAMESPACE_CONFLICT, status: 'False', reason: 'NoConflict', message: 'no namespace is selected by another Tenant' };
  const message =
    [...shared]
      .sort((a, b) => a.namespace.localeCompare(b.namespace))
      .map((s) => `namespace "${s.namespace}" is also selected by Tenant ${s.others.map((o) => `"${o}"`).join(', ')}`)
      .join('; ') + '; the stricter settings of both apply, except quota: it counts for each Tenant, against its own limits';
  return { type: NAMESPACE_CONFLICT, status: 'True', reason: 'NamespaceSelectedByMultipleTenants', message };
}

function chargeIncomplete(notices: readonly string[]): Desired {
  if (notices.length === 0) return { type: CHARGE_INCOMPLETE, status: 'False', reason: 'AllInputsKnown', message: 'every object is charged from all of its inputs' };
  const sorted = [...notices].sort();
  const rest = sorted.length - NAMED_NOTICES;
  const message = sorted.slice(0, NAMED_NOTICES).join('; ') + (rest > 0 ? `; and ${rest} more` : '') + '; charged from what is known';
  return { type: CHARGE_INCOMPLETE, status: 'True', reason: 'ChargeInputsMissing', message };
}

function specRejected(rejection: SpecRejection | undefined): Desired {
  if (rejection === undefined) return { type: SPEC_REJECTED, status: 'False', reason: 'SpecAccepted', message: 'the spec in force is the current one' };
  const which = rejection.generation === undefined ? 'the current spec' : `the spec of generation ${rejection.generation}`;
  const rest = rejection.problems.length - NAMED_NOTICES;
  const problems = rejection.problems.slice(0, NAMED_NOTICES).join('; ') + (rest > 0 ? `; and ${rest} more` : '');
  const inForce = rejection.keptLastGood
    ? `the last valid spec${rejection.lastGoodGeneration === undefined ? '' : ` (generation ${rejection.lastGoodGeneration})`} stays in force`
    : 'no valid spec was seen since tenantguard started: its namespaces are judged by the strictest reading of this one (invalid sections at their strictest, unusable limits at 0)';
  return { type: SPEC_REJECTED, status: 'True', reason: rejection.keptLastGood ? 'InvalidSpecLastValidInForce' : 'InvalidSpecStrictestReading', message: `${which} is not used: ${problems}; ${inForce}` };
}

/**
 * The Tenant's conditions brought up to date, or undefined when they already are. A condition that
 * never was True is not added just to say False.
 */
export function nextConditions(
  tenant: KubeObject,
  shared: ReadonlyArray<{ namespace: string; others: string[] }>,
  notices: readonly string[],
  now: number,
  rejection?: SpecRejection,
): TenantCondition[] | undefined {
  let conditions: TenantCondition[] = Array.isArray(tenant.status?.conditions) ? tenant.status.conditions : [];
  let changed = false;
  for (const desired of [namespaceConflict(shared), chargeIncomplete(notices), specRejected(rejection)]) {
    const existing = conditions.find((c) => c.type === desired.type);
    if (existing === undefined && desired.status === 'False') continue;
    const next: TenantCondition = {
      ...desired,
      lastTransitionTime: existing?.status === desired.status ? existing.lastTransitionTime : new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    if (typeof tenant.metadata?.generation === 'number') next.observedGeneration = tenant.metadata.generation;
    if (
      existing &&
      existing.status === next.status &&
      existing.reason === next.reason &&
      existing.message === next.message &&
      existing.observedGeneration === next.observedGeneration
    ) {
      continue;
    }
    conditions = [...conditions.filter((c) => c.type !== desired.type), next];
    changed = true;
  }
  return changed ? conditions : undefined;
}
