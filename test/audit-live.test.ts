// `tenantguard audit --kubeconfig`: the live cluster read whole through the fake apiserver (full
// objects, paged lists, KubeVirt kinds only where served) and judged exactly like a state directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../policies/types.js';
import { MODULES } from '../policies/registry.js';
import type { PolicyReport, Violation } from '../server/replay/policy-report.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { liveCluster, namespace, tenant, type LiveCluster } from './helpers/live-cluster.js';
import { noPrivileged, teamLabel } from './fixtures/replay/policy-modules.js';
import { audit, fixture } from './fixtures/replay/run.js';

interface AuditJson {
  evaluated: number;
  exempt: number;
  violations: Array<Omit<Violation, 'tenant'> & { tenant: string | null }>;
  byTenant: Record<string, Record<string, Record<string, number>>>;
}

const RESTRICTED_POD_SECURITY = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

function podWith(ns: string, name: string, spec: Record<string, unknown>, container: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name },
    spec: { ...spec, containers: [{ name: 'app', image: 'registry.example/app:1', ...container }] },
    status: { phase: 'Running' },
  };
}

/** Passes tenant-a's restricted level: only the whole pod spec shows it (a projection would not). */
const compliantPod = (ns: string, name: string): KubeObject =>
  podWith(ns, name, { securityContext: RESTRICTED_POD_SECURITY }, { securityContext: RESTRICTED_CONTAINER });

/** Restricted in every respect but one: a privileged container. */
const privilegedPod = (ns: string, name: string): KubeObject =>
  podWith(ns, name, { securityContext: RESTRICTED_POD_SECURITY }, { securityContext: { ...RESTRICTED_CONTAINER, privileged: true } });

function vm(ns: string, name: string, volumes: unknown[]): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { namespace: ns, name },
    spec: { runStrategy: 'Always', template: { spec: { domain: { devices: {} }, volumes } } },
  };
}

const HOST_DISK = [{ name: 'data', hostDisk: { path: '/var/lib/data.img', type: 'DiskOrCreate', capacity: '1Gi' } }];
const CONTAINER_DISK = [{ name: 'root', containerDisk: { image: 'registry.example/fedora:40' } }];

/** tenant-a (restricted, enforce) owns team-a and team-b; sandbox falls to the default tenant (baseline, warn). */
function seed(api: FakeApiServer, kubevirt: boolean): void {
  api.apply(tenant('tenant-a', {
    namespaceSelector: { matchLabels: { tenant: 'tenant-a' } },
    podSecurity: { level: 'restricted', mode: 'enforce' },
    networkPolicy: { mode: 'off' },
    vmSecurity: { mode: 'enforce', allowHostDevices: [], allowHookSidecars: false },
  }));
  api.apply(namespace('team-a', { tenant: 'tenant-a' }));
  api.apply(namespace('team-b', { tenant: 'tenant-a' }));
  api.apply(namespace('sandbox'));
  api.apply(namespace('kube-system'));
  api.apply(privilegedPod('team-a', 'root-shell'));
  api.apply(compliantPod('team-a', 'web-0'));
  api.apply(compliantPod('team-a', 'web-1'));
  api.apply(compliantPod('team-b', 'api-0'));
  api.apply(podWith('sandbox', 'host-net', { hostNetwork: true }));
  api.apply(privilegedPod('kube-system', 'kube-proxy'));
  if (kubevirt) {
    api.apply(vm('team-a', 'vm-hostdisk', HOST_DISK));
    api.apply(vm('team-a', 'vm-plain', CONTAINER_DISK));
  }
}

async function cluster(t: Test, opts: { kubevirt: boolean }): Promise<LiveCluster> {
  const c = await liveCluster({ kubevirt: opts.kubevirt });
  t.teardown(() => c.close());
  seed(c.api, opts.kubevirt);
  return c;
}

const rows = (out: AuditJson): string[][] => out.violations.map((v) => [v.tenant ?? '(default)', v.policy, v.mode, `${v.namespace}/${v.kind}/${v.name}`, v.rule]);

const ROOT_SHELL = ['tenant-a', 'pod-security', 'enforce', 'team-a/Pod/root-shell', 'Privileged Containers'];
const HOST_NET = ['(default)', 'pod-security', 'warn', 'sandbox/Pod/host-net', 'Host Namespaces'];
const VM_HOST_DISK = ['tenant-a', 'vm-security', 'enforce', 'team-a/VirtualMachine/vm-hostdisk', 'hostDisk'];

t.test('JSON: every Pod and VM of the cluster judged in full, violations per tenant and policy', async (t) => {
  const c = await cluster(t, { kubevirt: true });
  const r = await audit(['--kubeconfig', c.kubeconfig, '--output', 'json', '--chunk-size', '2'], MODULES);
  t.equal(r.stderr, '');
  t.equal(r.code, 0, 'violations alone do not fail the audit');
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 8, '6 pods and 2 VMs');
  t.equal(out.exempt, 1, 'kube-system is exempt by the default config');
  t.same(rows(out), [HOST_NET, ROOT_SHELL, VM_HOST_DISK], 'the compliant pods and the VM without hostDisk pass');
  const uid = c.api.get('v1', 'Pod', 'team-a', 'root-shell')!.metadata!.uid;
  t.match(out.violations.find((v) => v.name === 'root-shell'), { apiVersion: 'v1', uid, message: /securityContext\.privileged=true/ }, 'the uid the apiserver gave');
  t.same(out.byTenant, {
    '(default)': { 'pod-security': { enforce: 0, warn: 1, audit: 0, error: 0 } },
    'tenant-a': {
      'pod-security': { enforce: 1, warn: 0, audit: 0, error: 0 },
      'vm-security': { enforce: 1, warn: 0, audit: 0, error: 0 },
    },
  });

  const podLists = c.api.requests.filter((q) => q.path === '/api/v1/pods');
  t.same(podLists.map((q) => q.query.get('limit')), ['2', '2', '2'], '6 pods read in pages of 2');
  t.same(podLists.map((q) => q.query.has('continue')), [false, true, true], 'each later page continues the first');
  t.ok(c.api.requests.some((q) => q.path === '/apis/kubevirt.io/v1/virtualmachines'), 'VMs listed as discovery found them');
  t.notOk(c.api.requests.some((q) => q.query.get('watch') === 'true'), 'an audit reads once, it does not watch');
});

t.test('without KubeVirt installed the KubeVirt kinds are skipped, the pods still judged', async (t) => {
  const c = await cluster(t, { kubevirt: false });
  const r = await audit(['--kubeconfig', c.kubeconfig, '--output', 'json'], MODULES);
  t.equal(r.stderr, '');
  t.equal(r.code, 0);
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 6);
  t.same(rows(out), [HOST_NET, ROOT_SHELL]);
  t.notOk(c.api.requests.some((q) => q.path.includes('kubevirt.io/')), 'no KubeVirt group was asked for');
});

t.test('--namespace: only those namespaces are read and judged', async (t) => {
  const c = await cluster(t, { kubevirt: true });
  const r = await audit(['--kubeconfig', c.kubeconfig, '--output', 'json', '--namespace', 'team-a', '--namespace', 'sandbox'], MODULES);
  t.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 6, 'team-a: 3 pods, 2 VMs; sandbox: 1 pod; team-b and kube-system are left out');
  t.same(rows(out), [HOST_NET, ROOT_SHELL, VM_HOST_DISK]);
  const podPaths = c.api.requests.filter((q) => q.path.endsWith('/pods')).map((q) => q.path);
  t.same(podPaths, ['/api/v1/namespaces/team-a/pods', '/api/v1/namespaces/sandbox/pods'], 'no cluster-wide pod list');
  t.notOk(c.api.requests.some((q) => q.path === '/api/v1/namespaces'), 'each named namespace is read with a get');

  const typo = await audit(['--kubeconfig', c.kubeconfig, '--namespace', 'team-z'], MODULES);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /^tenantguard audit: namespace team-z does not exist in http:\/\/127\.0\.0\.1:\d+\n$/);
  const bad = await audit(['--kubeconfig', c.kubeconfig, '--namespace', 'Team_A'], MODULES);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--namespace "Team_A": not a namespace name/);
});

t.test('policyreport: one PolicyReport per namespace of the live cluster', async (t) => {
  const c = await cluster(t, { kubevirt: true });
  const r = await audit(['--kubeconfig', c.kubeconfig, '--output', 'policyreport'], MODULES);
  t.equal(r.code, 0);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as PolicyReport);
  t.same(docs.map((d) => d.metadata.namespace), ['kube-system', 'sandbox', 'team-a', 'team-b']);
  const [kubeSystem, sandbox, teamA, teamB] = docs as [PolicyReport, PolicyReport, PolicyReport, PolicyReport];
  t.same(kubeSystem.results, [], 'exempt');
  t.same(teamB.results, [], 'compliant');
  t.same(sandbox.summary, { pass: 0, fail: 0, warn: 1, error: 0, skip: 0 });
  t.same(teamA.summary, { pass: 0, fail: 2, warn: 0, error: 0, skip: 0 });
  const uid = c.api.get('v1', 'Pod', 'team-a', 'root-shell')!.metadata!.uid;
  t.match(teamA.results, [
    { policy: 'pod-security', rule: 'Privileged Containers', result: 'fail', resources: [{ kind: 'Pod', name: 'root-shell', uid }], properties: { tenant: 'tenant-a' } },
    { policy: 'vm-security', rule: 'hostDisk', result: 'fail', resources: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-hostdisk' }] },
  ]);
});

t.test('list items without kind and apiVersion, as the apiserver sends typed lists, are still judged', async (t) => {
  const c = await cluster(t, { kubevirt: false });
  const bare = ['team-a', 'sandbox'].flatMap((ns) =>
    (ns === 'team-a' ? ['root-shell', 'web-0'] : ['host-net']).map((name) => {
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = c.api.get('v1', 'Pod', ns, name)!;
      return rest;
    }),
  );
  c.api.intercept = (q) =>
    q.path === '/api/v1/pods' ? { status: 200, body: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '9' }, items: bare } } : undefined;
  const r = await audit(['--kubeconfig', c.kubeconfig, '--output', 'json'], MODULES);
  t.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 3);
  t.same(rows(out), [HOST_NET, ROOT_SHELL]);
  t.equal(out.violations[1]!.apiVersion, 'v1');
});

t.test('KUBECONFIG selects the live cluster when neither --state nor --kubeconfig is given', async (t) => {
  const c = await cluster(t, { kubevirt: false });
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = c.kubeconfig;
  t.teardown(() => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });
  const r = await audit(['--output', 'json'], MODULES);
  t.equal(r.stderr, '');
  t.same(rows(JSON.parse(r.stdout) as AuditJson), [HOST_NET, ROOT_SHELL]);
});

t.test('a cluster that cannot be read exits 2 naming the URL and the kind', async (t) => {
  const c = await cluster(t, { kubevirt: true });
  c.api.intercept = (q) =>
    q.path === '/apis/kubevirt.io/v1/virtualmachineinstances'
      ? { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'virtualmachineinstances.kubevirt.io is forbidden: User "auditor" cannot list resource' } }
      : undefined;
  const forbidden = await audit(['--kubeconfig', c.kubeconfig], MODULES);
  t.equal(forbidden.code, 2);
  t.equal(forbidden.stdout, '', 'no partial report');
  t.match(
    forbidden.stderr,
    /^tenantguard audit: cannot list VirtualMachineInstance objects at http:\/\/127\.0\.0\.1:\d+\/apis\/kubevirt\.io\/v1\/virtualmachineinstances: 403 Forbidden: virtualmachineinstances\.kubevirt\.io is forbidden/,
  );

  const { url } = c.api;
  await c.api.stop();
  const down = await audit(['--kubeconfig', c.kubeconfig], MODULES);
  t.equal(down.code, 2);
  t.match(down.stderr, `tenantguard audit: cannot discover the API groups of ${url}: GET /apis:`);
  t.match(down.stderr, /ECONNREFUSED/);
});

t.test('bad kubeconfig and conflicting sources exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tenantguard-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing.yaml');
  const noFile = await audit(['--kubeconfig', missing], MODULES);
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, `tenantguard audit: cannot use the kubeconfig ${missing}: `);
  const both = await audit(['--kubeconfig', missing, '--state', dir], MODULES);
  t.equal(both.code, 2);
  t.match(both.stderr, /--state and --kubeconfig exclude each other/);
  const chunk = await audit(['--kubeconfig', missing, '--chunk-size', '0'], MODULES);
  t.equal(chunk.code, 2);
  t.match(chunk.stderr, /--chunk-size must be a whole number from 1 to 999999, got 0/);
});

t.test('--namespace restricts a state directory audit the same way', async (t) => {
  const state = ['--state', fixture('audit-state')];
  const r = await audit([...state, '--namespace', 'sandbox', '--namespace', 'kube-system', '--output', 'json'], [noPrivileged, teamLabel]);
  t.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as AuditJson;
  t.equal(out.evaluated, 3, "sandbox's pod and Deployment, kube-system's pod; team-a's five objects left out");
  t.same(rows(out), [['(default)', 'team-label', 'audit', 'sandbox/Pod/unlabelled', 'team-label']]);
  const reports = await audit([...state, '--namespace', 'team-a', '--output', 'policyreport'], [teamLabel]);
  const docs = parseAllDocuments(reports.stdout).map((d) => d.toJS() as PolicyReport);
  t.same(docs.map((d) => [d.metadata.namespace, d.results.length]), [['team-a', 0]], 'a clean namespace asked for still gets its (empty) report');
  const typo = await audit([...state, '--namespace', 'team-z'], [teamLabel]);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /namespace team-z is not in the state directory .*audit-state/);
});
