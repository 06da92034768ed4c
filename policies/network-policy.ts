// network-policy (SPEC 6.5): a tenant workload is admitted only when NetworkPolicies in its
// namespace select the labels its pods will carry for every policy type the tenant requires. A
// pod is isolated for a direction when any policy selecting it has that type (the NetworkPolicy
// model), so the types may come from different policies, e.g. the documented pair
// default-deny-ingress + default-deny-egress. A miss against the cache is confirmed with a live
// list before denying; deleting the last policy that covers running pods is allowed with a warning.
// KubeVirt's virt-launcher pods are not judged: their VM, VMI, replica set or pool was.
//
// Coverage is looked up in an index of the namespace's policies (by a label their selector
// requires), built once per list the view returns and remembered by the list's identity, with
// each policy's selector compiled once per policy object: the view replaces lists and objects
// when they change, so nothing cached can go stale. The DELETE warning is bounded: it examines at
// most MAX_PODS_EXAMINED pods and MAX_SELECTOR_WORK selector requirements, and says when it stopped
// short, so no namespace a tenant builds can stall the event loop.
import { type CompiledSelector, compileCost, compiledSelector, requiredLabel, type RequiredLabel } from './kube/label-selector.js';
import { makesPods, podLabelsOf, sameLabels } from './kube/pod-labels.js';
import { virtLauncherVmiOf } from './kube/virt-launcher.js';
import type { ClusterView, Finding, GroupVersionKind, KubeObject, LabelSelector, Mode, ModuleResult, PolicyInput, PolicyModule } from './types.js';

/** Bound on the live NetworkPolicy list, inside the engine's own budget for the module. */
export const LIVE_LIST_TIMEOUT_MS = 500;
const MAX_NAMED_PODS = 5;
/** Pods one DELETE review looks at for the "left uncovered" warning. */
export const MAX_PODS_EXAMINED = 2_000;
/** Index lookups and selector requirements one DELETE review may evaluate for that warning: a
 * requirement costs 10 ns to ~1 µs (large value sets miss the CPU caches), so at most a few ms. */
export const MAX_SELECTOR_WORK = 25_000;

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

interface CompiledPolicy {
  name: string | undefined;
  types: number;
  podSelector: LabelSelector;
  required: RequiredLabel | undefined;
  /** Compiled on first use, whose cost the review that needs it pays from its budget. */
  selector: CompiledSelector | undefined;
}

/**
 * A namespace's policies by a label their selector requires: by key and value where the values
 * are known, by key alone where not, and those requiring no label.
 */
interface PolicyIndex {
  byPair: Map<string, Map<string, CompiledPolicy[]>>;
  byKey: Map<string, CompiledPolicy[]>;
  unindexed: CompiledPolicy[];
}

/** How much selector work a review may still do; undefined results mean it ran out. */
interface Budget {
  left: number;
}

const UNBOUNDED: Budget = { left: Number.POSITIVE_INFINITY };
const compiledPolicies = new WeakMap<KubeObject, CompiledPolicy>();
const indexes = new WeakMap<readonly KubeObject[], PolicyIndex>();

/** A policy's types and selector, worked out once per object; a missing podSelector decodes as {}. */
function compiledPolicy(np: KubeObject): CompiledPolicy {
  let c = compiledPolicies.get(np);
  if (c === undefined) {
    const podSelector = (np.spec?.podSelector as LabelSelector | null | undefined) ?? SELECT_ALL;
    c = { name: np.metadata?.name, types: typesMask(np), podSelector, required: requiredLabel(podSelector), selector: undefined };
    compiledPolicies.set(np, c);
  }
  return c;
}

/** Whether the policy selects pods with these labels, the work charged to the budget. */
function selects(c: CompiledPolicy, labels: Readonly<Record<string, string>>, budget: Budget): boolean {
  if (c.selector === undefined) {
    budget.left -= compileCost(c.podSelector);
    c.selector = compiledSelector(c.podSelector);
  }
  budget.left -= c.selector.cost;
  return c.selector.matches(labels);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function policyIndex(policies: readonly KubeObject[]): PolicyIndex {
  let index = indexes.get(policies);
  if (index !== undefined) return index;
  index = { byPair: new Map(), byKey: new Map(), unindexed: [] };
  for (const np of policies) {
    const c = compiledPolicy(np);
    const required = c.required;
    if (required === undefined) index.unindexed.push(c);
    else if (required.values === undefined) push(index.byKey, required.key, c);
    else {
      let byValue = index.byPair.get(required.key);
      if (byValue === undefined) index.byPair.set(required.key, (byValue = new Map()));
      for (const value of new Set(required.values)) push(byValue, value, c);
    }
  }
  indexes.set(policies, index);
  return index;
}

/**
 * The required bits no policy (other than the one named `skip`) covers for pods with these labels,
 * or undefined when the budget ran out first.
 */
function missingCoverage(index: PolicyIndex, labels: Readonly<Record<string, string>>, required: number, skip?: string, budget = UNBOUNDED): number | undefined {
  let missing = required;
  const visit = (candidates: readonly CompiledPolicy[]): boolean => {
    for (const c of candidates) {
      budget.left--;
      if ((c.types & missing) === 0 || (skip !== undefined && c.name === skip)) continue;
      if (selects(c, labels, budget)) missing &= ~c.types;
      if (missing === 0 || budget.left < 0) return true;
    }
    return false;
  };
  // Every selected pod carries the label its policy is indexed by: look up only those it has.
  let done = false;
  for (const [key, byValue] of index.byPair) {
    if (--budget.left < 0) break;
    const candidates = Object.hasOwn(labels, key) ? byValue.get(labels[key]!) : undefined;
    if (candidates !== undefined && (done = visit(candidates))) break;
  }
  if (!done && budget.left >= 0) {
    for (const [key, candidates] of index.byKey) {
      if (--budget.left < 0) break;
      if (Object.hasOwn(labels, key) && (done = visit(candidates))) break;
    }
  }
  if (!done && budget.left >= 0) visit(index.unindexed);
  return budget.left < 0 && missing !== 0 ? undefined : missing;
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
  const missing = missingCoverage(policyIndex(live), labels, required)!;
  if (missing !== 0) return deny(missing);
  return { annotation: 'covered by a NetworkPolicy the cache did not have yet (confirmed by a live list)' };
}

function isTerminal(pod: KubeObject): boolean {
  const phase: unknown = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp !== undefined;
}

/**
 * DELETE of a NetworkPolicy: allowed, with a warning naming pods it leaves uncovered. Bounded by
 * MAX_PODS_EXAMINED and MAX_SELECTOR_WORK; a warning from a check cut short says so.
 */
function deletionWarning(input: PolicyInput, required: number): ModuleResult {
  const { request, view } = input;
  const namespace = request.namespace;
  const name = request.name ?? input.oldObject?.metadata?.name;
  if (!namespace || !name) return EMPTY;
  const deleted = input.oldObject ?? view.get('NetworkPolicy', namespace, name);
  if (!deleted) return EMPTY;
  const removed = compiledPolicy(deleted);
  if ((removed.types & required) === 0) return EMPTY;
  const index = policyIndex(view.list('NetworkPolicy', namespace));
  const pods = view.list('Pod', namespace);
  const budget: Budget = { left: MAX_SELECTOR_WORK };
  const named: string[] = [];
  let count = 0;
  let examined = 0;
  for (; examined < pods.length && examined < MAX_PODS_EXAMINED && budget.left >= 0; examined++) {
    const pod = pods[examined]!;
    if (isTerminal(pod)) continue;
    const labels = pod.metadata?.labels ?? NO_LABELS;
    if (!selects(removed, labels, budget)) continue;
    const contribution = removed.types & required;
    const after = missingCoverage(index, labels, required, name, budget);
    if (after === undefined) break; // this pod's answer is unknown: it is not counted as checked
    // Pods that lacked coverage before the delete are not "left" uncovered by it.
    if (after === 0 || (after & ~contribution) !== 0) continue;
    count++;
    if (named.length < MAX_NAMED_PODS) named.push(pod.metadata?.name ?? '(unnamed)');
  }
  // Said first: warnings are cut to one short line.
  const partial = examined < pods.length ? `checked ${examined} of ${pods.length} pods only: ` : '';
  if (count === 0) return partial ? { warnings: [`${partial}deleting this NetworkPolicy may leave pods uncovered`] } : EMPTY;
  const more = count > named.length ? ` and ${count - named.length} more` : '';
  return { warnings: [`${partial}deleting this NetworkPolicy leaves pods ${named.join(', ')}${more} uncovered`] };
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

  const missing = missingCoverage(policyIndex(view.list('NetworkPolicy', namespace)), labels, required)!;
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
