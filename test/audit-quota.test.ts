// `audit` judges what exists as existing (SPEC 10, issue 21): the pods that run are the tenant's
// usage, not creates charged on top of it. A tenant exactly at its limit (2 of 2 pods) has no
// quota finding and --fail-on-violation exits 0; one over it has one finding per resource over
// `hard`, naming the Tenant, in each of its namespaces' reports. `--apply` writes the reports into
// the cluster, as the audit CronJob does.
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { MODULES } from '../policies/registry.js';
import type { KubeObject } from '../policies/types.js';
import { liveCluster, namespace as liveNamespace, tenant as liveTenant } from './helpers/live-cluster.js';
import type { OpenReport, Violation } from '../server/replay/policy-report.js';
import { audit } from './fixtures/replay/run.js';

const tenant = `
apiVersion: tenantguard.io/v1alpha1
kind: Tenant
metadata: {name: tenant-a, uid: 7e000000-0000-4000-8000-000000000001}
spec:
  namespaces: [team-a, team-b]
  podSecurity: {level: privileged, mode: enforce}
  quota:
    hard: {count/pods: "2", requests.cpu: "1"}
`;
const namespaces = `
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
`;
const pod = (namespace: string, name: string): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}, uid: ${name}-uid}
spec:
  containers: [{name: app, image: nginx, resources: {requests: {cpu: 250m}, limits: {cpu: 250m}}}]
status: {phase: Running}
`;

function state(t: Test, pods: string[]): string {
  return t.testdir({ 'tenant.yaml': tenant, 'namespaces.yaml': namespaces, 'pods.yaml': pods.join('---\n') });
}

t.test('a tenant exactly at 2 of 2 pods has no quota finding, and --fail-on-violation exits 0', async (t) => {
  const dir = state(t, [pod('team-a', 'web-1'), pod('team-b', 'web-2')]);
  const r = await audit(['--state', dir, '--output', 'json', '--fail-on-violation'], MODULES);
  t.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as { evaluated: number; violations: Violation[] };
  t.equal(out.evaluated, 2);
  t.same(out.violations, [], 'both existing pods fit: nothing is charged twice');
  t.equal(r.code, 0);
});

t.test('three pods over a limit of two: one finding per resource over hard, on the Tenant, in each namespace', async (t) => {
  const dir = state(t, [pod('team-a', 'web-1'), pod('team-a', 'web-2'), pod('team-b', 'web-3')]);
  const r = await audit(['--state', dir, '--output', 'json', '--fail-on-violation'], MODULES);
  t.equal(r.code, 1, '--fail-on-violation: something is over');
  const out = JSON.parse(r.stdout) as { violations: Violation[] };
  t.same(
    out.violations.map((v) => [v.namespace, v.kind, v.name, v.policy, v.mode, v.rule, v.message]),
    [
      ['team-a', 'Tenant', 'tenant-a', 'tenant-quota', 'enforce', 'count/pods', 'over quota: tenant-a, used: count/pods=3, limited: count/pods=2'],
      ['team-b', 'Tenant', 'tenant-a', 'tenant-quota', 'enforce', 'count/pods', 'over quota: tenant-a, used: count/pods=3, limited: count/pods=2'],
    ],
    'requests.cpu (750m of 1) is within its limit; the pods themselves are not findings',
  );

  const reports = parseAllDocuments((await audit(['--state', dir, '--output', 'openreports'], MODULES)).stdout).map((d) => d.toJS() as OpenReport);
  const teamA = reports.find((rep) => rep.metadata.namespace === 'team-a')!;
  t.same(teamA.summary.fail, 1);
  t.same(teamA.results[0]!.resources, [{ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', namespace: 'team-a', name: 'tenant-a', uid: '7e000000-0000-4000-8000-000000000001' }]);
});

t.test('--apply writes each namespace\'s Report into the cluster and replaces it at the next run', async (t) => {
  const cluster = await liveCluster({ kubevirt: false, reports: true });
  t.teardown(() => cluster.close());
  cluster.api.apply(liveTenant('tenant-a', { namespaces: ['team-a'], podSecurity: { level: 'privileged', mode: 'enforce' }, quota: { hard: { 'count/pods': '1' } } }));
  cluster.api.apply(liveNamespace('team-a', {}));
  const running = (name: string): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'team-a', name },
    spec: { containers: [{ name: 'app', image: 'nginx' }] }, status: { phase: 'Running' },
  });
  cluster.api.apply(running('web-1'));
  cluster.api.apply(running('web-2'));
  const args = ['--kubeconfig', cluster.kubeconfig, '--output', 'openreports', '--apply'];
  const first = await audit(args, MODULES);
  t.equal(first.code, 0, first.stderr);
  const stored = () => cluster.api.get('openreports.io/v1alpha1', 'Report', 'team-a', 'tenantguard-audit') as (OpenReport & { metadata: { resourceVersion: string } }) | undefined;
  const written = stored()!;
  t.equal(written.summary.fail, 1, 'the count/pods finding (2 of 1) is in the cluster');
  t.equal(written.results[0]!.rule, 'count/pods');

  cluster.api.remove('v1', 'Pod', 'team-a', 'web-2');
  const second = await audit(args, MODULES);
  t.equal(second.code, 0, second.stderr);
  t.equal(stored()!.summary.fail, 0, 'the next run clears it: the tenant is at 1 of 1');
  t.same(stored()!.results, []);
  t.not(stored()!.metadata.resourceVersion, written.metadata.resourceVersion, 'replaced, not created again');

  const refused = await audit(['--kubeconfig', cluster.kubeconfig, '--output', 'json', '--apply'], MODULES);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /--apply writes reports: use it with --output policyreport or --output openreports/);
});
