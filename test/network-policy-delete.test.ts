// Deleting the last NetworkPolicy that covers running pods is allowed, with a warning naming them.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { networkPolicy } from '../policies/network-policy.js';
import type { KubeObject, TenantSpec } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { networkPolicyDelete } from './fixtures/whole-engine.js';

const NS = 'team-a';

function netpol(name: string, matchLabels: Record<string, string>, policyTypes?: string[]): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: NS },
    spec: { podSelector: { matchLabels }, ...(policyTypes ? { policyTypes } : {}) },
  };
}

function runningPod(name: string, labels: Record<string, string>, phase = 'Running'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels }, spec: { containers: [] }, status: { phase } };
}

function setup(objects: KubeObject[], tenant: TenantSpec = { networkPolicy: { mode: 'enforce' } }) {
  const view = new SnapshotView(tenant);
  for (const o of objects) view.add(o);
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'network-policy': { failureMode: 'fail', timeoutMs: 1000, enabled: true } },
    settings: { kubevirtServiceAccounts: [] },
  };
  return new PolicyEngine([networkPolicy], config, { view, ledger: new MemoryLedger(view) });
}

t.test('deleting the only policy covering running pods warns with their names', async (t) => {
  const web = netpol('web', { app: 'web' });
  const d = await setup([web, runningPod('web-1', { app: 'web' }), runningPod('web-2', { app: 'web' }), runningPod('db-1', { app: 'db' })]).review(
    networkPolicyDelete(web),
    'validate',
  );
  t.equal(d.allowed, true, 'the delete itself is never denied');
  t.same(d.warnings, ['[network-policy] deleting this NetworkPolicy leaves pods web-1, web-2 uncovered']);
});

t.test('no warning while another policy still covers the pods', async (t) => {
  const web = netpol('web', { app: 'web' });
  const d = await setup([web, netpol('all', {}), runningPod('web-1', { app: 'web' })]).review(networkPolicyDelete(web), 'validate');
  t.same(d.warnings, []);
});

t.test('finished pods and pods that were uncovered anyway are not named', async (t) => {
  const web = netpol('web', { app: 'web' });
  const egressOnly = netpol('egress', { app: 'batch' }, ['Egress']);
  const d = await setup([
    web,
    egressOnly,
    runningPod('web-1', { app: 'web' }),
    runningPod('web-done', { app: 'web' }, 'Succeeded'),
    runningPod('web-failed', { app: 'web' }, 'Failed'),
    runningPod('batch-1', { app: 'batch' }),
  ]).review(networkPolicyDelete(web), 'validate');
  t.same(d.warnings, ['[network-policy] deleting this NetworkPolicy leaves pods web-1 uncovered']);
  const e = await setup([egressOnly, runningPod('batch-1', { app: 'batch' })]).review(networkPolicyDelete(egressOnly), 'validate');
  t.same(e.warnings, [], 'an Egress-only policy never covered Ingress, so its delete uncovers nothing the tenant requires');
});

t.test('at most five pods are named, the rest counted', async (t) => {
  const web = netpol('web', { app: 'web' });
  const pods = Array.from({ length: 7 }, (_, i) => runningPod(`w${i}`, { app: 'web' }));
  const d = await setup([web, ...pods]).review(networkPolicyDelete(web), 'validate');
  t.same(d.warnings, ['[network-policy] deleting this NetworkPolicy leaves pods w0, w1, w2, w3, w4 and 2 more uncovered']);
});

t.test('without oldObject in the request the cached policy is used', async (t) => {
  const web = netpol('web', { app: 'web' });
  const d = await setup([web, runningPod('web-1', { app: 'web' })]).review(networkPolicyDelete(web, false), 'validate');
  t.same(d.warnings, ['[network-policy] deleting this NetworkPolicy leaves pods web-1 uncovered']);
});

t.test('losing Egress coverage counts when the tenant requires Egress', async (t) => {
  const both = netpol('both', {}, ['Ingress', 'Egress']);
  const ingressOnly = netpol('ingress', {}, ['Ingress']);
  const tenant: TenantSpec = { networkPolicy: { mode: 'enforce', require: ['Ingress', 'Egress'] } };
  const d = await setup([both, ingressOnly, runningPod('p', { app: 'x' })], tenant).review(networkPolicyDelete(both), 'validate');
  t.same(d.warnings, ['[network-policy] deleting this NetworkPolicy leaves pods p uncovered']);
});

t.test('no warning when the tenant has networkPolicy off', async (t) => {
  const web = netpol('web', { app: 'web' });
  const d = await setup([web, runningPod('web-1', { app: 'web' })], { networkPolicy: { mode: 'off' } }).review(networkPolicyDelete(web), 'validate');
  t.same(d.warnings, []);
});
