// tenant-quota (SPEC 6.4): charges each change by what it adds — charge(new) - charge(old) per
// resource — and denies one that would take the tenant past a hard limit. The verdict comes twice:
// in evaluate against the ledger's usage (so a dry run sees it too), and in the commit phase from
// the ledger's atomic reserve, which is what holds under concurrency. The increase is reserved for
// the object the review names, until the cluster view observes it. What a change frees (a stop, a
// scale-down, a delete) is never handed to the ledger: a review is a claim that anyone can send, and
// the apiserver sends a pod's DELETE several times; usage falls when the view observes the object
// gone or smaller. KubeVirt's own virt-launcher pods are never denied: a migration target's growth
// is reserved when it fits and only warned about when it does not; CDI's own PVCs (of DataVolumes,
// and its populators' PVC's) likewise. A DataVolume or VM whose disk size cannot be known at
// admission is denied, saying why. Where two Tenants claim the namespace, each is judged against its
// own hard and reserves for itself; only what some Tenant's hard names is charged (accountedCharge).
// A denial or warning explains itself (explanation.ts): the object's charge is computed once more,
// with its terms, only then; an admitted review builds no explanation.
import type { Finding, KubeObject, ModuleResult, PolicyInput, PolicyModule, QuotaLedger, Reservation, ReservationOutcome, ReservedObject, ResourceAmounts, TenantBinding } from '../types.js';
import { cdiOwnPvc } from '../kube/cdi-pvc.js';
import { admittedName } from '../kube/object-name.js';
import { chargedKindOf, chargeOf, launcherVmiOf, type ChargeContext, type ChargedKind } from './charge.js';
import { DEFAULT_KUBEVIRT_CONFIG, kubevirtConfigOf } from './kubevirt-launcher-resources.js';
import type { PodDefaults } from './pod-charge.js';
import { missingResourcesMessage, podDefaultsOf } from './pod-constraints.js';
import { explainResource, objectLabel, TOP_CONSUMERS, warningLines } from './explanation.js';
import { exceededBy, type Exceeded } from './reservation.js';
import { accountedBy, accountedCharge, chargeDelta, formatAmount, parseHard, REQUESTS_STORAGE, STORAGE_CLASS_SUFFIX, zeroCharge, type Charge } from './resources.js';
import { Terms } from './terms.js';

export const QUOTA_MODULE = 'tenant-quota';

/** The built-in quota's wording: "exceeded quota: <name>, requested: r=v,..., used: ..., limited: ...". */
function exceededMessage(tenant: string, exceeded: Exceeded): string {
  const sorted = [...exceeded].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  const list = (pick: (e: Exceeded[number]) => number) => sorted.map((e) => formatAmount(e.resource, pick(e))).join(',');
  return `exceeded quota: ${tenant}, requested: ${list((e) => e.requested)}, used: ${list((e) => e.used)}, limited: ${list((e) => e.hard)}`;
}

/** What a denial needs to explain the charge: built only when one is made. */
interface Explainer {
  /** The object ("Kind namespace/name") and its charge after the change, with its terms. */
  explain(): { subject: string; charge: Charge; terms: Terms };
  ledger: QuotaLedger;
}

function finding(tenant: string, exceeded: Exceeded, mode: Finding['mode'], explainer: Explainer): Finding {
  const rule = exceeded.map((e) => e.resource).sort().join(',');
  const builtIn = exceededMessage(tenant, exceeded);
  let parts: string[];
  try {
    const { subject, charge, terms } = explainer.explain();
    parts = [...exceeded]
      .sort((a, b) => (a.resource < b.resource ? -1 : 1))
      .map((e) =>
        explainResource(
          { resource: e.resource, increase: e.requested, charge: charge[e.resource] ?? 0 },
          subject,
          terms.list,
          explainer.ledger.consumers?.(tenant, e.resource, TOP_CONSUMERS),
        ),
      );
  } catch {
    // The view moved between the verdict and its explanation (a commit runs later): the verdict stands.
    return { mode, rule, message: builtIn };
  }
  const message = [builtIn, ...parts].join('; ');
  return mode === 'warn' ? { mode, rule, message, warningLines: warningLines(message) } : { mode, rule, message };
}

/** What this change charges and (once observed) frees, for the audit annotation: "+count/pods=1,+requests.cpu=250m,-...". */
function chargeSummary(increase: ResourceAmounts, decrease: ResourceAmounts): string {
  const parts: string[] = [];
  for (const [r, v] of Object.entries(increase)) parts.push(`+${formatAmount(r, v)}`);
  for (const [r, v] of Object.entries(decrease)) parts.push(`-${formatAmount(r, v)}`);
  return parts.join(',');
}

function limitsStorage(hard: Readonly<ResourceAmounts>): boolean {
  return Object.keys(hard).some((r) => r === REQUESTS_STORAGE || r.endsWith(`${STORAGE_CLASS_SUFFIX}${REQUESTS_STORAGE}`));
}

/** A Tenant charged for the request's namespace, with its own limits (several where Tenants share it). */
export interface Claimant {
  tenant: string;
  hard: Readonly<ResourceAmounts>;
  defaults: PodDefaults | undefined;
}

export function claimantsOf(tenant: TenantBinding): Claimant[] {
  const quotas = tenant.quotas ?? (tenant.name === undefined ? [] : [{ tenant: tenant.name, quota: tenant.spec.quota }]);
  const out: Claimant[] = [];
  for (const { tenant: name, quota } of quotas) {
    const hard = parseHard(quota?.hard);
    if (Object.keys(hard).length > 0) out.push({ tenant: name, hard, defaults: podDefaultsOf(quota?.defaultRequests) });
  }
  return out;
}

/** How a review's object is charged: as the quota module judges it (also `tenantguard explain`). */
export function admissionChargeContext(
  input: Pick<PolicyInput, 'request' | 'tenant' | 'view' | 'settings' | 'object' | 'oldObject'>,
  kind: ChargedKind,
  hards: readonly Readonly<ResourceAmounts>[],
): ChargeContext {
  const { request, tenant, view } = input;
  return {
    view,
    namespace: request.namespace ?? input.object?.metadata?.namespace ?? input.oldObject?.metadata?.namespace ?? '',
    vmCharging: tenant.spec.quota?.vmCharging ?? 'pod',
    kubevirt: kind === 'Pod' ? DEFAULT_KUBEVIRT_CONFIG : kubevirtConfigOf(view),
    // Objects that exist are judged the way the reconcile judges them, so that an UPDATE's old and
    // new charge agree with what was charged before; only a pod being created is judged by its creator.
    admission: { request, settings: input.settings, creating: request.operation === 'CREATE' },
    podDefaults: kind === 'Pod' ? podDefaultsOf(tenant.spec.quota?.defaultRequests) : undefined,
    accounts: accountedBy(hards),
  };
}

function evaluate(input: PolicyInput): ModuleResult {
  const { request, tenant, view, ledger } = input;
  if (tenant.name === undefined) return {};
  const kind: ChargedKind | undefined = chargedKindOf(request.kind, request.resource, request.subResource);
  if (kind === undefined || request.operation === 'CONNECT') return {};
  const claimants = claimantsOf(tenant);
  if (claimants.length === 0) return {};
  const hards = claimants.map((c) => c.hard);

  const operation = request.operation;
  const ctx = admissionChargeContext(input, kind, hards);
  if (kind === 'Pod' && operation === 'CREATE' && input.object && launcherVmiOf(input.object, ctx) === undefined) {
    for (const c of claimants) {
      const missing = missingResourcesMessage(c.tenant, input.object, c.hard, c.defaults);
      if (missing !== undefined) return { findings: [{ mode: 'enforce', rule: 'must specify', message: missing }] };
    }
  }
  // A disk whose size cannot be known (storage-charge.ts) is refused when the change brings it.
  const unknownBefore = new Set<string>();
  const unknownAfter: string[] = [];
  const prev =
    operation === 'CREATE' || !input.oldObject ? zeroCharge() : chargeOf(kind, input.oldObject, { ...ctx, onUnknownSize: (p) => unknownBefore.add(p) });
  const next = operation === 'DELETE' || !input.object ? zeroCharge() : chargeOf(kind, input.object, { ...ctx, onUnknownSize: (p) => unknownAfter.push(p) });
  // Only a tenant whose quota limits storage needs the size; others are not refused for it.
  const unknown = hards.some(limitsStorage) ? unknownAfter.filter((p) => !unknownBefore.has(p)) : [];
  if (unknown.length > 0) return { findings: [{ mode: 'enforce', rule: 'storage size', message: `tenant quota: ${unknown.join('; ')}` }] };
  const { increase, decrease } = chargeDelta(accountedCharge(prev, hards), accountedCharge(next, hards));
  // A decrease is only reported: the ledger sees it when the view observes the smaller object.
  if (Object.keys(increase).length === 0) return Object.keys(decrease).length === 0 ? {} : { annotation: chargeSummary(increase, decrease) };

  // KubeVirt's launcher pods and CDI's PVCs of DataVolumes, which were paid for before, are never denied.
  const object = input.object;
  const neverDenied =
    object !== undefined &&
    ((kind === 'Pod' && launcherVmiOf(object, ctx) !== undefined) ||
      (kind === 'PersistentVolumeClaim' && operation === 'CREATE' && cdiOwnPvc(request, object, view, input.settings)));
  const mode: Finding['mode'] = neverDenied ? 'warn' : 'enforce';
  const target = reservedObject(kind, ctx.namespace, admittedName(request, input.object), input.object, input.oldObject);
  const explainer: Explainer = {
    explain: () => {
      const terms = new Terms();
      const subject = objectLabel({ kind, namespace: ctx.namespace, name: target.name || `${object?.metadata?.generateName ?? ''}<generated>` });
      return { subject, charge: chargeOf(kind, object!, { ...ctx, terms }), terms };
    },
    ledger,
  };
  const early = claimants.flatMap((c) => {
    const exceeded = exceededBy(ledger.used(c.tenant), { increase, hard: c.hard });
    return exceeded.length > 0 ? [finding(c.tenant, exceeded, mode, explainer)] : [];
  });
  if (early.length > 0) return { findings: early };
  // Each Tenant charged keeps its own reservation; one review's uid names one per Tenant.
  const reservations: Reservation[] = claimants.map((c) => ({
    tenant: c.tenant,
    uid: claimants.length === 1 ? request.uid : `${request.uid}/${c.tenant}`,
    object: target,
    increase,
    hard: c.hard,
  }));
  return {
    annotation: chargeSummary(increase, decrease),
    commit: async ({ dryRun, signal }) => {
      // One after another: a Tenant that refuses stops the rest; what an earlier one reserved then
      // waits for its TTL, as a create refused later in the admission chain does.
      for (const r of reservations) {
        const findings = findingsOf(r.tenant, await ledger.reserve(r, { dryRun, signal }), mode, explainer);
        if (findings.length > 0) return findings;
      }
      return [];
    },
  };
}

/** The object a reservation waits to observe: by name, and by uid and resourceVersion where the review has them. */
function reservedObject(kind: ChargedKind, namespace: string, name: string, object: KubeObject | undefined, old: KubeObject | undefined): ReservedObject {
  const meta = object?.metadata;
  const out: ReservedObject = { kind, namespace, name };
  if (meta?.uid) out.uid = meta.uid;
  // '' when the old object carries none (a replayed fixture): any stored version then counts as later.
  if (old !== undefined) out.updatedFrom = old.metadata?.resourceVersion ?? '';
  return out;
}

function findingsOf(tenant: string, outcome: ReservationOutcome, mode: Finding['mode'], explainer: Explainer): Finding[] {
  if (outcome.ok) return [];
  if (outcome.exceeded) return [finding(tenant, outcome.exceeded, mode, explainer)];
  const { inFlight, limit } = outcome.tooMany;
  return [{
    mode,
    rule: 'reservations',
    message: `tenant ${tenant} has ${inFlight} quota reservations waiting to be observed (limit ${limit}); retry when earlier creates have settled`,
  }];
}

export const tenantQuota: PolicyModule = { name: QUOTA_MODULE, type: 'validate', evaluate };
