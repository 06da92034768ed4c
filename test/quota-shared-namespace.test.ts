// Two Tenants claiming one namespace (a configuration error, reported as NamespaceConflict on both):
// both are charged for what runs there, and each is judged against its own hard, so neither
// over-admits nor is refused with room left. The other modules keep the stricter settings.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { tenantQuota } from '../policies/quota/module.js';
import { usageByTenant } from '../policies/quota/usage.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const SETTINGS = { kubevirtServiceAccounts: [] };
const CONFIG: EngineConfig = {
  exemptions: { namespaces: [], usernames: [], groups: [] },
  modules: { 'tenant-quota': { failureMode: 'fail', timeoutMs: 1000, enabled: true } },
  settings: SETTINGS,
};

const tenant = (name: string, namespaces: string[], hard: Record<string, string>): KubeObject => ({
  apiVersion: 'tenantguard.io/v1alpha1',
  kind: 'Tenant',
  metadata: { name },
  spec: { namespaces, quota: { hard } },
});

const pod = (namespace: string, name: string, cpu = '100m'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, uid: `uid-${namespace}-${name}` },
  spec: { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu }, limits: { cpu } } }] },
});

/** Tenant "a" (listed first by name) and "b" both claim "shared"; each has a namespace of its own with `own` pods. */
function env(hardA: Record<string, string>, hardB: Record<string, string>, own: { a: number; b: number }) {
  const view = new SnapshotView({});
  for (const ns of ['a-own', 'b-own', 'shared']) view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  view.add(tenant('a', ['a-own', 'shared'], hardA));
  view.add(tenant('b', ['b-own', 'shared'], hardB));
  for (let i = 0; i < own.a; i++) view.add(pod('a-own', `p${i}`));
  for (let i = 0; i < own.b; i++) view.add(pod('b-own', `p${i}`));
  const ledger = new MemoryLedger(view);
  const engine = new PolicyEngine([tenantQuota], CONFIG, { view, ledger });
  let n = 0;
  async function create(obj: KubeObject, opts: { apply?: boolean } = {}) {
    const request: AdmissionRequest = {
      uid: `req-${++n}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object: obj,
    };
    const decision = await engine.review(request, 'validate');
    if (decision.allowed && opts.apply !== false) view.apply(request, obj);
    return decision;
  }
  const pods = (tenantName: string) => ledger.used(tenantName)['count/pods'];
  return { view, ledger, create, pods };
}

t.test('a Tenant whose own limit is smaller is not over-admitted by the other\'s usage', async (t) => {
  // "a" has room (1 of 10), "b" is nearly full (5 of 6): the shared namespace fills "b".
  const e = env({ 'count/pods': '10' }, { 'count/pods': '6' }, { a: 1, b: 5 });
  t.equal((await e.create(pod('shared', 's1'))).allowed, true);
  t.same([e.pods('a'), e.pods('b')], [2, 6], 'both are charged for the shared namespace');
  const over = await e.create(pod('shared', 's2'));
  t.equal(over.allowed, false, '"b" is full, whatever room "a" has');
  // The built-in quota's phrase first, then the explanation (explanation.ts).
  t.match(over.status?.message, /^\[tenant-quota\] exceeded quota: b, requested: count\/pods=1, used: count\/pods=6, limited: count\/pods=6; /);
  t.same([e.pods('a'), e.pods('b')], [2, 6]);
});

t.test('a Tenant with room is not refused for the other\'s usage against the smaller limit', async (t) => {
  // "a" has used 4 of 10, "b" 0 of 3: the smaller limit (3) against a's usage (4) would refuse.
  const e = env({ 'count/pods': '10' }, { 'count/pods': '3' }, { a: 4, b: 0 });
  for (const name of ['s1', 's2', 's3']) t.equal((await e.create(pod('shared', name))).allowed, true, `${name}: both have room`);
  t.same([e.pods('a'), e.pods('b')], [7, 3]);
  t.equal((await e.create(pod('a-own', 'more'))).allowed, true, '"a" still has room in its own namespace');
  t.equal((await e.create(pod('shared', 's4'))).allowed, false, 'the shared namespace is full for "b"');
});

t.test('each Tenant\'s limits are its own: a resource only one limits refuses only there', async (t) => {
  const e = env({ 'count/pods': '10' }, { 'requests.cpu': '1' }, { a: 0, b: 0 });
  const big = await e.create(pod('shared', 'big', '2'));
  t.equal(big.allowed, false);
  t.match(big.status?.message, 'exceeded quota: b, requested: requests.cpu=2');
  t.equal((await e.create(pod('a-own', 'big', '2'))).allowed, true, '"a" limits no cpu');
});

t.test('a reservation in the shared namespace counts for both Tenants until observed', async (t) => {
  const e = env({ 'count/pods': '10' }, { 'count/pods': '10' }, { a: 0, b: 0 });
  t.equal((await e.create(pod('shared', 'pending'), { apply: false })).allowed, true);
  t.same([e.ledger.book.reserved('a')['count/pods'], e.ledger.book.reserved('b')['count/pods']], [1, 1], 'reserved for each');
  t.same([e.pods('a'), e.pods('b')], [1, 1]);
  const request = { uid: 'req-1', name: 'pending', namespace: 'shared', operation: 'CREATE', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, userInfo: {} } as AdmissionRequest;
  e.view.apply(request, pod('shared', 'pending'));
  t.same([e.ledger.book.count('a'), e.ledger.book.count('b')], [0, 0], 'observed: both reservations end');
  t.same([e.pods('a'), e.pods('b')], [1, 1], 'and the pod is charged to both, once each');
  const recomputed = usageByTenant(e.view, SETTINGS);
  t.same([recomputed.get('a')?.['count/pods'], recomputed.get('b')?.['count/pods']], [1, 1], 'the reconcile agrees');
});
