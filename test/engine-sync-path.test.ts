// The engine runs synchronous modules without promises when the review is not traced; these pin
// down that this path keeps every behaviour of the asynchronous one: time budgets, failure modes,
// module order, and the same decision whether or not the review is sampled.
import t from 'tap';
import { context } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { PolicyEngine, type Decision, type EngineConfig } from '../policies/engine.js';
import type { AdmissionRequest, PolicyModule } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { createTracing, reviewContext } from '../server/telemetry/tracing.js';

const config = (modules: EngineConfig['modules'] = {}): EngineConfig => ({
  exemptions: { namespaces: [], usernames: [], groups: [] },
  modules,
  settings: { kubevirtServiceAccounts: [] },
});

const request: AdmissionRequest = {
  uid: 'uid-sync',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'team-a',
  operation: 'CREATE',
  userInfo: { username: 'alice' },
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } },
};

const denySync: PolicyModule = {
  name: 'deny-sync',
  type: 'validate',
  evaluate: () => ({ findings: [{ mode: 'enforce', rule: 'r1', message: 'sync says no' }] }),
};
const warnAsync: PolicyModule = {
  name: 'warn-async',
  type: 'validate',
  evaluate: async () => ({ findings: [{ mode: 'warn', rule: 'r2', message: 'async warns' }] }),
};
const rejectAsync: PolicyModule = {
  name: 'reject-async',
  type: 'validate',
  evaluate: () => Promise.reject(new Error('lookup failed')),
};
const auditSync: PolicyModule = {
  name: 'audit-sync',
  type: 'validate',
  evaluate: () => ({ findings: [{ mode: 'audit', rule: 'r3', message: 'noted' }] }),
};
const mixed = [denySync, warnAsync, rejectAsync, auditSync];

function engineWith(modules: PolicyModule[], cfg = config()) {
  const view = new SnapshotView({});
  return new PolicyEngine(modules, cfg, { view, ledger: new MemoryLedger(view) });
}

/** The decision without timings, which differ from run to run. */
function comparable(d: Decision) {
  return { ...d, modules: d.modules.map(({ durationMs: _, ...rest }) => rest) };
}

t.test('a synchronous module that runs past its time budget follows its failure mode', async (t) => {
  const busy: PolicyModule = {
    name: 'busy',
    type: 'validate',
    evaluate: () => {
      const until = performance.now() + 20;
      while (performance.now() < until);
      return {};
    },
  };
  const failing = await engineWith([busy], config({ busy: { failureMode: 'fail', timeoutMs: 5, enabled: true } })).review(request, 'validate');
  t.equal(failing.allowed, false);
  t.match(failing.status?.message, /\[busy\] policy failed \(failure mode fail\): policy busy exceeded its time budget of 5ms/);
  const ignoring = await engineWith([busy], config({ busy: { failureMode: 'ignore', timeoutMs: 5, enabled: true } })).review(request, 'validate');
  t.equal(ignoring.allowed, true);
  t.same(ignoring.warnings, ['[busy] policy failed and was skipped (failure mode ignore)']);
  t.equal(ignoring.modules[0]?.result, 'error');
});

t.test('synchronous and asynchronous modules keep their order and all count in the decision', async (t) => {
  const d = await engineWith(mixed).review(request, 'validate');
  t.same(d.modules.map((m) => `${m.module}:${m.result}`), ['deny-sync:deny', 'warn-async:warn', 'reject-async:error', 'audit-sync:audit']);
  t.equal(d.allowed, false);
  t.equal(d.status?.message, '[deny-sync] sync says no');
  t.same(d.warnings, ['[warn-async] async warns', '[reject-async] policy failed and was skipped (failure mode ignore)']);
  t.same(d.auditAnnotations, { 'tenantguard.io/reject-async': 'error: lookup failed', 'tenantguard.io/audit-sync': 'noted' });
});

t.test('a sampled review gets the same decision as an unsampled one, plus one span per module', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'engine-sync-test', exporter, env: {} });
  t.teardown(() => tracing.shutdown());
  const view = new SnapshotView({});
  const engine = new PolicyEngine(mixed, config(), { view, ledger: new MemoryLedger(view), tracer: tracing.tracer });

  const unsampled = await engine.review(request, 'validate');
  t.equal(exporter.getFinishedSpans().length, 0, 'an unsampled review makes no module spans');

  const span = tracing.tracer.startSpan('admission validate');
  const sampled = await context.with(reviewContext(span), () => engine.review(request, 'validate'));
  span.end();
  t.same(comparable(sampled), comparable(unsampled));
  const names = exporter.getFinishedSpans().map((s) => s.name).filter((n) => n.startsWith('policy '));
  t.same(names, ['policy deny-sync', 'policy warn-async', 'policy reject-async', 'policy audit-sync']);
});
