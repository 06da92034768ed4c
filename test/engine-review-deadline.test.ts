// One deadline per review (SPEC 5, issue 21): each module's budget is its own timeoutMs or what is
// left of the review's deadline, so two modules of 1 s each cannot together run past a 600 ms
// deadline; a module that starts after the deadline passed does not run and its failure mode
// answers; the deadline counts from the request's arrival, not from the engine's start.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import type { AdmissionRequest, PolicyModule } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const request: AdmissionRequest = {
  uid: 'uid-deadline',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'team-a',
  operation: 'CREATE',
  userInfo: { username: 'alice', groups: [] },
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } },
};

/** A validate module that answers after `ms` (an API call, say), and records whether it ran. */
function takes(name: string, ms: number, ran: string[]): PolicyModule {
  return {
    name,
    type: 'validate',
    evaluate: () => {
      ran.push(name);
      return new Promise((resolve) => setTimeout(() => resolve({}), ms));
    },
  };
}

function engine(modules: PolicyModule[], failureMode: 'fail' | 'ignore', deadlines?: EngineConfig['reviewDeadlineMs']): PolicyEngine {
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: Object.fromEntries(modules.map((m) => [m.name, { failureMode, timeoutMs: 1000, enabled: true }])),
    settings: { kubevirtServiceAccounts: [] },
    ...(deadlines ? { reviewDeadlineMs: deadlines } : {}),
  };
  const view = new SnapshotView({});
  return new PolicyEngine(modules, config, { view, ledger: new MemoryLedger(view) });
}

t.test('the second module gets only what the first left of the deadline, and its failure mode answers in time', async (t) => {
  const ran: string[] = [];
  // Margins wide enough for a loaded CI machine: the first module ends long before the deadline.
  const e = engine([takes('first', 100, ran), takes('second', 2000, ran)], 'fail', { mutate: 100, validate: 600 });
  const started = performance.now();
  const d = await e.review(request, 'validate');
  const took = performance.now() - started;
  t.equal(d.allowed, false, 'failure mode fail denies');
  t.match(d.status?.message, /\[second\] policy failed \(failure mode fail\): policy second exceeded its time budget of \d+ms \(what was left of the review's 600ms deadline\)/);
  t.same(d.modules.map((m) => m.result), ['allow', 'error']);
  t.ok(took < 1000, `answered near the 600 ms deadline, not after 1 s + 1 s (${took.toFixed(0)} ms)`);
});

t.test('a module that would start after the deadline does not run; ignore allows with a warning', async (t) => {
  const ran: string[] = [];
  const e = engine([takes('first', 120, ran), takes('second', 10, ran)], 'ignore', { mutate: 100, validate: 100 });
  const d = await e.review(request, 'validate');
  t.same(ran, ['first'], 'the second module never ran');
  t.equal(d.allowed, true);
  t.same(d.warnings, ['[first] policy failed and was skipped (failure mode ignore)', '[second] policy failed and was skipped (failure mode ignore)']);
  t.match(d.auditAnnotations['tenantguard.io/second'], /error: policy second did not run: the review's 100ms deadline had passed/);
});

t.test('the deadline counts from the request\'s arrival', async (t) => {
  const ran: string[] = [];
  const e = engine([takes('only', 50, ran)], 'fail', { mutate: 100, validate: 300 });
  const d = await e.review(request, 'validate', performance.now() - 280);
  t.equal(d.allowed, false, '280 ms already spent reading the request leave 20 ms for a 50 ms module');
  t.match(d.status?.message, /what was left of the review's 300ms deadline/);
  t.equal((await e.review(request, 'validate')).allowed, true, 'the same module fits a fresh request');
});

t.test('each webhook has its own deadline; without one only the modules\' budgets apply', async (t) => {
  const ran: string[] = [];
  const mutator: PolicyModule = { name: 'slow-mutate', type: 'mutate', evaluate: () => new Promise((resolve) => setTimeout(() => resolve({}), 80)) };
  const e = engine([mutator, takes('v', 80, ran)], 'fail', { mutate: 50, validate: 500 });
  t.equal((await e.review(request, 'mutate')).allowed, false, 'mutate: 80 ms is past its 50 ms deadline');
  t.equal((await e.review(request, 'validate')).allowed, true, 'validate: 80 ms fits its 500 ms deadline');
  t.equal((await engine([takes('v', 80, ran)], 'fail').review(request, 'validate')).allowed, true, 'no deadline configured');
});

t.test('the commit step (quota reservation) also gets only what is left', async (t) => {
  let aborted = false;
  const quota: PolicyModule = {
    name: 'quota',
    type: 'validate',
    evaluate: () => ({
      commit: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve([])))),
    }),
  };
  const ran: string[] = [];
  const started = performance.now();
  const d = await engine([takes('first', 60, ran), quota], 'fail', { mutate: 100, validate: 300 }).review(request, 'validate');
  t.equal(d.allowed, false);
  t.match(d.status?.message, /\[quota\] policy failed .*what was left of the review's 300ms deadline/);
  t.ok(aborted, 'the reservation is told to stop');
  t.ok(performance.now() - started < 800, 'answered near the deadline, not after the module\'s 1 s');
});
