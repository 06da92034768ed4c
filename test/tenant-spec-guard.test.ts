// An invalid Tenant change is ignored and the last good spec stays in force (SPEC 4, 11.1); a
// Tenant never valid is judged by the strictest reading of what it says; no Tenant field ever makes
// a review fail. Through the snapshot view and the live view (fake apiserver), with every module.
import t from 'tap';
import { PolicyEngine } from '../policies/engine.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, KubeObject, TenantSpec } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { TenantReconciler } from '../server/cluster/reconcile.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { strictestReading, tenantSpecProblems, type SpecRejection } from '../server/cluster/tenant-spec-guard.js';
import { engineConfigOf } from '../server/config-load.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';
import { prng } from './helpers/prng.js';

const NS = 'team-a';

const RESTRICTED: TenantSpec = {
  namespaceSelector: { matchLabels: { tenant: 'a' } },
  podSecurity: { level: 'restricted', mode: 'enforce' },
  quota: { hard: { 'count/pods': '100', 'requests.cpu': '2' } },
};

function tenantObject(spec: unknown, name = 'tenant-a'): KubeObject {
  return { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name }, spec } as KubeObject;
}

/** A pod that passes restricted, requesting `cpu`. */
function compliantPod(name: string, cpu = '100m'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'nginx',
          resources: { requests: { cpu, memory: '64Mi' }, limits: { cpu, memory: '64Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

function privilegedPod(name: string): KubeObject {
  const pod = compliantPod(name);
  pod.spec!.containers[0].securityContext = { privileged: true };
  return pod;
}

function snapshot(defaults: TenantSpec = DEFAULT_CONFIG.defaultTenant) {
  const view = new SnapshotView(defaults);
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { tenant: 'a' } } });
  const engine = new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view, ledger: new MemoryLedger(view) });
  let n = 0;
  /** A dryRun review: judged in full, nothing reserved, so every review sees the same state. */
  const review = (object: KubeObject) => {
    const request: AdmissionRequest = {
      uid: `req-${++n}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: object.metadata?.name,
      namespace: NS,
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object,
      oldObject: null,
      dryRun: true,
    };
    return engine.review(request, 'both');
  };
  return { view, review };
}

function failedModules(decision: { modules: Array<{ module: string; result: string; error?: string }> }): string[] {
  return decision.modules.filter((m) => m.result === 'error').map((m) => `${m.module}: ${m.error}`);
}

t.test('an invalid Tenant change is ignored: the last good spec stays in force, and is reported once', async (t) => {
  const { view, review } = snapshot();
  const rejections: SpecRejection[] = [];
  view.store.tenantGuard.onRejected((r) => rejections.push(r));
  view.add(tenantObject(RESTRICTED));
  t.equal((await review(privilegedPod('p0'))).allowed, false, 'the valid Tenant enforces restricted');

  // Kubernetes refuses this selector; tenantguard once read it as "matches nothing".
  const broken = { ...RESTRICTED, namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'In' }] }, podSecurity: { level: 'baseline', mode: 'warn' } };
  view.add({ ...tenantObject(broken), metadata: { name: 'tenant-a', generation: 2 } });
  t.equal(view.tenantOf(NS).name, 'tenant-a', 'the namespace stays with its Tenant');
  t.same(view.tenantOf(NS).spec.podSecurity, RESTRICTED.podSecurity, 'judged by the last good spec, not the new podSecurity');
  const denied = await review(privilegedPod('p1'));
  t.equal(denied.allowed, false, 'a privileged pod is still denied');
  t.same(failedModules(denied), []);
  t.equal(rejections.length, 1);
  t.match(rejections[0], { tenant: 'tenant-a', generation: 2, keptLastGood: true, problems: ['spec.namespaceSelector.matchExpressions[0].values: must be non-empty for operator In'] });
  t.same(view.store.tenantGuard.rejection('tenant-a'), rejections[0]);

  // A status update repeats the same spec: judged once, reported once.
  view.add({ ...tenantObject(broken), metadata: { name: 'tenant-a', generation: 2 }, status: { used: { 'count/pods': '1' } } });
  t.equal(rejections.length, 1, 'a status write is not a new rejection');
  t.equal(view.get('Tenant', undefined, 'tenant-a')?.status?.used?.['count/pods'], '1', 'the status is the new one');

  // A quota the runtime cannot count (the CRD cannot refuse it): last good again.
  view.add(tenantObject({ ...RESTRICTED, quota: { hard: { 'requests.memory': '1E' } } }));
  t.equal(rejections.length, 2);
  t.same(view.tenantOf(NS).spec.quota, RESTRICTED.quota);

  const fixed = { ...RESTRICTED, podSecurity: { level: 'baseline', mode: 'warn' } };
  view.add(tenantObject(fixed));
  t.equal(view.store.tenantGuard.rejection('tenant-a'), undefined, 'a valid spec clears the rejection');
  t.same(view.tenantOf(NS).spec.podSecurity, fixed.podSecurity, 'and is in force');
  t.equal((await review(privilegedPod('p2'))).allowed, true, 'baseline/warn: allowed with a warning');
});

t.test('a Tenant never valid is judged by the strictest reading of what it says, never "matches nothing"', async (t) => {
  const { view, review } = snapshot();
  view.add(
    tenantObject({
      namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'In' }] },
      podSecurity: { level: 'strict', mode: 'enforce' },
      quota: { hard: { 'requests.cpu': 'ten', 'count/pods': '5' }, vmCharging: 'node' },
      networkPolicy: { mode: 'off' },
    }),
  );
  const binding = view.tenantOf(NS);
  t.equal(binding.name, 'tenant-a', 'In without values reads as Exists: the namespace labelled tenant is claimed');
  t.same(binding.spec.podSecurity, { level: 'restricted', mode: 'enforce' }, 'an invalid section at its strictest');
  t.same(binding.spec.networkPolicy, { mode: 'off' }, 'a valid section as written');
  t.same(binding.spec.quota, { hard: { 'requests.cpu': '0', 'count/pods': '5' }, vmCharging: 'pod' }, 'an unusable limit at 0');
  const pod = await review(compliantPod('web'));
  t.equal(pod.allowed, false);
  t.match(pod.status?.message, 'limited: requests.cpu=0');
  t.equal((await review(privilegedPod('p'))).allowed, false);
  t.match(view.store.tenantGuard.rejection('tenant-a'), { keptLastGood: false });
});

t.test('a never-valid Tenant naming its namespace as a string, not a list, still claims it (never by substring)', async (t) => {
  const { view } = snapshot();
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  view.add(tenantObject({ namespaces: 'team-a', podSecurity: { level: 'restricted', mode: 'enforce' } }));
  t.equal(view.tenantOf(NS).name, 'tenant-a');
  t.equal(view.tenantOf('team').name, undefined, 'team is not claimed because "team-a" contains it');
});

t.test('the strictest reading never claims every namespace', async (t) => {
  const { view } = snapshot();
  view.add(tenantObject({ namespaceSelector: { matchLabels: { 'bad key!': 'x' }, matchExpressions: [{ key: '', operator: 'NotIn' }] }, podSecurity: { level: 'restricted', mode: 'enforce' } }));
  t.equal(view.tenantOf(NS).name, undefined, 'nothing of the selector is usable: it claims no namespace');
  view.add(tenantObject({ namespaceSelector: {}, podSecurity: { level: 'restricted', mode: 'enforce' } }, 'tenant-b'));
  t.equal(view.tenantOf(NS).name, undefined, 'an empty selector claims nothing either');
  t.match(view.store.tenantGuard.rejection('tenant-b')?.problems, ['spec.namespaceSelector: must name at least one label (an empty selector would claim every namespace)']);
});

const FIELDS = ['namespaceSelector', 'namespaces', 'quota', 'podSecurity', 'defaults', 'networkPolicy', 'vmSecurity', 'hard', 'matchLabels', 'matchExpressions', 'key', 'operator', 'values', 'level', 'mode', 'version', 'require', 'allowHostDevices', 'vmCharging', 'defaultRequests', 'cpu', 'memory', 'seLinuxLevel', '__proto__', 'constructor', 'requests.cpu', 'count/pods', 'tenant'];
const SCALARS: unknown[] = [null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, 'In', 'Exists', 'restricted', 'enforce', 'off', 'guest', '1E', '-5', 'ten', '', 'a'.repeat(400), 'team-a', 'a', 'v1.999', 'latest', '1e100', '0.000000001', 'Ingress', '__proto__', '\u0000', 'é'];

function garbage(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth <= 0 || r < 0.45) return SCALARS[Math.floor(rnd() * SCALARS.length)];
  if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => garbage(rnd, depth - 1));
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 5); i > 0; i--) Object.defineProperty(out, FIELDS[Math.floor(rnd() * FIELDS.length)]!, { value: garbage(rnd, depth - 1), enumerable: true, configurable: true, writable: true });
  return out;
}

/** A garbage spec: random fields, or the good spec with one subtree replaced by garbage. */
function garbageSpec(rnd: () => number): unknown {
  if (rnd() < 0.3) return garbage(rnd, 4);
  const spec = structuredClone(RESTRICTED) as Record<string, any>;
  const path = [['namespaceSelector'], ['namespaceSelector', 'matchLabels'], ['quota'], ['quota', 'hard'], ['podSecurity'], ['podSecurity', 'level'], ['networkPolicy'], ['vmSecurity'], ['defaults'], ['namespaces']][Math.floor(rnd() * 10)]!;
  let node = spec;
  for (const p of path.slice(0, -1)) node = node[p];
  node[path.at(-1)!] = garbage(rnd, 3);
  return spec;
}

t.test('no Tenant field ever makes a review fail: garbage specs, reviews answer per the last good spec', async (t) => {
  const seed = 19;
  const rnd = prng(seed);
  const { view, review } = snapshot();
  view.add(tenantObject(RESTRICTED));
  let rejected = 0;
  for (let i = 0; i < 300; i++) {
    const spec = garbageSpec(rnd);
    view.add(tenantObject(spec));
    const valid = tenantSpecProblems(spec).length === 0;
    if (!valid) rejected++;
    const what = `seed ${seed}, spec ${i}: ${JSON.stringify(spec)?.slice(0, 300)}`;
    const compliant = await review(compliantPod(`ok-${i}`));
    const privileged = await review(privilegedPod(`priv-${i}`));
    if (failedModules(compliant).length + failedModules(privileged).length > 0) {
      t.fail(`${what}: ${[...failedModules(compliant), ...failedModules(privileged)].join('; ')}`);
      continue;
    }
    if (!valid) {
      t.same(view.tenantOf(NS).spec.podSecurity, RESTRICTED.podSecurity, `${what}: last good podSecurity`);
      if (!compliant.allowed || privileged.allowed) t.fail(`${what}: answered ${compliant.allowed}/${privileged.allowed}, not per the last good spec`);
    }
    // Back to the good spec, so the next garbage replaces it again.
    view.add(tenantObject(RESTRICTED));
  }
  t.ok(rejected > 200, `most garbage is rejected (${rejected} of 300)`);
});

t.test('the strictest reading of any garbage is a spec the runtime can use', async (t) => {
  const rnd = prng(7);
  for (let i = 0; i < 500; i++) {
    const spec = garbageSpec(rnd);
    const problems = tenantSpecProblems(strictestReading(spec));
    if (problems.length > 0) t.fail(`${JSON.stringify(spec)}: ${problems.join('; ')}`);
  }
  t.pass('500 garbage specs');
});

t.test('live view: an invalid edit keeps the last good spec, and the Tenant says so in a SpecRejected condition', async (t) => {
  const c = await liveCluster();
  t.teardown(() => c.close());
  c.api.apply(namespace(NS, { tenant: 'a' }));
  c.api.apply(tenant('tenant-a', RESTRICTED as Record<string, unknown>));
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('tenant cached', () => view.tenantOf(NS).name === 'tenant-a');
  const reconciler = new TenantReconciler(c.client(), view, new TenantStatusLedger(c.client(), view, { backoffMs: 1 }), {});
  const condition = () => (c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.conditions ?? []).find((x: { type: string }) => x.type === 'SpecRejected');

  c.api.apply(tenant('tenant-a', { ...RESTRICTED, namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'NotIn' }] } }));
  await until('edit seen', () => view.store.tenantGuard.rejection('tenant-a') !== undefined);
  t.equal(view.tenantOf(NS).name, 'tenant-a', 'the namespace keeps its Tenant');
  t.same(view.tenantOf(NS).spec.namespaceSelector, RESTRICTED.namespaceSelector, 'by the last good selector');
  await reconciler.runOnce();
  t.match(condition(), {
    status: 'True',
    reason: 'InvalidSpecLastValidInForce',
    message: /spec\.namespaceSelector\.matchExpressions\[0\]\.values: must be non-empty for operator NotIn; the last valid spec stays in force/,
  });

  // As kubectl edit does: the spec changes, the status stays.
  const current = c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')!;
  c.api.apply({ ...current, spec: RESTRICTED });
  await until('fix seen', () => view.store.tenantGuard.rejection('tenant-a') === undefined);
  await reconciler.runOnce();
  t.match(condition(), { status: 'False', reason: 'SpecAccepted' });
});
