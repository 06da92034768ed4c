// The index a quota denial reads its "largest users" from: after any sequence of charges set,
// changed and removed, its top k per tenant is what sorting every object would give; and through the
// ledger it follows the cluster view (a deleted pod leaves it, a grown one moves up).
import t from 'tap';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { TopConsumers } from '../server/cluster/top-consumers.js';
import type { KubeObject } from '../policies/types.js';
import { prng } from './helpers/prng.js';

t.test('the top k after random sets, changes and removals equals a full sort', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = prng(seed);
    const index = new TopConsumers();
    const truth = new Map<string, Map<string, Record<string, number>>>();
    const namespaces = ['a', 'b', 'c'];
    for (let step = 0; step < 600; step++) {
      const ns = namespaces[Math.floor(rnd() * 3)]!;
      const key = `Pod/p${Math.floor(rnd() * 40)}`;
      const inNs = truth.get(ns) ?? new Map();
      truth.set(ns, inNs);
      const old = inNs.get(key);
      // Distinct amounts, so that the order is one.
      const next = rnd() < 0.25 ? undefined : { 'requests.cpu': Math.floor(rnd() * 1e6) * 64 + step, 'count/pods': 1 };
      index.update(ns, key, old, next);
      if (next) inNs.set(key, next);
      else inNs.delete(key);
    }
    for (const k of [1, 3, 10]) {
      const chosen = ['a', 'c'];
      const expected = chosen
        .flatMap((ns) => [...(truth.get(ns) ?? new Map()).entries()].map(([key, c]) => ({ key, namespace: ns, amount: c['requests.cpu']! })))
        .filter((c) => c.amount > 0)
        .sort((x, y) => y.amount - x.amount)
        .slice(0, k);
      t.same(index.top(chosen, 'requests.cpu', k), expected, `seed ${seed}, top ${k}`);
    }
    t.same(index.top(['a'], 'count/pods', 3), [], 'counts are not indexed: every object uses one');
  }
});

function pod(name: string, cpu: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'team-a', uid: `uid-${name}` },
    spec: { containers: [{ name: 'app', resources: { requests: { cpu, memory: '1Gi' } } }] },
    status: { phase: 'Running' },
  };
}

t.test('through the ledger, the index follows the view', async (t) => {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  view.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: ['team-a'], quota: { hard: { 'requests.cpu': '100' } } } });
  for (const [name, cpu] of [['small', '100m'], ['big', '4'], ['mid', '1']] as const) view.add(pod(name, cpu));
  const ledger = new MemoryLedger(view);
  const names = () => ledger.consumers('tenant-a', 'requests.cpu', 2).top.map((c) => `${c.kind} ${c.namespace}/${c.name}=${c.amount}`);
  t.same(names(), ['Pod team-a/big=4000', 'Pod team-a/mid=1000']);
  view.store.remove('Pod', 'team-a', 'big');
  t.same(names(), ['Pod team-a/mid=1000', 'Pod team-a/small=100'], 'a deleted pod leaves the index');
  view.add(pod('small', '8'));
  t.same(names(), ['Pod team-a/small=8000', 'Pod team-a/mid=1000'], 'a pod charged more moves up');
});
