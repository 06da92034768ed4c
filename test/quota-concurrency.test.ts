// Quota under concurrency across replicas (SPEC 6.4): three engines, each with its own LiveView and
// TenantStatusLedger and the real tenant-quota module, against one apiserver. 200 pod and VM creates
// race for a tenant whose count/pods limit admits exactly N of them: exactly N are admitted, none
// fails for contention, and the Tenant's status.used is exactly what the admitted objects cost.
import t, { type Test } from 'tap';
import { PolicyEngine, type Decision } from '../policies/engine.js';
import { tenantQuota } from '../policies/quota/module.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { TenantStatusLedger } from '../server/cluster/tenant-ledger.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';

const REPLICAS = 3;
const REQUESTS = 200;
const ADMITS = 60;
const MI = 1024 ** 2;

/** What each admitted object costs (tenant charges VMs by guest size). */
const POD_COST = { 'count/pods': 1, 'count/virtualmachines.kubevirt.io': 0, 'requests.cpu': 100, 'requests.memory': 128 * MI, 'limits.cpu': 100, 'limits.memory': 128 * MI };
const VM_COST = { 'count/pods': 1, 'count/virtualmachines.kubevirt.io': 1, 'requests.cpu': 1000, 'requests.memory': 256 * MI, 'limits.cpu': 1000, 'limits.memory': 256 * MI };

function podCreate(ns: string, i: number, dryRun: boolean): AdmissionRequest {
  const object: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name: `web-${i}` },
    spec: { containers: [{ name: 'app', image: 'app:1', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '100m', memory: '128Mi' } } }] },
  };
  return {
    uid: `${ns}-pod-${i}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: ns,
    name: `web-${i}`,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
    dryRun,
  };
}

function vmCreate(ns: string, i: number, dryRun: boolean): AdmissionRequest {
  const object: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { namespace: ns, name: `vm-${i}` },
    spec: { runStrategy: 'Always', template: { spec: { domain: { cpu: { cores: 1 }, memory: { guest: '256Mi' }, devices: {} } } } },
  };
  return {
    uid: `${ns}-vm-${i}`,
    kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
    resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
    namespace: ns,
    name: `vm-${i}`,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
    dryRun,
  };
}

async function replicas(t: Test, ns: string) {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace(ns));
  c.api.apply(tenant('tenant-a', {
    namespaces: [ns],
    quota: {
      hard: { 'count/pods': String(ADMITS), 'requests.cpu': '1000', 'requests.memory': '1Ti', 'limits.cpu': '1000', 'limits.memory': '1Ti' },
      vmCharging: 'guest',
    },
  }));
  const engines: PolicyEngine[] = [];
  for (let i = 0; i < REPLICAS; i++) {
    const view = await c.view();
    await view.waitForSync(AbortSignal.timeout(5000));
    await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
    const ledger = new TenantStatusLedger(c.client(), view);
    engines.push(new PolicyEngine([tenantQuota], {
      exemptions: { namespaces: [], usernames: [], groups: [] },
      modules: { 'tenant-quota': DEFAULT_CONFIG.modules['tenant-quota']! },
      settings: { kubevirtServiceAccounts: DEFAULT_CONFIG.kubevirt.serviceAccounts },
    }, { view, ledger }));
  }
  const used = () => c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.used as Record<string, string>;
  return { c, engines, used };
}

function sum(requests: AdmissionRequest[]): Record<string, string> {
  let pods = 0;
  let vms = 0;
  for (const r of requests) {
    if (r.kind.kind === 'Pod') pods++;
    else vms++;
  }
  const total = (k: keyof typeof POD_COST) => POD_COST[k] * pods + VM_COST[k] * vms;
  const cpu = (m: number) => (m % 1000 === 0 ? String(m / 1000) : `${m}m`);
  const mem = (b: number) => (b % (1024 * MI) === 0 ? `${b / (1024 * MI)}Gi` : `${b / MI}Mi`);
  return {
    'count/pods': String(total('count/pods')),
    'count/virtualmachines.kubevirt.io': String(total('count/virtualmachines.kubevirt.io')),
    'limits.cpu': cpu(total('limits.cpu')),
    'limits.memory': mem(total('limits.memory')),
    'requests.cpu': cpu(total('requests.cpu')),
    'requests.memory': mem(total('requests.memory')),
  };
}

function checkDenials(t: Test, decisions: Decision[]): void {
  const denials = decisions.filter((d) => !d.allowed).map((d) => d.status?.message ?? '');
  const notQuota = denials.filter((m) => !/^\[tenant-quota\] exceeded quota: tenant-a, requested: .*count\/pods=1.*used: .*limited: .*count\/pods=60/.test(m));
  t.same(notQuota, [], 'every denial is the quota verdict (none from contention, timeouts or errors)');
}

t.test(`${REQUESTS} concurrent pod and VM creates over ${REPLICAS} replicas: exactly ${ADMITS} admitted`, async (t) => {
  const { c, engines, used } = await replicas(t, 'team-a');
  const requests = Array.from({ length: REQUESTS }, (_, i) => (i % 4 === 3 ? vmCreate('team-a', i, false) : podCreate('team-a', i, false)));
  const started = performance.now();
  const decisions = await Promise.all(requests.map((r, i) => engines[i % REPLICAS]!.review(r, 'validate')));
  const elapsed = performance.now() - started;

  const admitted = requests.filter((_, i) => decisions[i]!.allowed);
  t.equal(admitted.length, ADMITS, `exactly ${ADMITS} admitted`);
  checkDenials(t, decisions);
  t.same(used(), sum(admitted), 'status.used is the sum over the admitted objects');
  t.ok(admitted.some((r) => r.kind.kind === 'VirtualMachine') && admitted.some((r) => r.kind.kind === 'Pod'), 'pods and VMs both got in');
  t.comment(`${REQUESTS} reviews in ${elapsed.toFixed(0)}ms; ${c.api.conflicts} status writes lost a race (409) and were retried`);
});

t.test('the same race with dryRun requests mixed in: they are judged but consume nothing', async (t) => {
  const { c, engines, used } = await replicas(t, 'team-b');
  const requests = Array.from({ length: REQUESTS }, (_, i) => {
    const dryRun = i % 3 === 0;
    return i % 4 === 3 ? vmCreate('team-b', i, dryRun) : podCreate('team-b', i, dryRun);
  });
  // The apiserver retries some calls: the same uid sent again must not be charged twice.
  const retried = requests.filter((r, i) => !r.dryRun && i % 10 === 1);
  const all = [...requests, ...retried];
  const decisions = await Promise.all(all.map((r, i) => engines[i % REPLICAS]!.review(r, 'validate')));

  const real = requests.filter((r, i) => !r.dryRun && decisions[i]!.allowed);
  const dry = requests.filter((r, i) => r.dryRun && decisions[i]!.allowed);
  t.equal(real.length, ADMITS, `exactly ${ADMITS} real creates admitted`);
  t.ok(dry.length > 0, `dryRun requests were judged (${dry.length} of ${requests.filter((r) => r.dryRun).length} allowed)`);
  checkDenials(t, decisions);
  t.same(used(), sum(real), 'status.used counts only the admitted real creates, retries once');

  const after = await engines[0]!.review(podCreate('team-b', 999, true), 'validate');
  t.equal(after.allowed, false, 'with the quota spent, a dryRun create is denied too');
  t.match(after.status?.message, /exceeded quota: tenant-a, requested: count\/pods=1.*used: count\/pods=60/);
  t.comment(`${c.api.conflicts} status writes lost a race (409) and were retried`);
});
