// `tenantguard audit`: every workload in a state directory judged as a dry-run CREATE, violations
// per tenant and policy in table, JSON, wgpolicyk8s.io/v1alpha2 PolicyReport and openreports.io/v1alpha1
// Report form.
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import type { PolicyModule } from '../policies/types.js';
import type { OpenReport, PolicyReport, Violation } from '../server/replay/policy-report.js';
import { labelStamp, noPrivileged, teamLabel, throwsOnVm } from './fixtures/replay/policy-modules.js';
import { audit, fixture } from './fixtures/replay/run.js';

const MODULES = [labelStamp, noPrivileged, teamLabel, throwsOnVm];
const STATE = ['--state', fixture('audit-state')];

interface AuditJson {
  evaluated: number;
  exempt: number;
  violations: Array<Omit<Violation, 'tenant'> & { tenant: string | null }>;
  byTenant: Record<string, Record<string, Record<string, number>>>;
}

t.test('JSON: every workload evaluated, violations of every mode, per tenant and policy', async (t) => {
  const r = await audit([...STATE, '--output', 'json'], MODULES);
  t.equal(r.code, 0, 'violations alone do not fail the audit');
  t.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 8, '5 pods, a VMI, a VM and a Deployment; the ConfigMap is not a workload');
  t.equal(out.exempt, 1, 'the kube-system pod is exempt');
  t.same(
    out.violations.map((v) => [v.tenant, v.policy, v.mode, `${v.namespace}/${v.kind}/${v.name}`, v.rule]),
    [
      [null, 'team-label', 'audit', 'sandbox/Pod/unlabelled', 'team-label'],
      ['tenant-a', 'no-privileged', 'enforce', 'team-a/Pod/root-shell', 'Privileged Containers'],
      ['tenant-a', 'no-privileged', 'enforce', 'team-a/Pod/virt-launcher-fake', 'Privileged Containers'],
      ['tenant-a', 'throws-on-vm', 'error', 'team-a/VirtualMachine/vm1', 'evaluation'],
    ],
    'the real launcher pod is judged as made by KubeVirt; the imitation is not',
  );
  t.match(out.violations[1], { apiVersion: 'v1', uid: 'a0000000-0000-4000-8000-000000000001', message: 'spec.containers[0].securityContext.privileged: must not be true' });
  t.equal(out.violations[3]!.message, 'cannot read spec.template');
  t.same(out.byTenant, {
    '(default)': { 'team-label': { enforce: 0, warn: 0, audit: 1, error: 0 } },
    'tenant-a': {
      'no-privileged': { enforce: 2, warn: 0, audit: 0, error: 0 },
      'throws-on-vm': { enforce: 0, warn: 0, audit: 0, error: 1 },
    },
  });
});

t.test('audit judges the stored object: a mutator that would add the label does not hide its absence', async (t) => {
  const addTeam: PolicyModule = {
    name: 'add-team',
    type: 'mutate',
    evaluate: ({ object }) => (object?.metadata?.labels?.team ? {} : { patch: [{ op: 'add', path: '/metadata/labels', value: { team: 'default' } }] }),
  };
  const out = JSON.parse((await audit([...STATE, '--output', 'json'], [addTeam, teamLabel])).stdout) as AuditJson;
  t.same(out.violations.map((v) => v.name), ['unlabelled']);
});

t.test('table: one row per violation, counts per tenant and policy, summary line', async (t) => {
  const r = await audit(STATE, MODULES);
  t.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  t.match(lines[0], /^TENANT\s+POLICY\s+MODE\s+OBJECT\s+RULE\s+MESSAGE$/);
  t.match(lines[1], /^\(default\)\s+team-label\s+audit\s+sandbox\/Pod\/unlabelled\s+team-label\s+metadata\.labels\.team: should be set$/);
  t.match(lines[2], /^tenant-a\s+no-privileged\s+enforce\s+team-a\/Pod\/root-shell\s+Privileged Containers\s+spec\.containers\[0\]/);
  t.ok(lines.includes('tenant-a no-privileged: enforce 2, warn 0, audit 0, error 0'));
  t.ok(lines.includes('(default) team-label: enforce 0, warn 0, audit 1, error 0'));
  t.equal(lines.at(-1), '8 objects evaluated (1 exempt), 4 violations');
});

/** The one finding in namespace sandbox, as a report result (the same in both report APIs). */
const SANDBOX_FINDING = {
  source: 'tenantguard',
  policy: 'team-label',
  rule: 'team-label',
  result: 'warn',
  scored: false,
  message: 'metadata.labels.team: should be set',
  resources: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'sandbox', name: 'unlabelled', uid: 'a0000000-0000-4000-8000-000000000002' }],
  properties: { mode: 'audit' },
};

/** Runs the audit with a report output; checks what every report of either API shares and returns them. */
async function reports<R extends PolicyReport | OpenReport>(t: Test, output: string): Promise<R[]> {
  const r = await audit([...STATE, '--output', output], MODULES);
  t.equal(r.code, 0);
  const docs = parseAllDocuments(r.stdout).map((d) => {
    t.same(d.errors, [], 'valid YAML');
    return d.toJS() as R;
  });
  t.same(docs.map((d) => d.metadata.namespace), ['kube-system', 'sandbox', 'team-a'], 'every audited namespace, sorted, empty ones included');
  for (const d of docs) {
    const counted = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
    for (const res of d.results) counted[res.result] += 1;
    t.same(d.summary, counted, `${d.metadata.namespace}: the summary counts the results`);
  }
  return docs;
}

t.test('policyreport: one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const docs = await reports<PolicyReport>(t, 'policyreport');
  for (const d of docs) {
    t.equal(d.apiVersion, 'wgpolicyk8s.io/v1alpha2');
    t.equal(d.kind, 'PolicyReport');
    t.equal(d.metadata.name, 'tenantguard-audit');
  }
  const [kubeSystem, sandbox, teamA] = docs as [PolicyReport, PolicyReport, PolicyReport];
  t.same(kubeSystem.results, []);
  t.match(sandbox.results, [SANDBOX_FINDING]);
  t.equal(sandbox.results[0]!.properties.tenant, undefined, 'no tenant property for the default tenant');
  t.same(teamA.summary, { pass: 0, fail: 2, warn: 0, error: 1, skip: 0 });
  t.match(teamA.results[0], { policy: 'no-privileged', result: 'fail', scored: true, properties: { mode: 'enforce', tenant: 'tenant-a' } });
  t.match(teamA.results[2], { policy: 'throws-on-vm', result: 'error', resources: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm1' }] });
  const ts = teamA.results[0]!.timestamp;
  t.ok(ts.seconds >= before && ts.seconds <= Math.ceil(Date.now() / 1000) && ts.nanos === 0, 'metav1.Timestamp of the audit');
});

t.test('openreports: one openreports.io/v1alpha1 Report per namespace, one result per finding', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const docs = await reports<OpenReport>(t, 'openreports');
  for (const d of docs) {
    // openreports/reports-api apis/openreports.io/v1alpha1/report_types.go: Report and ReportSummary.
    t.same(Object.keys(d), ['apiVersion', 'kind', 'metadata', 'source', 'summary', 'results']);
    t.equal(d.apiVersion, 'openreports.io/v1alpha1');
    t.equal(d.kind, 'Report');
    t.same(d.metadata, { name: 'tenantguard-audit', namespace: d.metadata.namespace, labels: { 'app.kubernetes.io/managed-by': 'tenantguard' } });
    t.equal(d.source, 'tenantguard');
  }
  const [kubeSystem, sandbox, teamA] = docs as [OpenReport, OpenReport, OpenReport];
  t.same(kubeSystem.results, [], 'the exempt pod yields no result');
  t.same(sandbox.summary, { pass: 0, fail: 0, warn: 1, error: 0, skip: 0 });
  t.equal(sandbox.results.length, 1);
  const [finding] = sandbox.results;
  // ReportResult's JSON names: source, policy, rule, timestamp, result, scored, resources, message, properties.
  t.same(Object.keys(finding!).sort(), ['message', 'policy', 'properties', 'resources', 'result', 'rule', 'scored', 'source', 'timestamp']);
  t.match(finding, SANDBOX_FINDING);
  t.same(teamA.summary, { pass: 0, fail: 2, warn: 0, error: 1, skip: 0 });
  t.same(teamA.results.map((res) => [res.policy, res.result, res.scored, res.resources[0]!.name, res.properties.tenant]), [
    ['no-privileged', 'fail', true, 'root-shell', 'tenant-a'],
    ['no-privileged', 'fail', true, 'virt-launcher-fake', 'tenant-a'],
    ['throws-on-vm', 'error', false, 'vm1', 'tenant-a'],
  ], 'one result per finding');
  const ts = teamA.results[0]!.timestamp;
  t.ok(ts.seconds >= before && ts.seconds <= Math.ceil(Date.now() / 1000) && ts.nanos === 0, 'metav1.Timestamp of the audit');
});

t.test('exit codes: --fail-on-violation, bad flags, missing state', async (t) => {
  t.equal((await audit([...STATE, '--fail-on-violation'], MODULES)).code, 1);
  t.equal((await audit([...STATE, '--fail-on-violation'], [labelStamp])).code, 0, 'nothing violated: 0 even with the flag');
  const bad = await audit([...STATE, '--output', 'xml'], MODULES);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--output must be one of table, json, policyreport, openreports, got xml/);
  const missing = await audit(['--state', fixture('no-such-state')], MODULES);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read state directory .*no-such-state/);
  const stray = await audit([...STATE, 'extra'], MODULES);
  t.equal(stray.code, 2);
  t.match(stray.stderr, /Unexpected argument 'extra'/);
});
