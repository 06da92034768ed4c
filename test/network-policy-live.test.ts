// A miss against a possibly stale cache is confirmed with a live list before anything is denied.
import t from 'tap';
import { PolicyEngine, type EngineConfig, type ModulePolicy } from '../policies/engine.js';
import { LIVE_LIST_TIMEOUT_MS, networkPolicy } from '../policies/network-policy.js';
import type { AdmissionRequest, KubeObject, PolicyInput, ViewKind } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';

interface LiveCall {
  kind: ViewKind;
  namespace: string;
  signal: AbortSignal;
}

/** A cached view whose authoritative list answers from `live`. */
class StaleCacheView extends SnapshotView {
  readonly calls: LiveCall[] = [];
  constructor(private readonly live: (call: LiveCall) => Promise<KubeObject[]>) {
    super({ networkPolicy: { mode: 'enforce' } });
  }
  listLive(kind: ViewKind, namespace: string, signal: AbortSignal): Promise<KubeObject[]> {
    const call = { kind, namespace, signal };
    this.calls.push(call);
    return this.live(call);
  }
}

function engine(view: SnapshotView, policy: Partial<ModulePolicy> = {}) {
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'network-policy': { failureMode: 'fail', timeoutMs: 2000, enabled: true, ...policy } },
    settings: { kubevirtServiceAccounts: [] },
  };
  return new PolicyEngine([networkPolicy], config, { view, ledger: new MemoryLedger(view) });
}

const webPolicy: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'web', namespace: NS },
  spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
};

const request: AdmissionRequest = {
  uid: 'uid-live',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: NS,
  operation: 'CREATE',
  userInfo: { username: 'alice' },
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: NS, labels: { app: 'web' } }, spec: { containers: [] } },
};

t.test('a policy the cache lacks but the live list has: allowed, and the confirmation is recorded', async (t) => {
  const view = new StaleCacheView(async () => [webPolicy]);
  const d = await engine(view).review(request, 'validate');
  t.equal(d.allowed, true);
  t.equal(view.calls.length, 1);
  t.same({ kind: view.calls[0]!.kind, namespace: view.calls[0]!.namespace }, { kind: 'NetworkPolicy', namespace: NS });
  t.equal(view.calls[0]!.signal.aborted, false, 'the call gets a live (not yet aborted) signal');
  t.match(d.auditAnnotations['tenantguard.io/network-policy'], /confirmed by a live list/);
});

t.test('a miss the live list confirms is denied', async (t) => {
  const view = new StaleCacheView(async () => []);
  const d = await engine(view).review(request, 'validate');
  t.equal(d.allowed, false);
  t.match(d.status?.message, /^\[network-policy\] no NetworkPolicy in namespace "team-a" selects pods with labels \{app=web\} for Ingress/);
});

t.test('a cache hit decides synchronously without a live call', async (t) => {
  const view = new StaleCacheView(async () => {
    throw new Error('must not be called');
  });
  view.add(webPolicy);
  const input: PolicyInput = {
    request,
    object: request.object!,
    oldObject: undefined,
    tenant: view.tenantOf(NS),
    view,
    settings: { kubevirtServiceAccounts: [] },
    ledger: new MemoryLedger(view),
  };
  const result = networkPolicy.evaluate(input);
  t.notOk(result instanceof Promise, 'evaluate is sync on a hit');
  t.same(result, {});
  t.equal(view.calls.length, 0);
});

t.test('a failing live list is a policy failure, decided by the failure mode', async (t) => {
  const failing = () => new StaleCacheView(async () => Promise.reject(new Error('connection refused')));
  const denied = await engine(failing(), { failureMode: 'fail' }).review(request, 'validate');
  t.equal(denied.allowed, false);
  t.equal(
    denied.status?.message,
    '[network-policy] policy failed (failure mode fail): cannot confirm NetworkPolicy coverage: live list of NetworkPolicies in namespace "team-a" failed: connection refused',
  );
  const ignored = await engine(failing(), { failureMode: 'ignore' }).review(request, 'validate');
  t.equal(ignored.allowed, true);
  t.same(ignored.warnings, ['[network-policy] policy failed and was skipped (failure mode ignore)']);
  t.equal(ignored.modules[0]?.result, 'error');
});

t.test('a live list that never answers is cut off by the module\'s own bound, even if it ignores the signal', async (t) => {
  const view = new StaleCacheView(() => new Promise<KubeObject[]>(() => {}));
  const started = performance.now();
  const d = await engine(view, { timeoutMs: 5000 }).review(request, 'validate');
  const elapsed = performance.now() - started;
  t.equal(d.allowed, false);
  t.match(d.status?.message, new RegExp(`live list of NetworkPolicies in namespace "team-a" failed: no answer within ${LIVE_LIST_TIMEOUT_MS}ms`));
  t.ok(elapsed >= LIVE_LIST_TIMEOUT_MS - 50 && elapsed < 5000, `gave up after ${Math.round(elapsed)}ms, well before the engine's 5s budget`);
  t.equal(view.calls[0]!.signal.aborted, true, 'the signal handed to the lister fired');
});
