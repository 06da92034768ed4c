// Which webhooks of a rendered configuration the kube-apiserver calls for a request, decided as it
// decides (k8s.io/apiserver pkg/admission/plugin/webhook/generic/webhook.go, ShouldCallHook): the
// rules (predicates/rules/rules.go: group, version, operation, "resource" or "resource/subresource",
// scope), then the namespaceSelector (predicates/namespace/matcher.go: a cluster-scoped request other
// than a Namespace always matches; a Namespace CREATE/UPDATE is matched on the labels of the object
// being admitted; anything else on its namespace's labels as they are at that moment), then every
// matchCondition, evaluated with CEL over `request`, `object` and `oldObject`
// (matchconditions/matcher.go: one false condition skips the webhook; an error skips it under
// failurePolicy Ignore and refuses the request under Fail).
import { isCelError, run } from '@bufbuild/cel';
import { selectorMatches } from '../../policies/kube/label-selector.js';
import type { AdmissionRequest, LabelSelector } from '../../policies/types.js';

interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: 'Namespaced' | 'Cluster' | '*';
}

export interface Webhook {
  name: string;
  failurePolicy: 'Fail' | 'Ignore';
  timeoutSeconds: number;
  reinvocationPolicy?: string;
  namespaceSelector?: LabelSelector;
  matchConditions?: Array<{ name: string; expression: string }>;
  rules: WebhookRule[];
  [field: string]: unknown;
}

/** A request as the apiserver's admission chain holds it. */
type Attributes = AdmissionRequest;

/** "pods" matches the resource only, "pods/x" that subresource, "pods/*" any, "*" and "*\/*" as documented. */
function resourceMatches(pattern: string, resource: string, subResource: string | undefined): boolean {
  if (pattern === '*/*') return true;
  const [pr, ps] = pattern.split('/');
  if (pr !== '*' && pr !== resource) return false;
  if (ps === undefined) return subResource === undefined;
  return subResource !== undefined && (ps === '*' || ps === subResource);
}

function ruleMatches(rule: WebhookRule, a: Attributes): boolean {
  const any = (list: string[], value: string) => list.includes('*') || list.includes(value);
  const namespaced = a.resource.resource !== 'namespaces' && a.namespace !== undefined && a.namespace !== '';
  const scope = rule.scope ?? '*';
  return (
    any(rule.apiGroups, a.resource.group) &&
    any(rule.apiVersions, a.resource.version) &&
    any(rule.operations, a.operation) &&
    rule.resources.some((p) => resourceMatches(p, a.resource.resource, a.subResource)) &&
    (scope === '*' || (scope === 'Namespaced') === namespaced)
  );
}

/**
 * The labels the namespaceSelector is matched against, or 'cluster-scoped' when it does not apply.
 * `namespaceLabels` reads the namespace as stored now (undefined: it does not exist, which the
 * apiserver answers with 404).
 */
function selectorLabels(a: Attributes, namespaceLabels: (name: string) => Record<string, string> | undefined): Record<string, string> | 'cluster-scoped' {
  const isNamespace = a.resource.group === '' && a.resource.resource === 'namespaces';
  if (!a.namespace && !isNamespace) return 'cluster-scoped';
  if (isNamespace && a.subResource === undefined && (a.operation === 'CREATE' || a.operation === 'UPDATE')) return a.object?.metadata?.labels ?? {};
  const labels = namespaceLabels(a.namespace ?? '');
  if (labels === undefined) throw new Error(`namespaces "${a.namespace}" not found`);
  return labels;
}

type ConditionOutcome = { call: true } | { call: false; failed?: string } | { error: string };

/** The matchConditions of one webhook for a request (their CEL variables as the apiserver binds them). */
function evaluateConditions(hook: Webhook, a: Attributes): ConditionOutcome {
  const vars = { request: a, object: a.object ?? null, oldObject: a.oldObject ?? null } as never;
  const errors: string[] = [];
  for (const c of hook.matchConditions ?? []) {
    let out: unknown;
    try {
      out = run(c.expression, vars);
    } catch (err) {
      out = err;
    }
    if (out === false) return { call: false, failed: c.name };
    if (out !== true) errors.push(`${c.name}: ${isCelError(out) ? out.message : String(out)}`);
  }
  return errors.length > 0 ? { error: errors.join('; ') } : { call: true };
}

type HookDecision = 'call' | 'skip' | { refuse: string };

/** ShouldCallHook for one webhook. */
export function shouldCall(hook: Webhook, a: Attributes, namespaceLabels: (name: string) => Record<string, string> | undefined): HookDecision {
  if (!hook.rules.some((r) => ruleMatches(r, a))) return 'skip';
  const labels = selectorLabels(a, namespaceLabels);
  if (labels !== 'cluster-scoped' && !selectorMatches(hook.namespaceSelector ?? {}, labels)) return 'skip';
  const conditions = evaluateConditions(hook, a);
  if ('error' in conditions) return hook.failurePolicy === 'Fail' ? { refuse: `matchConditions of ${hook.name} failed: ${conditions.error}` } : 'skip';
  return conditions.call ? 'call' : 'skip';
}
