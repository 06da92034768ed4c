// A tenant namespace is guarded from its creation (SPEC 11.1): the apiserver (the fake one with the
// rendered webhook configurations, helpers/apiserver-admission.ts) matches each webhook's
// namespaceSelector against the namespace's labels at the moment of each request, and tenantguard
// (a LiveView, a Tenant-status ledger and every module) labels the namespace in the very request
// that creates or relabels it. So the privileged pod and the pod over quota sent right after are
// judged and refused, with tenantguard's own watch lagging behind; and while tenantguard is down a
// tenant namespace cannot be created at all, whereas the garbage collector still finishes its work.
import t, { type Test } from 'tap';
import { PolicyEngine } from '../policies/engine.js';
import { TENANT_LABEL } from '../policies/namespace-label.js';
import { MODULES } from '../policies/registry.js';
import type { KubeObject } from '../policies/types.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { engineConfigOf } from '../server/config-load.js';
import { ApiserverAdmission, type AdmissionChain } from './helpers/apiserver-admission.js';
import { liveCluster, namespace, pod, tenant, until } from './helpers/live-cluster.js';
import { findDoc, renderedInstall } from './helpers/manifests.js';
import type { Webhook } from './helpers/webhook-match.js';

const rendered = renderedInstall();

async function setup(t: Test) {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(tenant('tenant-a', {
    namespaceSelector: { matchLabels: { team: 'a' } },
    podSecurity: { level: 'restricted', mode: 'enforce' },
    quota: { hard: { 'requests.cpu': '1', 'limits.cpu': '1' } },
  }));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
  // tenantguard's watch lags well behind the apiserver: nothing below may depend on it catching up.
  c.api.watchDelayMs = 300;
  const ledger = new TenantStatusLedger(c.client(), view);
  const engine = new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view, ledger });
  const { docs } = await rendered;
  const chain: AdmissionChain = {
    mutating: findDoc(docs, 'MutatingWebhookConfiguration').webhooks as Webhook[],
    validating: findDoc(docs, 'ValidatingWebhookConfiguration').webhooks as Webhook[],
    mutate: (r) => engine.review(r, 'mutate'),
    validate: (r) => engine.review(r, 'validate'),
  };
  const admission = new ApiserverAdmission(c.api, chain);
  const labels = (ns: string) => c.api.get('v1', 'Namespace', undefined, ns)?.metadata?.labels ?? {};
  return { c, chain, admission, labels };
}

/** A pod restricted admits, asking for `cpu`. */
function restrictedPod(ns: string, name: string, cpu = '100m'): KubeObject {
  const p = pod(ns, name, { cpu, memory: '64Mi' });
  delete p.status;
  p.spec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  p.spec.containers[0].securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  return p;
}

function privilegedPod(ns: string, name: string): KubeObject {
  const p = restrictedPod(ns, name);
  p.spec.containers[0].securityContext = { privileged: true };
  return p;
}

t.test('a namespace created with a Tenant\'s labels is labelled in that request; the pods right after it are judged', async (t) => {
  const { admission, labels } = await setup(t);
  const created = await admission.create(namespace('team-a-new', { team: 'a' }));
  t.ok(created.allowed, 'the namespace is created');
  t.equal(labels('team-a-new')[TENANT_LABEL], 'tenant-a', 'stored with its Tenant label');
  const privileged = await admission.create(privilegedPod('team-a-new', 'root'));
  t.notOk(privileged.allowed, 'a privileged pod right after is denied');
  t.match(privileged.status?.message, /privileged/);
  const overQuota = await admission.create(restrictedPod('team-a-new', 'big', '2'));
  t.notOk(overQuota.allowed, 'a pod over the CPU quota right after is denied');
  t.match(overQuota.status?.message, /requests\.cpu/);
  t.ok((await admission.create(restrictedPod('team-a-new', 'fine'))).allowed, 'a pod within the Tenant\'s rules is admitted');
});

t.test('a namespace that joins a Tenant later is guarded from that request on; stripping the label does not work', async (t) => {
  const { admission, labels } = await setup(t);
  t.ok((await admission.create(namespace('scratch'))).allowed);
  t.notOk(TENANT_LABEL in labels('scratch'), 'no Tenant claims it');
  t.ok((await admission.create(privilegedPod('scratch', 'before'))).allowed, 'not a tenant namespace: not reviewed');
  t.ok((await admission.update(namespace('scratch', { team: 'a' }))).allowed, 'relabelled into tenant-a');
  t.equal(labels('scratch')[TENANT_LABEL], 'tenant-a', 'labelled in the same request');
  t.notOk((await admission.create(privilegedPod('scratch', 'after'))).allowed, 'the next privileged pod is denied');
  t.ok((await admission.update(namespace('scratch', { team: 'a' }))).allowed, 'an UPDATE that strips the label is admitted');
  t.equal(labels('scratch')[TENANT_LABEL], 'tenant-a', '... with the label put back');
  t.notOk((await admission.create(privilegedPod('scratch', 'again'))).allowed, 'still guarded');
});

t.test('while tenantguard is down: no namespace outside the system ones can be created, and the controllers still finish', async (t) => {
  const { c, chain, admission, labels } = await setup(t);
  t.ok((await admission.create(namespace('team-a-live', { team: 'a' }))).allowed);
  const p = restrictedPod('team-a-live', 'web');
  p.metadata!.finalizers = ['example.com/cleanup'];
  t.ok((await admission.create(p)).allowed);
  chain.down = true;
  const refused = await admission.create(namespace('team-a-outage', { team: 'a' }));
  t.notOk(refused.allowed, 'a tenant namespace cannot be created unguarded');
  t.match(refused.status?.message, /namespace-label\.tenantguard\.io/);
  t.notOk((await admission.create(namespace('anything'))).allowed, 'nor any other namespace tenantguard cannot judge');
  t.ok((await admission.update(namespace('team-a-live', { team: 'a', [TENANT_LABEL]: 'tenant-a' }))).allowed, 'an update that leaves the labels alone is not sent');
  t.notOk((await admission.create(restrictedPod('team-a-live', 'new'))).allowed, 'a tenant pod create is refused (failurePolicy Fail)');
  // The garbage collector removes the finalizer of the terminating pod (garbagecollector/operations.go removeFinalizer).
  const stored = c.api.get('v1', 'Pod', 'team-a-live', 'web')!;
  const terminating = { ...stored, metadata: { ...stored.metadata, deletionTimestamp: new Date().toISOString() } };
  c.api.apply(terminating);
  const gc = await admission.update({ ...terminating, metadata: { ...terminating.metadata, finalizers: [] } }, {
    user: 'system:serviceaccount:kube-system:generic-garbage-collector',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
  });
  t.ok(gc.allowed, 'the garbage collector\'s finalizer removal goes through');
  t.same(c.api.get('v1', 'Pod', 'team-a-live', 'web')?.metadata?.finalizers, [], 'and is stored');
  t.equal(labels('team-a-live')[TENANT_LABEL], 'tenant-a');
});
