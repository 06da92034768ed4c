// Who may do what: the least-privilege RBAC of tenantguard itself, and which API requests the
// webhook configurations send to tenantguard (and with which failure policy).
import t from 'tap';
import { selectorMatches } from '../policies/kube/label-selector.js';
import type { LabelSelector, ViewKind } from '../policies/types.js';
import { VIEW_KINDS } from '../server/cluster/object-store.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { parseConfigText } from '../server/config-load.js';
import { findDoc, readManifest, readOne, renderedInstall } from './helpers/manifests.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };

const rbac = readManifest('base/rbac.yaml');
const role = findDoc(rbac, 'ClusterRole');
const binding = findDoc(rbac, 'ClusterRoleBinding');
const rules = role.rules as Rule[];
const nsRole = findDoc(rbac, 'Role');
const nsBinding = findDoc(rbac, 'RoleBinding');
/** The cluster-wide rules that name no object (the by-name ones are checked on their own). */
const openRules = rules.filter((r) => r.resourceNames === undefined);

/** Where each kind the cluster view keeps is served; a new ViewKind fails tsc until it is added. */
const VIEW_RESOURCES: Record<ViewKind, [group: string, resource: string]> = {
  Namespace: ['', 'namespaces'],
  Pod: ['', 'pods'],
  NetworkPolicy: ['networking.k8s.io', 'networkpolicies'],
  Tenant: ['tenantguard.io', 'tenants'],
  VirtualMachine: ['kubevirt.io', 'virtualmachines'],
  VirtualMachineInstance: ['kubevirt.io', 'virtualmachineinstances'],
  VirtualMachineInstanceReplicaSet: ['kubevirt.io', 'virtualmachineinstancereplicasets'],
  VirtualMachineInstanceMigration: ['kubevirt.io', 'virtualmachineinstancemigrations'],
  KubeVirt: ['kubevirt.io', 'kubevirts'],
  VirtualMachinePool: ['pool.kubevirt.io', 'virtualmachinepools'],
  VirtualMachineInstancetype: ['instancetype.kubevirt.io', 'virtualmachineinstancetypes'],
  VirtualMachineClusterInstancetype: ['instancetype.kubevirt.io', 'virtualmachineclusterinstancetypes'],
  ControllerRevision: ['apps', 'controllerrevisions'],
  PersistentVolumeClaim: ['', 'persistentvolumeclaims'],
  StorageClass: ['storage.k8s.io', 'storageclasses'],
  DataVolume: ['cdi.kubevirt.io', 'datavolumes'],
  CDIConfig: ['cdi.kubevirt.io', 'cdiconfigs'],
  VolumeSnapshot: ['snapshot.storage.k8s.io', 'volumesnapshots'],
};

/** "group/resource" -> granted verbs. */
function grants(list: Rule[] = openRules): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of list) {
    for (const g of r.apiGroups) {
      for (const res of r.resources) {
        const key = `${g}/${res}`;
        const verbs = out.get(key) ?? new Set<string>();
        for (const v of r.verbs) verbs.add(v);
        out.set(key, verbs);
      }
    }
  }
  return out;
}

t.test('RBAC: no wildcards, no non-resource URLs, nothing on secrets cluster-wide', async (t) => {
  for (const [i, r] of [...rules, ...(nsRole.rules as Rule[])].entries()) {
    for (const field of ['apiGroups', 'resources', 'verbs'] as const) t.notOk(r[field].includes('*'), `rules[${i}].${field} has no wildcard`);
    t.equal(r.nonResourceURLs, undefined, `rules[${i}] has no non-resource URLs`);
  }
  for (const [i, r] of rules.entries()) {
    t.notOk(r.resources.some((res) => res === 'secrets' || res.startsWith('secrets/')), `ClusterRole rules[${i}] grants nothing on secrets`);
  }
});

t.test('RBAC: get/list/watch on exactly the kinds the cluster view keeps; writes to tenants/status and namespace labels', async (t) => {
  t.same([...VIEW_KINDS].sort(), Object.keys(VIEW_RESOURCES).sort(), 'every kind the view keeps has a resource here');
  const granted = grants();
  const reads = new Set(Object.values(VIEW_RESOURCES).map(([g, r]) => `${g}/${r}`));
  for (const key of [...reads].filter((k) => k !== '/namespaces')) t.same([...(granted.get(key) ?? [])].sort(), ['get', 'list', 'watch'], key);
  t.same([...(granted.get('/namespaces') ?? [])].sort(), ['get', 'list', 'patch', 'watch'], 'namespaces: patch for the tenantguard.io/tenant label');
  t.same([...(granted.get('tenantguard.io/tenants/status') ?? [])].sort(), ['get', 'patch', 'update'], 'tenants/status');
  t.same([...granted.keys()].sort(), [...reads, 'tenantguard.io/tenants/status'].sort(), 'nothing else without a name');
});

t.test('RBAC: its own webhook configurations, Secret and Lease by name, for certificate renewal', async (t) => {
  const mutating = readOne('base/webhook-mutating.yaml').metadata?.name;
  const validating = readOne('base/webhook-validating.yaml').metadata?.name;
  const named = rules.filter((r) => r.resourceNames !== undefined);
  t.same(named, [{
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
    resourceNames: [...new Set([mutating, validating])],
    verbs: ['get', 'patch'],
  }, {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['validatingwebhookconfigurations'],
    resourceNames: ['cdi-api-datavolume-validate'],
    verbs: ['get'],
  }], 'webhook configurations: read and patch the caBundle of its own only; read CDI\'s to find where CDI is installed');
  const { secretName, caSecretName, leaseName } = DEFAULT_CONFIG.certificates;
  t.equal(nsRole.metadata?.namespace, DEFAULT_CONFIG.namespace, 'a Role in its own namespace');
  t.same(nsRole.rules, [
    { apiGroups: [''], resources: ['secrets'], resourceNames: [secretName, caSecretName], verbs: ['get', 'update'] },
    // A fresh install has no Secret yet: tenantguard creates both (create cannot be limited by name).
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'update'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  ]);
  t.same(nsBinding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: nsRole.metadata?.name });
  t.same(nsBinding.subjects, binding.subjects, 'bound to the same service account');
});

t.test('RBAC: the role is bound to the tenantguard service account only', async (t) => {
  const sa = readOne('base/serviceaccount.yaml');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata?.name, namespace: sa.metadata?.namespace }]);
  const deployment = readOne('base/deployment.yaml');
  t.equal(deployment.spec.template.spec.serviceAccountName, sa.metadata?.name, 'the Deployment runs as it');
});

t.test('the namespace enforces the restricted Pod Security Standard through Pod Security Admission', async (t) => {
  const ns = readOne('base/namespace.yaml');
  t.equal(ns.metadata?.name, DEFAULT_CONFIG.namespace);
  t.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  t.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce-version'], 'latest');
});

// ---- webhooks ----

type WebhookRule = { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope?: string };
interface Webhook {
  name: string;
  failurePolicy: 'Fail' | 'Ignore';
  sideEffects: string;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  matchPolicy: string;
  reinvocationPolicy?: string;
  clientConfig: { caBundle: string; service: { namespace: string; name: string; port: number; path: string } };
  namespaceSelector: LabelSelector;
  matchConditions: Array<{ name: string; expression: string }>;
  rules: WebhookRule[];
}

const rendered = renderedInstall();
const NAMESPACE_LABEL_HOOK = 'namespace-label.tenantguard.io';
async function webhooks(): Promise<{ mutating: Webhook[]; validating: Webhook[]; caBundle: string }> {
  const { docs, caBundle } = await rendered;
  return {
    mutating: findDoc(docs, 'MutatingWebhookConfiguration').webhooks as Webhook[],
    validating: findDoc(docs, 'ValidatingWebhookConfiguration').webhooks as Webhook[],
    caBundle,
  };
}

// admissionregistration rule matching: "pods" is the resource only, "pods/<star>" its
// subresources, "<star>" every resource without subresources, "<star>/<star>" everything.
function resourceMatches(pattern: string, resource: string): boolean {
  if (pattern === '*/*') return true;
  const [pr, ps] = pattern.split('/');
  const [rr, rs] = resource.split('/');
  if ((pr !== '*' && pr !== rr) || (ps === undefined) !== (rs === undefined)) return false;
  return ps === undefined || ps === '*' || ps === rs;
}

function ruleMatches(rule: WebhookRule, group: string, version: string, resource: string, operation: string): boolean {
  const any = (list: string[], value: string) => list.includes('*') || list.includes(value);
  return any(rule.apiGroups, group) && any(rule.apiVersions, version) && any(rule.operations, operation) && rule.resources.some((p) => resourceMatches(p, resource));
}

function hooksFor(hooks: Webhook[], group: string, version: string, resource: string, operation: string): string[] {
  return hooks.filter((h) => h.rules.some((r) => ruleMatches(r, group, version, resource, operation))).map((h) => h.name);
}

const config = parseConfigText((readOne('base/config.yaml').data as Record<string, string>)['config.yaml']!, 'config.yaml');

t.test('every webhook has the fields the apiserver and SPEC 11 require', async (t) => {
  const { mutating, validating, caBundle } = await webhooks();
  const service = readOne('base/service.yaml');
  const https = (service.spec.ports as Array<{ name: string; port: number }>).find((p) => p.name === 'https')!;
  const all = [...mutating, ...validating];
  t.equal(new Set(all.map((h) => h.name)).size, all.length, 'webhook names are unique');
  for (const h of all) {
    t.match(h.name, /^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/, `${h.name}: fully qualified`);
    t.same(h.admissionReviewVersions, ['v1'], `${h.name}: AdmissionReview v1`);
    t.equal(h.sideEffects, 'NoneOnDryRun', `${h.name}: sideEffects`);
    t.equal(h.matchPolicy, 'Equivalent', `${h.name}: matchPolicy`);
    t.same(h.clientConfig.service, { namespace: service.metadata?.namespace, name: service.metadata?.name, port: https.port, path: h.clientConfig.service.path }, `${h.name}: the tenantguard Service's https port`);
    t.equal(h.clientConfig.caBundle, caBundle, `${h.name}: the rendered caBundle`);
    t.ok(h.rules.length > 0, `${h.name}: has rules`);
    for (const r of h.rules) {
      // Namespaces themselves are cluster-scoped; only the namespace-label webhook sees them.
      t.equal(r.scope, h.name === NAMESPACE_LABEL_HOOK ? 'Cluster' : 'Namespaced', `${h.name}: ${h.name === NAMESPACE_LABEL_HOOK ? 'cluster' : 'namespaced'} rules only`);
      t.notOk([...r.apiGroups, ...r.resources, ...r.operations].includes('*'), `${h.name}: no wildcard rules`);
    }
    t.ok(h.matchConditions.length > 0 && h.matchConditions.length <= 64, `${h.name}: matchConditions`);
    t.equal(new Set(h.matchConditions.map((c) => c.name)).size, h.matchConditions.length, `${h.name}: matchCondition names unique`);
  }
  t.same(mutating.map((h) => [h.name, h.failurePolicy, h.timeoutSeconds, h.reinvocationPolicy, h.clientConfig.service.path]), [
    ['mutate.tenantguard.io', 'Ignore', 2, 'IfNeeded', '/mutate'],
    ['mutate-opt-in.tenantguard.io', 'Ignore', 2, 'IfNeeded', '/mutate'],
    [NAMESPACE_LABEL_HOOK, 'Fail', 2, 'IfNeeded', '/mutate'],
  ]);
  t.same(validating.map((h) => [h.name, h.failurePolicy, h.timeoutSeconds, h.clientConfig.service.path]), [
    ['validate.tenantguard.io', 'Fail', 3, '/validate'],
    ['validate-opt-in.tenantguard.io', 'Fail', 3, '/validate'],
    ['networkpolicy-delete.tenantguard.io', 'Ignore', 3, '/validate'],
    ['networkpolicy-delete-opt-in.tenantguard.io', 'Ignore', 3, '/validate'],
  ]);
});

t.test('kubelet requests (mirror pods) are never sent to tenantguard', async (t) => {
  const { mutating, validating } = await webhooks();
  // Kubelets write no Namespace objects: the namespace-label webhook needs no such condition.
  for (const h of [...mutating, ...validating].filter((h) => h.name !== NAMESPACE_LABEL_HOOK)) {
    t.same(h.matchConditions.find((c) => c.name === 'exclude-kubelet-requests')?.expression, '!(has(request.userInfo.groups) && "system:nodes" in request.userInfo.groups)', h.name);
  }
});

/** The namespaces a tenantguard outage must never block (SPEC 11.1): system, KubeVirt, CDI, CNIs. */
const INFRASTRUCTURE = ['kube-system', 'kube-public', 'kube-node-lease', 'tenantguard', 'kubevirt', 'cdi', 'calico-system', 'tigera-operator', 'kube-flannel', 'cilium'];

t.test('the webhooks skip the infrastructure namespaces, and the server config exempts the same', async (t) => {
  t.ok(config.ok, 'the ConfigMap config parses');
  const exempt = config.ok ? (config.value.exemptions as { namespaces: string[] }).namespaces : [];
  for (const ns of DEFAULT_CONFIG.exemptions.namespaces) t.ok(exempt.includes(ns), `the ConfigMap exempts ${ns}, as the default config does`);
  const { mutating, validating } = await webhooks();
  for (const h of [...mutating, ...validating]) {
    const byName = h.namespaceSelector.matchExpressions!.find((e) => e.key === 'kubernetes.io/metadata.name')!;
    t.same(byName.operator, 'NotIn', `${h.name}: excludes by name`);
    // The namespace-label webhook also skips `default`, which the apiserver recreates at start-up.
    const expected = h.name === NAMESPACE_LABEL_HOOK ? [...exempt, 'default'] : exempt;
    t.same([...byName.values!].sort(), [...expected].sort(), `${h.name}: the same list as exemptions.namespaces`);
    // Even a namespace wrongly labelled as claimed or opted in is skipped.
    const labelled = (name: string) => ({ 'kubernetes.io/metadata.name': name, 'tenantguard.io/tenant': 'x', 'tenantguard.io/enabled': 'true' });
    for (const ns of INFRASTRUCTURE) t.notOk(selectorMatches(h.namespaceSelector, labelled(ns)), `${h.name} skips ${ns}`);
  }
});

t.test('each webhook reviews a namespace a Tenant claims or one opted in, exactly once; others never', async (t) => {
  const { mutating, validating } = await webhooks();
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['claimed by a Tenant', { 'tenantguard.io/tenant': 'tenant-a' }, true],
    ['claimed by a Tenant with a long name (empty value)', { 'tenantguard.io/tenant': '' }, true],
    ['opted in', { 'tenantguard.io/enabled': 'true' }, true],
    ['claimed and opted in', { 'tenantguard.io/tenant': 'tenant-a', 'tenantguard.io/enabled': 'true' }, true],
    ['opted out explicitly', { 'tenantguard.io/enabled': 'false' }, false],
    ['neither', {}, false],
  ];
  const groups = { mutate: mutating.filter((h) => h.name !== NAMESPACE_LABEL_HOOK), validate: validating.filter((h) => h.failurePolicy === 'Fail'), release: validating.filter((h) => h.failurePolicy === 'Ignore') };
  for (const [what, extra, reviewed] of cases) {
    const labels = { 'kubernetes.io/metadata.name': 'team-a', ...extra };
    for (const [group, hooks] of Object.entries(groups)) {
      const matching = hooks.filter((h) => selectorMatches(h.namespaceSelector, labels));
      t.equal(matching.length, reviewed ? 1 : 0, `${group}: ${what}`);
    }
  }
  for (const [group, hooks] of Object.entries(groups)) {
    t.equal(hooks.length, 2, `${group}: two webhooks`);
    t.same(hooks[0]!.rules, hooks[1]!.rules, `${group}: both judge the same requests`);
    t.same([hooks[0]!.failurePolicy, hooks[0]!.timeoutSeconds], [hooks[1]!.failurePolicy, hooks[1]!.timeoutSeconds], `${group}: with the same policy`);
  }
});

t.test('never leases, events or anything tenantguard does not judge', async (t) => {
  const { mutating, validating } = await webhooks();
  const all = [...mutating, ...validating];
  for (const [g, r] of [['coordination.k8s.io', 'leases'], ['', 'events'], ['events.k8s.io', 'events'], ['', 'configmaps'], ['', 'secrets'], ['', 'pods/status'], ['', 'pods/binding'], ['kubevirt.io', 'virtualmachineinstances/status']]) {
    for (const op of ['CREATE', 'UPDATE', 'DELETE']) t.same(hooksFor(all, g!, 'v1', r!, op), [], `${op} ${g || 'core'} ${r}`);
  }
  const resources = new Set(all.flatMap((h) => h.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`)))));
  t.same([...resources].sort(), [
    '/namespaces', '/persistentvolumeclaims', '/pods', '/pods/ephemeralcontainers', '/pods/resize',
    'apps/daemonsets', 'apps/deployments', 'apps/replicasets', 'apps/statefulsets',
    'batch/cronjobs', 'batch/jobs',
    'cdi.kubevirt.io/datavolumes',
    'kubevirt.io/virtualmachineinstancemigrations', 'kubevirt.io/virtualmachineinstancereplicasets', 'kubevirt.io/virtualmachineinstancereplicasets/scale',
    'kubevirt.io/virtualmachineinstances', 'kubevirt.io/virtualmachines',
    'networking.k8s.io/networkpolicies',
    'pool.kubevirt.io/virtualmachinepools', 'pool.kubevirt.io/virtualmachinepools/scale',
  ], 'the resources of every rule');
});

/** What SPEC 5 says is judged: [group, version, resource, operation]. */
const JUDGED: Array<[string, string, string, string]> = [
  ['', 'v1', 'pods', 'CREATE'],
  ['', 'v1', 'pods', 'UPDATE'],
  ['', 'v1', 'pods/ephemeralcontainers', 'UPDATE'],
  ['', 'v1', 'pods/resize', 'UPDATE'],
  ...['deployments', 'replicasets', 'statefulsets', 'daemonsets'].flatMap((r): Array<[string, string, string, string]> => [
    ['apps', 'v1', r, 'CREATE'],
    ['apps', 'v1', r, 'UPDATE'],
  ]),
  ['batch', 'v1', 'jobs', 'CREATE'],
  ['batch', 'v1', 'cronjobs', 'CREATE'],
  ['batch', 'v1', 'cronjobs', 'UPDATE'],
  ['kubevirt.io', 'v1', 'virtualmachines', 'CREATE'],
  ['kubevirt.io', 'v1', 'virtualmachines', 'UPDATE'],
  ['kubevirt.io', 'v1', 'virtualmachineinstances', 'CREATE'],
  ['kubevirt.io', 'v1', 'virtualmachineinstancereplicasets', 'CREATE'],
  ['kubevirt.io', 'v1', 'virtualmachineinstancereplicasets', 'UPDATE'],
  ['kubevirt.io', 'v1', 'virtualmachineinstancemigrations', 'CREATE'],
  ['pool.kubevirt.io', 'v1alpha1', 'virtualmachinepools', 'CREATE'],
  ['pool.kubevirt.io', 'v1beta1', 'virtualmachinepools', 'UPDATE'],
  ['kubevirt.io', 'v1', 'virtualmachineinstancereplicasets/scale', 'UPDATE'],
  ['pool.kubevirt.io', 'v1beta1', 'virtualmachinepools/scale', 'UPDATE'],
  ['', 'v1', 'persistentvolumeclaims', 'CREATE'],
  ['', 'v1', 'persistentvolumeclaims', 'UPDATE'],
  ['cdi.kubevirt.io', 'v1beta1', 'datavolumes', 'CREATE'],
];

t.test('every kind SPEC 5 covers is validated by the failurePolicy Fail webhook', async (t) => {
  const { validating } = await webhooks();
  for (const [g, v, r, op] of JUDGED) t.same(hooksFor(validating, g, v, r, op), ['validate.tenantguard.io', 'validate-opt-in.tenantguard.io'], `${op} ${g || 'core'}/${v} ${r}`);
});

t.test('deletes reach tenantguard only through the Ignore webhook, and only where a policy needs them: an outage never blocks a delete', async (t) => {
  const { mutating, validating } = await webhooks();
  t.same(hooksFor([...mutating, ...validating], 'networking.k8s.io', 'v1', 'networkpolicies', 'DELETE'), ['networkpolicy-delete.tenantguard.io', 'networkpolicy-delete-opt-in.tenantguard.io'], 'DELETE networkpolicies (the uncovered-pods warning)');
  const notSent: Array<[string, string, string]> = [
    ['', 'v1', 'pods'],
    ['kubevirt.io', 'v1', 'virtualmachines'],
    ['kubevirt.io', 'v1', 'virtualmachineinstances'],
    ['kubevirt.io', 'v1', 'virtualmachineinstancereplicasets'],
    ['pool.kubevirt.io', 'v1beta1', 'virtualmachinepools'],
  ];
  // Quota frees on what the watch shows, never on a review: nothing else needs a DELETE.
  for (const [g, v, r] of notSent) t.same(hooksFor([...mutating, ...validating], g, v, r, 'DELETE'), [], `DELETE ${r} is not sent`);
  for (const h of [...mutating, ...validating].filter((h) => h.failurePolicy === 'Fail')) {
    t.notOk(h.rules.some((r) => r.operations.includes('DELETE')), `${h.name} has no DELETE rule`);
  }
  for (const release of validating.filter((h) => h.failurePolicy === 'Ignore')) {
    t.ok(release.rules.every((r) => r.operations.length === 1 && r.operations[0] === 'DELETE'), `${release.name} sees deletes only`);
  }
});

t.test('mutation reaches Pods and pod templates, never an UPDATE of an immutable pod spec', async (t) => {
  const { mutating } = await webhooks();
  const mutated: Array<[string, string, string, string]> = [
    ['', 'v1', 'pods', 'CREATE'],
    ['batch', 'v1', 'jobs', 'CREATE'],
    ['batch', 'v1', 'cronjobs', 'UPDATE'],
    ...['deployments', 'replicasets', 'statefulsets', 'daemonsets'].map((r): [string, string, string, string] => ['apps', 'v1', r, 'UPDATE']),
  ];
  for (const [g, v, r, op] of mutated) t.same(hooksFor(mutating, g, v, r, op), ['mutate.tenantguard.io', 'mutate-opt-in.tenantguard.io'], `${op} ${r}`);
  for (const [g, v, r, op] of [
    ['', 'v1', 'pods', 'UPDATE'],
    ['batch', 'v1', 'jobs', 'UPDATE'],
    ['', 'v1', 'pods/ephemeralcontainers', 'UPDATE'],
    ['kubevirt.io', 'v1', 'virtualmachines', 'CREATE'],
  ] as const) {
    t.same(hooksFor(mutating, g, v, r, op), [], `not ${op} ${r}`);
  }
});

t.test('the rule matcher tells subresources apart', async (t) => {
  const podsOnly: WebhookRule = { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods'] };
  t.ok(ruleMatches(podsOnly, '', 'v1', 'pods', 'UPDATE'));
  t.notOk(ruleMatches(podsOnly, '', 'v1', 'pods/status', 'UPDATE'), 'pods does not match pods/status');
  t.ok(ruleMatches({ ...podsOnly, resources: ['pods/*'] }, '', 'v1', 'pods/ephemeralcontainers', 'UPDATE'), 'pods/* matches a subresource');
  t.notOk(ruleMatches(podsOnly, 'apps', 'v1', 'pods', 'UPDATE'), 'group must match');
});
