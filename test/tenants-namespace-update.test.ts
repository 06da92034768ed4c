// TenantIndex.withNamespace (a Namespace event re-resolves only that namespace's Tenant, issue 20
// item 5) gives the bindings and conflicts a full rebuild gives, after any sequence of namespace
// relabels, creations and deletions, including namespaces a Tenant lists by name and namespaces two
// Tenants claim. And changedSince names the namespaces that moved.
import t from 'tap';
import { TenantIndex } from '../policies/kube/tenants.js';
import type { KubeObject, TenantSpec } from '../policies/types.js';
import { prng } from './helpers/prng.js';

const DEFAULTS: TenantSpec = { podSecurity: { level: 'baseline', mode: 'enforce' } };
const TENANTS: KubeObject[] = [
  { metadata: { name: 'red' }, spec: { namespaceSelector: { matchLabels: { team: 'red' } }, quota: { hard: { 'requests.cpu': '4' } } } },
  { metadata: { name: 'blue' }, spec: { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['blue', 'purple'] }] } } },
  // Lists one namespace by name (it belongs to it before it exists) and shares "purple" ones with blue.
  { metadata: { name: 'violet' }, spec: { namespaces: ['ns-3'], namespaceSelector: { matchLabels: { team: 'purple' } }, quota: { hard: { 'requests.cpu': '2' } } } },
];

function summary(index: TenantIndex, names: string[]): unknown {
  return {
    bindings: names.map((n) => [n, index.tenantOf(n)]),
    conflicts: [...index.conflicts].sort((a, b) => a.namespace.localeCompare(b.namespace)),
    namespacesOf: TENANTS.map((t) => [t.metadata!.name, [...index.namespacesOf(t.metadata!.name!)].sort()]),
  };
}

t.test('after random namespace events the updated index equals a full rebuild', async (t) => {
  const names = ['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4'];
  for (let seed = 1; seed <= 20; seed++) {
    const r = prng(seed);
    const namespaces = new Map<string, KubeObject>();
    let index = new TenantIndex(TENANTS, [], DEFAULTS);
    let mismatch: string | undefined;
    for (let step = 0; step < 100 && mismatch === undefined; step++) {
      const name = names[Math.floor(r() * names.length)]!;
      if (r() < 0.2) namespaces.delete(name);
      else namespaces.set(name, { metadata: { name, labels: { team: ['red', 'blue', 'purple', 'none'][Math.floor(r() * 4)]! } } });
      const before = index;
      index = index.withNamespace(name, namespaces.get(name));
      t.same(index.changedSince(before), [name]);
      const full = new TenantIndex(TENANTS, [...namespaces.values()], DEFAULTS);
      if (JSON.stringify(summary(index, names)) !== JSON.stringify(summary(full, names))) mismatch = `seed ${seed} step ${step}`;
    }
    t.equal(mismatch, undefined, `seed ${seed}`);
  }
});

t.test('changedSince: the namespaces moved since an older index, or undefined when it cannot tell', async (t) => {
  const start = new TenantIndex(TENANTS, [], DEFAULTS);
  const one = start.withNamespace('ns-0', { metadata: { name: 'ns-0', labels: { team: 'red' } } });
  const two = one.withNamespace('ns-1', { metadata: { name: 'ns-1', labels: { team: 'blue' } } });
  t.same(two.changedSince(start), ['ns-1', 'ns-0']);
  t.same(two.changedSince(two), []);
  t.equal(new TenantIndex(TENANTS, [], DEFAULTS).changedSince(start), undefined, 'a full rebuild (a Tenant changed): any namespace may have moved');
  t.equal(start.changedSince(two), undefined, 'not derived from it');
});
