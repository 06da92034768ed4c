// network-policy (SPEC 6.5): a tenant workload is admitted only when NetworkPolicies in its
// namespace select the labels its pods will carry for every policy type the tenant requires. A
// pod is isolated for a direction when any policy selecting it has that type (the NetworkPolicy
// model), so the types may come from different policies, e.g. the documented pair
// default-deny-ingress + default-deny-egress. A miss against the cache is confirmed with a live
// list before denying; deleting the last policy that covers running pods is allowed with a warning.
// KubeVirt's virt-launcher pods are not judged: their VM, VMI, replica set or pool was.
import { selectorMatches } from './label-selector.js';
import { makesPods, podLabelsOf, sameLabels } from './pod-labels.js';
import { virtLauncherVmiOf } from './virt-launcher.js';
import type { ClusterView, Finding, GroupVersionKind, KubeObject, LabelSelector, Mode, ModuleResult, PolicyInput, PolicyModule } from './types.js';

/** Bound on the live NetworkPolicy list, inside the engine's own budget for the module. */
export const LIVE_LIST_TIMEOUT_MS = 500;
const MAX_NAMED_PODS = 5;

// Coverage as a bit set: one bit per policy type, plus SELECTED for a tenant that requires no
// type and only asks that some policy selects the pods.
const INGRESS = 1;
const EGRESS = 2;
const SELECTED = 4;
const TYPE_BITS: Record<string, number> = { Ingress: INGRESS, Egress: EGRESS };

const EMPTY: ModuleResult = Object.freeze({}) as ModuleResult;
const SELECT_ALL: LabelSelector = Object.freeze({}) as LabelSelector;
const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function requiredMask(require: readonly string[] | undefined): number {
  if (require === undefined) return INGRESS;
  if (require.length === 0) return SELECTED;
  let mask = 0;
  for (const type of require) {
    const bit = TYPE_BITS[type];
    if (bit === undefined) throw new Error(`tenant networkPolicy.require has unknown policy type "${type}" (want Ingress or Egress)`);
    mask |= bit;
  }
  return mask;
}

/** spec.policyTypes with the API's defaulting: Ingress always, Egress when spec.egress has rules. */
function typesMask(np: KubeObject): number {
  const types: unknown = np.spec?.policyTypes;
  if (Array.isArray(types) && types.length > 0) {
    let mask = SELECTED;
    for (const type of types) mask |= TYPE_BITS[type as string] ?? 0;
    return mask;
  }
  const egress: unknown = np.spec?.egress;
  return SELECTED | INGRESS | (Array.isArray(egress) && egress.length > 0 ? EGRESS : 0);
}

/** What a policy contributes to pods with these labels; a missing podSelector decodes as {}. */
function coverageBy(np: KubeObject, labels: Readonly<Record<string, string>>): number {
  return selectorMatches((np.spec?.podSelector as LabelSelector | undefined) ?? SELECT_ALL, labels) ? typesMask(np) : 0;
}

/** The required bits that no policy (other than the one named `skip`) covers. */
function missingCoverage(policies: readonly KubeObject[], labels: Readonly<Record<string, string>>, required: number, skip?: string): number {
  let missing = required;
  for (const np of policies) {
    if (skip !== undefined && np.metadata?.name === skip) continue;
    missing &= ~coverageBy(np, labels);
    if (missing === 0) return 0;
  }
  return missing;
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const k in labels) if (Object.hasOwn(labels, k)) parts.push(`${k}=${labels[k]}`);
  return `{${parts.join(', ')}}`;
}

function missingText(missing: number): string {
  if (missing & SELECTED) return '';
  const types: string[] = [];
  if (missing & INGRESS) types.push('Ingress');
  if (missing & EGRESS) types.push('Egress');
  return ` for ${types.join(' and ')}`;
}

function workloadName(kind: string, obj: KubeObject): string {
  const name = obj.metadata?.name ?? (obj.metadata?.generateName ? `${obj.metadata.generateName}*` : '(unnamed)');
  return `${kind} "${name}"`;
}

function denial(mode: Mode, namespace: string, kind: GroupVersionKind, obj: KubeObject, labels: Readonly<Record<string, string>>, missing: number): ModuleResult {
  const finding: Finding = {
    mode,
    rule: 'NetworkPolicy coverage',
    message:
      `no NetworkPolicy in namespace "${namespace}" selects pods with labels ${formatLabels(labels)}` +
      `${missingText(missing)} (${workloadName(kind.kind, obj)})`,
  };
  return { findings: [finding] };
}

/** Rejects when the signal fires even if the lister ignores it, so the bound always holds. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(`no answer within ${LIVE_LIST_TIMEOUT_MS}ms`));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

async function confirmLive(
  view: ClusterView & Required<Pick<ClusterView, 'listLive'>>,
  namespace: string,
  labels: Readonly<Record<string, string>>,
  required: number,
  deny: (missing: number) => ModuleResult,
): Promise<ModuleResult> {
  const signal = AbortSignal.timeout(LIVE_LIST_TIMEOUT_MS);
  let live: KubeObject[];
  try {
    live = await untilAborted(view.listLive('NetworkPolicy', namespace, signal), signal);
  } catch (err) {
    throw new Error(
      `cannot confirm NetworkPolicy coverage: live list of NetworkPolicies in namespace "${namespace}" failed: ${(err as Error).message}`,
    );
  }
  const missing = missingCoverage(live, labels, required);
  if (missing !== 0) return deny(missing);
  return { annotation: 'covered by a NetworkPolicy the cache did not have yet (confirmed by a live list)' };
}

function isTerminal(pod: KubeObject): boolean {
  const phase: unknown = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp !== undefined;
}

/** DELETE of a NetworkPolicy: allowed, with a warning naming pods it leaves uncovered. */
function deletionWarning(input: PolicyInput, required: number): ModuleResult {
  const { request, view } = input;
  const namespace = request.namespace;
  const name = request.name ?? input.oldObject?.metadata?.name;
  if (!namespace || !name) return EMPTY;
  const deleted = input.oldObject ?? view.get('NetworkPolicy', namespace, name);
  if (!deleted) return EMPTY;
  const policies = view.list('NetworkPolicy', namespace);
  const named: string[] = [];
  let count = 0;
  for (const pod of view.list('Pod', namespace)) {
    if (isTerminal(pod)) continue;
    const labels = pod.metadata?.labels ?? NO_LABELS;
    const contribution = coverageBy(deleted, labels);
    if (contribution === 0) continue;
    const after = missingCoverage(policies, labels, required, name);
    // Pods that lacked coverage before the delete are not "left" uncovered by it.
    if (after === 0 || (after & ~contribution) !== 0) continue;
    count++;
    if (named.length < MAX_NAMED_PODS) named.push(pod.metadata?.name ?? '(unnamed)');
  }
  if (count === 0) return EMPTY;
  const more = count > named.length ? ` and ${count - named.length} more` : '';
  return { warnings: [`deleting this NetworkPolicy leaves pods ${named.join(', ')}${more} uncovered`] };
}

function isNetworkPolicy(kind: GroupVersionKind): boolean {
  return kind.group === 'networking.k8s.io' && kind.kind === 'NetworkPolicy';
}

function evaluate(input: PolicyInput): ModuleResult | Promise<ModuleResult> {
  const { request, tenant, view } = input;
  const settings = tenant.spec.networkPolicy;
  if (!settings || settings.mode === 'off' || request.subResource) return EMPTY;
  const required = requiredMask(settings.require);
  if (request.operation === 'DELETE') return isNetworkPolicy(request.kind) ? deletionWarning(input, required) : EMPTY;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return EMPTY;

  const kind = request.kind;
  const obj = input.object;
  const namespace = request.namespace;
  if (!obj || !namespace || !makesPods(kind)) return EMPTY;
  // KubeVirt's own launcher pods were judged through their VM/VMI; a pod only labelled like one was not.
  if (kind.group === '' && kind.kind === 'Pod') {
    const vmi = virtLauncherVmiOf(request, obj, view, input.settings);
    if (vmi !== undefined) return { annotation: `virt-launcher pod of VMI ${vmi}: judged through the VMI` };
  }
  const labels = podLabelsOf(kind, obj)!;
  if (request.operation === 'UPDATE' && input.oldObject) {
    const before = podLabelsOf(kind, input.oldObject);
    if (before !== undefined && sameLabels(before, labels)) return EMPTY;
  }

  const missing = missingCoverage(view.list('NetworkPolicy', namespace), labels, required);
  if (missing === 0) return EMPTY;
  const mode = settings.mode;
  const deny = (m: number) => denial(mode, namespace, kind, obj, labels, m);
  // Snapshot views have no live list: there the snapshot is the truth.
  if (!view.listLive) return deny(missing);
  return confirmLive(view as ClusterView & Required<Pick<ClusterView, 'listLive'>>, namespace, labels, required, deny);
}

export const networkPolicy: PolicyModule = {
  name: 'network-policy',
  type: 'validate',
  evaluate,
};
