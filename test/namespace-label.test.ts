// namespace-label: the request that creates or relabels a namespace carries the label of the Tenant
// that claims it (by selector or by name), a user cannot strip or forge it, a namespace no Tenant
// claims loses it, and a second pass (the apiserver reinvokes mutating webhooks) changes nothing.
// Driven through the engine with every module, as /mutate runs them.
import t from 'tap';
import fjp from 'fast-json-patch';
import { PolicyEngine } from '../policies/engine.js';
import { TENANT_LABEL } from '../policies/namespace-label.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, KubeObject, Operation } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { engineConfigOf } from '../server/config-load.js';

const tenant = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name }, spec });

function engine(): PolicyEngine {
  const view = new SnapshotView(DEFAULT_CONFIG.defaultTenant);
  view.add(tenant('tenant-a', { namespaceSelector: { matchLabels: { team: 'a' } }, podSecurity: { level: 'restricted', mode: 'enforce' } }));
  view.add(tenant('tenant-b', { namespaces: ['billing'] }));
  view.add(tenant('b'.repeat(70), { namespaceSelector: { matchLabels: { team: 'long' } } }));
  return new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view, ledger: new MemoryLedger(view) });
}

const ns = (name: string, labels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } });

function review(operation: Operation, object: KubeObject, oldObject?: KubeObject): AdmissionRequest {
  return {
    uid: `uid-${Math.random()}`,
    kind: { group: '', version: 'v1', kind: 'Namespace' },
    resource: { group: '', version: 'v1', resource: 'namespaces' },
    // The apiserver sends no namespace for a Namespace CREATE (POST /api/v1/namespaces), its name on UPDATE.
    ...(operation === 'UPDATE' ? { namespace: object.metadata!.name! } : {}),
    name: object.metadata!.name!,
    operation,
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object,
    oldObject: oldObject ?? null,
    dryRun: false,
  };
}

async function mutated(request: AdmissionRequest): Promise<{ labels: Record<string, string> | undefined; patched: boolean; allowed: boolean }> {
  const d = await engine().review(request, 'mutate');
  const out = d.patch ? (fjp.applyPatch(structuredClone(request.object!), d.patch as fjp.Operation[]).newDocument as KubeObject) : request.object!;
  return { labels: out.metadata?.labels, patched: d.patch !== undefined, allowed: d.allowed };
}

t.test('a namespace created with a Tenant selector labels gets its label in the same request', async (t) => {
  const r = await mutated(review('CREATE', ns('team-a-dev', { team: 'a', 'kubernetes.io/metadata.name': 'team-a-dev' })));
  t.ok(r.allowed);
  t.same(r.labels, { team: 'a', 'kubernetes.io/metadata.name': 'team-a-dev', [TENANT_LABEL]: 'tenant-a' });
});

t.test('a namespace a Tenant lists by name gets its label, even created without any label', async (t) => {
  const r = await mutated(review('CREATE', ns('billing')));
  t.same(r.labels, { [TENANT_LABEL]: 'tenant-b' });
});

t.test('a Tenant name too long for a label value gives an empty value', async (t) => {
  const r = await mutated(review('CREATE', ns('long-one', { team: 'long' })));
  t.equal(r.labels?.[TENANT_LABEL], '');
});

t.test('a namespace no Tenant claims: no label, and a forged one is removed', async (t) => {
  const plain = await mutated(review('CREATE', ns('scratch', { team: 'z' })));
  t.notOk(plain.patched, 'nothing to do');
  const forged = await mutated(review('CREATE', ns('scratch', { [TENANT_LABEL]: 'tenant-a' })));
  t.same(forged.labels, {}, 'a namespace cannot claim to be a Tenant\'s without its selector');
});

t.test('an UPDATE stripping or changing the label gets it back', async (t) => {
  const before = ns('team-a-dev', { team: 'a', [TENANT_LABEL]: 'tenant-a' });
  const stripped = await mutated(review('UPDATE', ns('team-a-dev', { team: 'a' }), before));
  t.equal(stripped.labels?.[TENANT_LABEL], 'tenant-a', 'stripped');
  const changed = await mutated(review('UPDATE', ns('team-a-dev', { team: 'a', [TENANT_LABEL]: 'tenant-b' }), before));
  t.equal(changed.labels?.[TENANT_LABEL], 'tenant-a', 'pointed at another Tenant');
  const emptied = await mutated(review('UPDATE', ns('team-a-dev'), before));
  t.notOk(emptied.patched, 'no selector label left: the namespace left the Tenant and its label goes with it');
});

t.test('an UPDATE adding the selector label moves the namespace into the Tenant at once', async (t) => {
  const r = await mutated(review('UPDATE', ns('scratch', { team: 'a' }), ns('scratch')));
  t.equal(r.labels?.[TENANT_LABEL], 'tenant-a');
});

t.test('mutation is idempotent under reinvocation', async (t) => {
  for (const object of [ns('team-a-dev', { team: 'a' }), ns('billing'), ns('scratch', { [TENANT_LABEL]: 'x' })]) {
    const first = await engine().review(review('CREATE', object), 'mutate');
    const once = fjp.applyPatch(structuredClone(object), first.patch as fjp.Operation[]).newDocument as KubeObject;
    const second = await engine().review(review('CREATE', once), 'mutate');
    t.equal(second.patch, undefined, `${object.metadata!.name}: no patch the second time`);
  }
});

t.test('a namespace being deleted is left alone', async (t) => {
  const terminating = ns('team-a-dev', { team: 'a' });
  terminating.metadata!.deletionTimestamp = '2026-01-01T00:00:00Z';
  t.notOk((await mutated(review('UPDATE', terminating, terminating))).patched);
});
