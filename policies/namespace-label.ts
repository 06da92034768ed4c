// namespace-label (mutate, SPEC 11.1 "Guarded from the first second"): a Namespace carries the
// `tenantguard.io/tenant` label of the Tenant that claims it from the very request that creates or
// relabels it, as Capsule assigns namespaces to tenants. The webhooks select tenant namespaces by
// that label, and the apiserver matches a webhook's namespaceSelector against the namespace's
// labels at the moment of each request (k8s.io/apiserver pkg/admission/plugin/webhook/predicates/
// namespace/matcher.go, GetNamespaceLabels: for a Namespace CREATE or UPDATE the labels of the
// object being admitted): a pod created right after its namespace is therefore judged. The label
// is computed from the Tenants in the view and the request's own name and labels; a label a user
// adds, changes or strips is put back as the Tenants say, and a second pass finds nothing to do.
import { claimingTenantOf } from './kube/tenants.js';
import type { ModuleResult, PatchOp, PolicyInput, PolicyModule } from './types.js';

export const TENANT_LABEL = 'tenantguard.io/tenant';
export const OPT_IN_LABEL = 'tenantguard.io/enabled';

/** Label values: at most 63 characters, alphanumeric at both ends, '-', '_' and '.' inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_PATH = `/metadata/labels/${TENANT_LABEL.replace(/~/g, '~0').replace(/\//g, '~1')}`;
const NOTHING: ModuleResult = Object.freeze({});

/**
 * The label's value for a namespace the Tenant `name` claims: the Tenant's name, so that
 * `kubectl get ns -L tenantguard.io/tenant` shows who owns what. Tenant names are DNS subdomains
 * of up to 253 characters; one too long for a label value is marked with an empty value (the
 * webhooks select on the key alone).
 */
export function tenantLabelValue(name: string): string {
  return name.length <= 63 && LABEL_VALUE.test(name) ? name : '';
}

function mutate(input: PolicyInput): ModuleResult {
  const { request, object } = input;
  if (request.kind.group !== '' || request.kind.kind !== 'Namespace' || request.subResource) return NOTHING;
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !object) return NOTHING;
  // A namespace being deleted admits nothing new; its label no longer matters.
  if (object.metadata?.deletionTimestamp) return NOTHING;
  const tenant = claimingTenantOf(input.view.list('Tenant'), object);
  const wanted = tenant === undefined ? undefined : tenantLabelValue(tenant);
  const labels = object.metadata?.labels;
  const current = labels?.[TENANT_LABEL];
  if (current === wanted) return NOTHING;
  let patch: PatchOp[];
  if (wanted === undefined) patch = [{ op: 'remove', path: LABEL_PATH }];
  else if (labels === undefined || labels === null) patch = [{ op: 'add', path: '/metadata/labels', value: { [TENANT_LABEL]: wanted } }];
  else patch = [{ op: 'add', path: LABEL_PATH, value: wanted }];
  const annotation =
    wanted === undefined
      ? `${TENANT_LABEL} removed: no Tenant claims this namespace`
      : `${TENANT_LABEL}=${JSON.stringify(wanted)}: claimed by Tenant ${tenant}`;
  return { patch, annotation };
}

export const namespaceLabel: PolicyModule = { name: 'namespace-label', type: 'mutate', evaluate: mutate };
