import t from 'tap';
import fjp from 'fast-json-patch';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import type { AdmissionRequest, KubeObject, PolicyModule } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';

const config = (over: Partial<EngineConfig> = {}): EngineConfig => ({
  exemptions: { namespaces: ['kube-system'], usernames: ['system:admin-bot'], groups: ['breakglass'] },
  modules: {},
  settings: { kubevirtServiceAccounts: [] },
  ...over,
});

function podReview(object: KubeObject, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'alice', groups: ['devs'] },
    object,
    ...over,
  };
}

const pod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'team-a', annotations: { 'example.com/a~b': 'x' } },
  spec: { containers: [{ name: 'app', image: 'nginx' }] },
});

function engineWith(modules: PolicyModule[], cfg = config()) {
  const view = new SnapshotView({});
  return new PolicyEngine(modules, cfg, { view, ledger: new MemoryLedger(view) });
}

t.test('mutators see earlier patches and the combined patch reproduces the final object', async (t) => {
  const addLabel: PolicyModule = {
    name: 'add-label',
    type: 'mutate',
    evaluate: () => ({ patch: [{ op: 'add', path: '/metadata/labels', value: { 'tenantguard.io/seen': 'yes' } }] }),
  };
  const seesLabel: PolicyModule = {
    name: 'sees-label',
    type: 'mutate',
    evaluate: ({ object }) =>
      object?.metadata?.labels?.['tenantguard.io/seen'] === 'yes'
        ? { patch: [{ op: 'add', path: '/metadata/annotations/tenantguard.io~1checked', value: 'true' }] }
        : {},
  };
  const original = pod();
  const d = await engineWith([addLabel, seesLabel]).review(podReview(original), 'mutate');
  t.equal(d.allowed, true);
  t.ok(d.patch, 'a patch is returned');
  const applied = fjp.applyPatch(structuredClone(original), d.patch as fjp.Operation[]).newDocument;
  t.same(applied.metadata?.labels, { 'tenantguard.io/seen': 'yes' });
  t.same(applied.metadata?.annotations, { 'example.com/a~b': 'x', 'tenantguard.io/checked': 'true' });
  t.ok(d.patch!.some((op) => op.path === '/metadata/annotations/tenantguard.io~1checked'), 'RFC 6901 escapes "/" as ~1');
  t.same(original.metadata?.labels, undefined, 'the request object is not modified');
});

t.test('no patch when mutators change nothing', async (t) => {
  const noop: PolicyModule = { name: 'noop', type: 'mutate', evaluate: () => ({ patch: [] }) };
  const d = await engineWith([noop]).review(podReview(pod()), 'mutate');
  t.equal(d.patch, undefined);
});

t.test('modes: enforce denies listing every rule, warn warns, audit annotates', async (t) => {
  const v: PolicyModule = {
    name: 'rules',
    type: 'validate',
    evaluate: () => ({
      findings: [
        { mode: 'enforce', rule: 'a', message: 'spec.hostNetwork: must be false' },
        { mode: 'enforce', rule: 'b', message: 'spec.containers[0].securityContext.privileged: must be false' },
        { mode: 'warn', rule: 'c', message: 'consider a NetworkPolicy' },
        { mode: 'audit', rule: 'd', message: 'would violate restricted' },
      ],
    }),
  };
  const d = await engineWith([v]).review(podReview(pod()), 'validate');
  t.equal(d.allowed, false);
  t.equal(d.status?.code, 403);
  t.match(d.status?.message, /\[rules\] spec\.hostNetwork: must be false; \[rules\] spec\.containers\[0\]/);
  t.same(d.warnings, ['[rules] consider a NetworkPolicy']);
  t.same(d.auditAnnotations, { 'tenantguard.io/rules': 'would violate restricted' });
  t.equal(d.modules[0]?.result, 'deny');
});

t.test('warnings are single lines under 120 characters', async (t) => {
  const v: PolicyModule = {
    name: 'long',
    type: 'validate',
    evaluate: () => ({ findings: [{ mode: 'warn', rule: 'x', message: `line one\nline two ${'y'.repeat(300)}` }] }),
  };
  const d = await engineWith([v]).review(podReview(pod()), 'validate');
  t.equal(d.warnings.length, 1);
  t.ok(d.warnings[0]!.length < 120, `length ${d.warnings[0]!.length}`);
  t.notMatch(d.warnings[0]!, /\n/);
});

t.test('exemptions come before any module and are recorded', async (t) => {
  let called = 0;
  const v: PolicyModule = {
    name: 'deny-all',
    type: 'validate',
    evaluate: () => {
      called++;
      return { findings: [{ mode: 'enforce', rule: 'x', message: 'no' }] };
    },
  };
  const engine = engineWith([v]);
  const byNs = await engine.review(podReview(pod(), { namespace: 'kube-system' }), 'validate');
  t.equal(byNs.allowed, true);
  t.same(byNs.auditAnnotations, { 'tenantguard.io/exempt': 'namespace kube-system' });
  const byUser = await engine.review(podReview(pod(), { userInfo: { username: 'system:admin-bot' } }), 'validate');
  t.same(byUser.auditAnnotations, { 'tenantguard.io/exempt': 'user system:admin-bot' });
  const byGroup = await engine.review(podReview(pod(), { userInfo: { username: 'bob', groups: ['x', 'breakglass'] } }), 'validate');
  t.same(byGroup.auditAnnotations, { 'tenantguard.io/exempt': 'group breakglass' });
  t.equal(called, 0);
  const masters = await engine.review(podReview(pod(), { userInfo: { username: 'root', groups: ['system:masters'] } }), 'validate');
  t.equal(masters.allowed, false, 'system:masters is not exempt unless configured');
});

t.test('a module that throws follows its failure mode', async (t) => {
  const boom: PolicyModule = {
    name: 'boom',
    type: 'validate',
    evaluate: () => {
      throw new Error('cannot parse quantity "12x"');
    },
  };
  const fail = await engineWith([boom], config({ modules: { boom: { failureMode: 'fail', timeoutMs: 100, enabled: true } } }))
    .review(podReview(pod()), 'validate');
  t.equal(fail.allowed, false);
  t.match(fail.status?.message, /\[boom\] policy failed \(failure mode fail\): cannot parse quantity "12x"/);
  const ignore = await engineWith([boom], config({ modules: { boom: { failureMode: 'ignore', timeoutMs: 100, enabled: true } } }))
    .review(podReview(pod()), 'validate');
  t.equal(ignore.allowed, true);
  t.match(ignore.warnings[0], /\[boom\] policy failed and was skipped/);
  t.match(ignore.auditAnnotations['tenantguard.io/boom'], /error: cannot parse quantity/);
  t.equal(ignore.modules[0]?.result, 'error');
});

t.test('an async module over its time budget follows its failure mode', async (t) => {
  let aborted = false;
  const slow: PolicyModule = {
    name: 'slow',
    type: 'validate',
    evaluate: () => new Promise((resolve) => setTimeout(() => resolve({}), 500)),
  };
  const slowCommit: PolicyModule = {
    name: 'slow-commit',
    type: 'validate',
    evaluate: () => ({
      commit: ({ signal }) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve([]);
          });
        }),
    }),
  };
  const d = await engineWith([slow], config({ modules: { slow: { failureMode: 'fail', timeoutMs: 30, enabled: true } } }))
    .review(podReview(pod()), 'validate');
  t.equal(d.allowed, false);
  t.match(d.status?.message, /exceeded its time budget of 30ms/);
  const c = await engineWith([slowCommit], config({ modules: { 'slow-commit': { failureMode: 'ignore', timeoutMs: 30, enabled: true } } }))
    .review(podReview(pod()), 'validate');
  t.equal(c.allowed, true);
  t.equal(aborted, true, 'the commit is told to stop through its AbortSignal');
});

t.test('commit runs only when every validator allowed, and sees dryRun', async (t) => {
  const seen: boolean[] = [];
  const quota: PolicyModule = {
    name: 'quota',
    type: 'validate',
    evaluate: () => ({
      commit: async ({ dryRun }) => {
        seen.push(dryRun);
        return [];
      },
    }),
  };
  const denier: PolicyModule = {
    name: 'denier',
    type: 'validate',
    evaluate: ({ object }) =>
      object?.metadata?.name === 'bad' ? { findings: [{ mode: 'enforce', rule: 'r', message: 'bad name' }] } : {},
  };
  const engine = engineWith([denier, quota]);
  await engine.review(podReview(pod()), 'validate');
  await engine.review(podReview(pod(), { dryRun: true }), 'validate');
  const bad = pod();
  bad.metadata!.name = 'bad';
  const denied = await engine.review(podReview(bad), 'validate');
  t.equal(denied.allowed, false);
  t.same(seen, [false, true], 'no commit for the denied request');
});

t.test('commit findings deny (quota exceeded at commit time)', async (t) => {
  const quota: PolicyModule = {
    name: 'tenant-quota',
    type: 'validate',
    evaluate: () => ({ commit: async () => [{ mode: 'enforce', rule: 'requests.cpu', message: 'exceeded quota' }] }),
  };
  const d = await engineWith([quota]).review(podReview(pod()), 'validate');
  t.equal(d.allowed, false);
  t.match(d.status?.message, /\[tenant-quota\] exceeded quota/);
});

t.test('disabled modules do not run', async (t) => {
  const v: PolicyModule = { name: 'off', type: 'validate', evaluate: () => ({ findings: [{ mode: 'enforce', rule: 'x', message: 'no' }] }) };
  const d = await engineWith([v], config({ modules: { off: { failureMode: 'fail', timeoutMs: 10, enabled: false } } }))
    .review(podReview(pod()), 'validate');
  t.equal(d.allowed, true);
  t.same(d.modules, []);
});

t.test('phase both runs validators on the mutated object', async (t) => {
  const m: PolicyModule = { name: 'm', type: 'mutate', evaluate: () => ({ patch: [{ op: 'add', path: '/spec/hostNetwork', value: false }] }) };
  const v: PolicyModule = {
    name: 'v',
    type: 'validate',
    evaluate: ({ object }) => (object?.spec?.hostNetwork === false ? {} : { findings: [{ mode: 'enforce', rule: 'x', message: 'unset' }] }),
  };
  const d = await engineWith([m, v]).review(podReview(pod()), 'both');
  t.equal(d.allowed, true);
  t.equal(d.patchedObject?.spec?.hostNetwork, false);
});
