// `tenantguard replay` end to end in-process: exit codes, the table and the JSON output, on good
// and bad inputs. Uses the small test modules so the assertions pin down replay itself.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ReplayResult, ReplaySummary } from '../server/replay/report.js';
import { fixture, replay } from './fixtures/replay/run.js';

const STATE = ['--state', fixture('state')];
const expect = (dir: string): string[] => ['--expect', fixture(`${dir}/expectations.yaml`), fixture(dir)];

interface JsonOut {
  results: ReplayResult[];
  summary: ReplaySummary;
}

function rowOf(table: string, fixtureName: string): string {
  const row = table.split('\n').find((l) => l.startsWith(`${fixtureName} `));
  if (!row) throw new Error(`no row for ${fixtureName} in:\n${table}`);
  return row;
}

t.test('every expectation met: exit 0, one PASS row per review, summary line', async (t) => {
  const r = await replay([...STATE, ...expect('all-pass')]);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  t.match(lines[0], /^FIXTURE\s+KIND\s+OPERATION\s+EXPECTED\s+ACTUAL\s+RESULT\s+DETAIL$/);
  t.match(rowOf(r.stdout, 'privileged-pod-denied.yaml'), /Pod\s+CREATE\s+deny\s+deny \(patched\)\s+PASS/);
  t.match(rowOf(r.stdout, 'pod-without-team-label-warns.json'), /allow\s+allow \(patched, 1 warning\)\s+PASS/);
  t.match(rowOf(r.stdout, 'reviews-exempt-and-audited.yaml#0'), /PASS/, 'a multi-review file is addressed per index');
  t.match(rowOf(r.stdout, 'reviews-exempt-and-audited.yaml#1'), /PASS/);
  t.ok(r.stdout.endsWith('\n5 passed, 0 failed\n'));
});

t.test('JSON output carries the decision of every review and the summary', async (t) => {
  const r = await replay([...STATE, '--output', 'json', ...expect('all-pass')]);
  t.equal(r.code, 0);
  const out = JSON.parse(r.stdout) as JsonOut;
  t.same(out.summary, { passed: 5, failed: 0, total: 5 });
  const plain = out.results.find((x) => x.fixture === 'plain-pod-allowed-and-stamped.yaml')!;
  t.match(plain, { kind: 'Pod', operation: 'CREATE', namespace: 'default', name: 'plain', passed: true, mismatches: [] });
  t.match(plain.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a wrapped manifest gets a UUID-shaped uid');
  t.same(plain.outcome?.patch, [{ op: 'add', path: '/metadata/labels/replay.example~1stamped', value: 'yes' }]);
  const denied = out.results.find((x) => x.fixture === 'privileged-pod-denied.yaml')!;
  t.equal(denied.outcome?.allowed, false);
  t.equal(denied.outcome?.code, 403);
  t.equal(denied.outcome?.message, '[no-privileged] spec.containers[1].securityContext.privileged: must not be true');
  const review = out.results.find((x) => x.fixture === 'reviews-exempt-and-audited.yaml#0')!;
  t.equal(review.uid, '6d1c3f0e-1111-4111-8111-000000000001', 'an AdmissionReview keeps its own uid');

  const again = JSON.parse((await replay([...STATE, '--output', 'json', ...expect('all-pass')])).stdout) as JsonOut;
  t.equal(again.results.find((x) => x.fixture === plain.fixture)!.uid, plain.uid, 'uids are deterministic across runs');
});

t.test('a mismatch: exit 1, FAIL rows name the first difference, JSON lists every difference', async (t) => {
  const r = await replay([...STATE, ...expect('mismatch')]);
  t.equal(r.code, 1);
  t.match(
    rowOf(r.stdout, 'privileged-pod-expected-allowed.yaml'),
    /allow\s+deny \(patched\)\s+FAIL\s+expected allowed, was denied: \[no-privileged\] spec\.containers\[0\]/,
  );
  t.match(rowOf(r.stdout, 'labelled-pod-expected-warning.yaml'), /FAIL\s+no warning contains "metadata.labels.team"; warnings: \[\]/);
  t.ok(r.stdout.endsWith('\n0 passed, 2 failed\n'));

  const out = JSON.parse((await replay([...STATE, '--output', 'json', ...expect('mismatch')])).stdout) as JsonOut;
  t.same(out.summary, { passed: 0, failed: 2, total: 2 });
  t.same(out.results.find((x) => x.fixture === 'labelled-pod-expected-warning.yaml')!.mismatches, [
    'no warning contains "metadata.labels.team"; warnings: []',
    'patched object metadata.labels.replay.example/stamped: expected "no", got "yes"',
  ]);
});

t.test('fixtures without an expectation are reported with their decision and pass', async (t) => {
  const r = await replay([...STATE, fixture('all-pass')]);
  t.equal(r.code, 0, 'the expectations.yaml inside the directory is not taken for a fixture');
  t.match(rowOf(r.stdout, 'test/fixtures/replay/all-pass/privileged-pod-denied.yaml'), /\(none\)\s+deny \(patched\)\s+PASS\s+no expectation: \[no-privileged\]/);
  t.match(rowOf(r.stdout, 'test/fixtures/replay/all-pass/plain-pod-allowed-and-stamped.yaml'), /\(none\)\s+allow \(patched\)\s+PASS\s+no expectation$/);
  t.ok(r.stdout.endsWith('\n5 passed, 0 failed\n'));
});

t.test('an expectation whose fixture is missing fails, unless the fixture is outside the inputs', async (t) => {
  const r = await replay([...STATE, '--output', 'json', ...expect('expectation-without-fixture')]);
  t.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as JsonOut;
  t.same(
    out.results.map((x) => [x.fixture, x.passed, x.mismatches[0]]),
    [
      ['present.yaml', true, undefined],
      ['present.yaml#3', false, 'present.yaml holds 1 review(s); #3 does not exist'],
      ['renamed-away.yaml', false, 'no review found in renamed-away.yaml (the file is missing or empty)'],
    ],
  );
  const one = await replay([...STATE, '--output', 'json', '--expect', fixture('expectation-without-fixture/expectations.yaml'), fixture('expectation-without-fixture/present.yaml')]);
  t.same(
    (JSON.parse(one.stdout) as JsonOut).results.map((x) => x.fixture),
    ['present.yaml', 'present.yaml#3'],
    'replaying one file does not report expectations for the other files',
  );
});

t.test('--old turns a manifest into an UPDATE that carries the old object', async (t) => {
  const file = fixture('update/web-image-bump-keeps-existing-privilege.yaml');
  const update = await replay([...STATE, '--output', 'json', '--old', fixture('update/old/web.yaml'), '--expect', fixture('update/expectations.yaml'), file]);
  t.equal(update.code, 0, update.stdout);
  t.match((JSON.parse(update.stdout) as JsonOut).results[0], { operation: 'UPDATE', passed: true, outcome: { allowed: true } });
  const create = await replay([...STATE, '--expect', fixture('update/expectations.yaml'), file]);
  t.equal(create.code, 1, 'without --old the same manifest is a CREATE of a privileged pod');
  t.match(create.stdout, /CREATE\s+allow\s+deny/);
  const stray = await replay([...STATE, '--old', fixture('update/old/web.yaml'), fixture('all-pass/plain-pod-allowed-and-stamped.yaml')]);
  t.equal(stray.code, 2);
  t.match(stray.stderr, /--old: v1\/Pod team-a\/web matches no input manifest/);
});

t.test('--phase runs one webhook only', async (t) => {
  const file = fixture('all-pass/privileged-pod-denied.yaml');
  const mutate = JSON.parse((await replay([...STATE, '--phase', 'mutate', '--output', 'json', file])).stdout) as JsonOut;
  t.match(mutate.results[0]!.outcome, { allowed: true, patch: [{ op: 'add' }] }, 'mutate only: validators do not run');
  const validate = JSON.parse((await replay([...STATE, '--phase', 'validate', '--output', 'json', file])).stdout) as JsonOut;
  t.equal(validate.results[0]!.outcome?.allowed, false);
  t.equal(validate.results[0]!.outcome?.patch, undefined, 'validate only: no mutation');
});

t.test('--config and --user: exemptions come from the server config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'replay-config-'));
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'exemptions:\n  usernames: [ci-bot]\n  namespaces: [kube-system]\n  groups: []\n');
  const file = fixture('all-pass/privileged-pod-denied.yaml');
  const exempt = JSON.parse((await replay([...STATE, '--config', config, '--user', 'ci-bot', '--output', 'json', file])).stdout) as JsonOut;
  t.match(exempt.results[0]!.outcome, { allowed: true, auditAnnotations: { 'tenantguard.io/exempt': 'user ci-bot' } });
  const other = JSON.parse((await replay([...STATE, '--config', config, '--output', 'json', file])).stdout) as JsonOut;
  t.equal(other.results[0]!.outcome?.allowed, false, 'replay-user is not exempt');
  await writeFile(config, 'exemptions:\n  usernames: 3\n');
  const bad = await replay([...STATE, '--config', config, file]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /invalid config .*config\.yaml:\n  exemptions\.usernames/);
});

t.test('unusable input: exit 2 with a message that names the problem', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['invalid YAML', [fixture('unusable/invalid-yaml.yaml')], /unusable\/invalid-yaml\.yaml: invalid YAML\/JSON: /],
    ['not a Kubernetes object', [fixture('unusable/not-a-kubernetes-object.yaml')], /not-a-kubernetes-object\.yaml: document 0 is not a Kubernetes object/],
    ['AdmissionReview without uid', [fixture('unusable/review-missing-uid.yaml')], /review-missing-uid\.yaml: review 0: request\.uid: is required/],
    ['unreadable file', [fixture('unusable/does-not-exist.yaml')], /cannot read .*does-not-exist\.yaml: ENOENT/],
    [
      'expectations that fail the schema',
      ['--expect', fixture('unusable/expectations-bad-schema.yaml'), fixture('all-pass')],
      /invalid expectations:\n {2}"\.\.\/all-pass\/privileged-pod-denied\.yaml": unknown field "message"\n {2}"\.\.\/all-pass\/privileged-pod-denied\.yaml"\.allowed: must be boolean/,
    ],
    ['missing state directory', ['--state', fixture('no-such-state'), fixture('all-pass')], /cannot read state directory .*no-such-state/],
    ['unknown flag', ['--bogus', fixture('all-pass')], /Unknown option '--bogus'/],
    ['bad --output', ['--output', 'xml', fixture('all-pass')], /--output must be table or json, got xml/],
    ['bad --phase', ['--phase', 'admit', fixture('all-pass')], /--phase must be one of both, mutate, validate, got admit/],
    ['no inputs', [], /no fixtures given/],
    ['--server without --ca', ['--server', 'https://127.0.0.1:1', fixture('all-pass')], /--server needs --ca FILE/],
    ['--server over http', ['--server', 'http://127.0.0.1:1', '--ca', 'x', fixture('all-pass')], /must be an https:\/\/ URL/],
  ];
  for (const [name, args, message] of cases) {
    const r = await replay(name === 'missing state directory' ? args : [...STATE, ...args]);
    t.equal(r.code, 2, name);
    t.match(r.stderr, message, name);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
  }
});

t.test('--help prints the usage and exits 0', async (t) => {
  const r = await replay(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Usage: tenantguard replay/);
});
