// tenant-quota (SPEC 6.4): charges each change by what it adds — charge(new) - charge(old) per
// resource — and denies one that would take the tenant past a hard limit. The verdict comes twice:
// in evaluate against the ledger's usage (so a dry run sees it too), and in the commit phase from
// the ledger's atomic reserve, which is what holds under concurrency. The increase is reserved for
// the object the review names, until the cluster view observes it. What a change frees (a stop, a
// scale-down, a delete) is never handed to the ledger: a review is a claim that anyone can send, and
// the apiserver sends a pod's DELETE several times; usage falls when the view observes the object
// gone or smaller. KubeVirt's own virt-launcher pods are never denied: a migration target's growth
// is reserved when it fits and only warned about when it does not; CDI's own PVCs of DataVolumes
// likewise. A DataVolume or VM whose disk size cannot be known at admission is denied, saying why.
// A denial or warning explains itself (explanation.ts): the object's charge is computed once more,
// with its terms, only then; an admitted review builds no explanation.
import type { Finding, KubeObject, ModuleResult, PolicyInput, PolicyModule, QuotaLedger, ReservationOutcome, ReservedObject, ResourceAmounts } from '../types.js';
import { cdiDataVolumeOf } from '../kube/cdi-pvc.js';
import { chargedKindOf, chargeOf, launcherVmiOf, type ChargeContext, type ChargedKind } from './charge.js';
import { DEFAULT_KUBEVIRT_CONFIG, kubevirtConfigOf } from './kubevirt-launcher-resources.js';
import { missingResourcesMessage, podDefaultsOf } from './pod-constraints.js';
import { explainResource, objectLabel, TOP_CONSUMERS, warningLines } from './explanation.js';
import { exceededBy, type Exceeded } from './reservation.js';
import { chargeDelta, formatAmount, parseHard, REQUESTS_STORAGE, STORAGE_CLASS_SUFFIX, zeroCharge, type Charge } from './resources.js';
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

/** How a review's object is charged: as the quota module judges it (also `tenantguard explain`). */
export function admissionChargeContext(input: Pick<PolicyInput, 'request' | 'tenant' | 'view' | 'settings' | 'object' | 'oldObject'>, kind: ChargedKind): ChargeContext {
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
  };
}

function evaluate(input: PolicyInput): ModuleResult {
  const { request, tenant, view, ledger } = input;
  const name = tenant.name;
  const hardSpec = tenant.spec.quota?.hard;
  if (name === undefined || !hardSpec) return {};
  const kind: ChargedKind | undefined = chargedKindOf(request.kind, request.resource, request.subResource);
  if (kind === undefined || request.operation === 'CONNECT') return {};
  const hard = parseHard(hardSpec);
  if (Object.keys(hard).length === 0) return {};

  const operation = request.operation;
  const ctx = admissionChargeContext(input, kind);
  if (kind === 'Pod' && operation === 'CREATE' && input.object && launcherVmiOf(input.object, ctx) === undefined) {
    const missing = missingResourcesMessage(name, input.object, hard, ctx.podDefaults);
    if (missing !== undefined) return { findings: [{ mode: 'enforce', rule: 'must specify', message: missing }] };
  }
  // A disk whose size cannot be known (storage-charge.ts) is refused when the change brings it.
  const unknownBefore = new Set<string>();
  const unknownAfter: string[] = [];
  const prev =
    operation === 'CREATE' || !input.oldObject ? zeroCharge() : chargeOf(kind, input.oldObject, { ...ctx, onUnknownSize: (p) => unknownBefore.add(p) });
  const next = operation === 'DELETE' || !input.object ? zeroCharge() : chargeOf(kind, input.object, { ...ctx, onUnknownSize: (p) => unknownAfter.push(p) });
  // Only a tenant whose quota limits storage needs the size; others are not refused for it.
  const unknown = limitsStorage(hard) ? unknownAfter.filter((p) => !unknownBefore.has(p)) : [];
  if (unknown.length > 0) return { findings: [{ mode: 'enforce', rule: 'storage size', message: `tenant quota: ${unknown.join('; ')}` }] };
  const { increase, decrease } = chargeDelta(prev, next);
  // A decrease is only reported: the ledger sees it when the view observes the smaller object.
  if (Object.keys(increase).length === 0) return Object.keys(decrease).length === 0 ? {} : { annotation: chargeSummary(increase, decrease) };

  // KubeVirt's launcher pods and CDI's PVCs of DataVolumes, which were paid for before, are never denied.
  const object = input.object;
  const neverDenied =
    object !== undefined &&
    ((kind === 'Pod' && launcherVmiOf(object, ctx) !== undefined) ||
      (kind === 'PersistentVolumeClaim' && operation === 'CREATE' && cdiDataVolumeOf(request, object, view, input.settings) !== undefined));
  const mode: Finding['mode'] = neverDenied ? 'warn' : 'enforce';
  const reservedFor = reservedObject(kind, ctx.namespace, request.name, input.object, input.oldObject);
  const explainer: Explainer = {
    explain: () => {
      const terms = new Terms();
      const subject = objectLabel({ kind, namespace: ctx.namespace, name: reservedFor.name || `${object?.metadata?.generateName ?? ''}<generated>` });
      return { subject, charge: chargeOf(kind, object!, { ...ctx, terms }), terms };
    },
    ledger,
  };
  const early = exceededBy(ledger.used(name), { increase, hard });
  if (early.length > 0) return { findings: [finding(name, early, mode, explainer)] };
  const reservation = { tenant: name, uid: request.uid, object: reservedFor, increase, hard };
  return {
    annotation: chargeSummary(increase, decrease),
    commit: async ({ dryRun, signal }) => findingsOf(name, await ledger.reserve(reservation, { dryRun, signal }), mode, explainer),
  };
}

/** The object a reservation waits to observe: by name, and by uid and resourceVersion where the review has them. */
function reservedObject(kind: ChargedKind, namespace: string, requestName: string | undefined, object: KubeObject | undefined, old: KubeObject | undefined): ReservedObject {
  const meta = object?.metadata;
  const out: ReservedObject = { kind, namespace, name: requestName || meta?.name || '' };
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
