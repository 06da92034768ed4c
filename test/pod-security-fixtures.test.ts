// Replays every Pod Security fixture through the engine (SnapshotView holding the Namespace and a
// Tenant at the fixture's level, enforce mode) and checks the decision and every finding message.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { PolicyEngine } from '../policies/engine.js';
import { podSecurityModule } from '../policies/pod-security/module.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { FIXTURE_DIR, loadFixtures, NAMESPACE, type Expectation } from './fixtures/pod-security/load.js';

function engineFor(expect: Expectation): PolicyEngine {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  view.add({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: {
      namespaces: [NAMESPACE],
      podSecurity: { level: expect.level, mode: 'enforce', ...(expect.version ? { version: expect.version } : {}) },
    },
  });
  return new PolicyEngine(
    [podSecurityModule],
    { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [] } },
    { view, ledger: new MemoryLedger(view) },
  );
}

const fixtures = loadFixtures();

t.test('every fixture file has an expectations entry', async (t) => {
  const files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.yaml') && f !== 'expectations.yaml');
  t.same(files.sort(), fixtures.map((f) => f.file).sort());
});

for (const { file, request, expect } of fixtures) {
  t.test(file, async (t) => {
    const decision = await engineFor(expect).review(request, 'validate');
    const outcome = decision.modules.find((m) => m.module === 'pod-security');
    t.ok(outcome, 'pod-security ran');
    t.notOk(outcome!.error, 'pod-security did not fail');
    t.equal(decision.allowed, expect.allowed, 'decision');
    const enforced = outcome!.findings.filter((f) => f.mode === 'enforce');
    t.same(enforced.map((f) => f.message), expect.messages, 'enforce findings');
    t.same(
      outcome!.findings.filter((f) => f.mode === 'warn').map((f) => f.message),
      expect.warnings ?? [],
      'warn findings',
    );
    for (const f of enforced) {
      t.match(f.message, new RegExp(`^${f.rule.replace(/[/()]/g, '\\$&')}: `), 'the message starts with its control');
      t.ok(decision.status?.message.includes(f.message), `the denial lists ${f.rule}`);
    }
  });
}
