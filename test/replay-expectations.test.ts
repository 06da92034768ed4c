// The expectations format: schema errors name the field, and each kind of expectation compares
// the way the README documents.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { expectationFor, loadExpectations, mismatches, partialMismatch, type ReviewOutcome } from '../server/replay/expectations.js';

const allowed = (over: Partial<ReviewOutcome> = {}): ReviewOutcome => ({ allowed: true, warnings: [], auditAnnotations: {}, ...over });
const denied = (message: string): ReviewOutcome => ({ allowed: false, code: 403, message, warnings: [], auditAnnotations: {} });

async function expectationsFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'replay-exp-'));
  const file = join(dir, 'expectations.yaml');
  await writeFile(file, text);
  return file;
}

t.test('keys resolve relative to the file; "#index" wins over the whole-file key', async (t) => {
  const file = await expectationsFile('pods/a.yaml: {allowed: true}\npods/a.yaml#1: {allowed: false}\n');
  const loaded = await loadExpectations(file);
  const a = join(loaded.base, 'pods', 'a.yaml');
  t.same(expectationFor(loaded, a, 0), { allowed: true });
  t.same(expectationFor(loaded, a, 1), { allowed: false });
  t.equal(expectationFor(loaded, join(loaded.base, 'b.yaml'), 0), undefined);
  t.equal(loaded.keyOf(a, 1), 'pods/a.yaml#1');
});

t.test('an empty file expects nothing', async (t) => {
  const loaded = await loadExpectations(await expectationsFile(''));
  t.equal(loaded.byFile.size, 0);
});

t.test('schema errors name the key and field', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['a.yaml: {allowed: yes please}\n', /"a\.yaml"\.allowed: must be boolean/],
    ['a.yaml: {patch: [{op: upsert, path: /x}]}\n', /"a\.yaml"\.patch\[0\]\.op: must be one of add, remove, replace, move, copy, test/],
    ['a.yaml: {patch: [{op: add, path: x}]}\n', /"a\.yaml"\.patch\[0\]\.path: must match pattern/],
    ['a.yaml: {warnings: [1]}\n', /"a\.yaml"\.warnings\[0\]: must be string/],
    ['a.yaml: {auditAnnotations: {k: [1]}}\n', /"a\.yaml"\.auditAnnotations\.k: must be string/],
    ['a.yaml#x: {allowed: true}\n', /key "a\.yaml#x": must be a fixture path, optionally followed by #<index>/],
    ['- a.yaml\n', /\(top level\): must be object/],
    ['a.yaml: {allowed: true\n', /invalid YAML/],
  ];
  for (const [text, message] of cases) {
    await t.rejects(loadExpectations(await expectationsFile(text)), message, text);
  }
});

t.test('allowed and messages', async (t) => {
  t.same(mismatches({ allowed: true }, allowed()), []);
  t.same(mismatches({ allowed: true }, denied('[p] no')), ['expected allowed, was denied: [p] no']);
  t.same(mismatches({ allowed: false }, allowed()), ['expected denied, was allowed']);
  t.same(mismatches({ messages: ['[p]', 'field.x'] }, denied('[p] field.x: bad')), []);
  t.same(mismatches({ messages: ['field.y'] }, denied('[p] field.x: bad')), ['denial message lacks "field.y": [p] field.x: bad']);
  t.same(mismatches({ messages: ['x'] }, allowed()), ['expected a denial message containing "x", but the request was allowed']);
});

t.test('warnings: each fragment matched by some warning; [] means none; absentWarnings forbids', async (t) => {
  const out = allowed({ warnings: ['[pod-security] would violate restricted', '[quota] 90% used'] });
  t.same(mismatches({ warnings: ['restricted', '90%'] }, out), []);
  t.same(mismatches({ warnings: ['baseline'] }, out), [`no warning contains "baseline"; warnings: ${JSON.stringify(out.warnings)}`]);
  t.same(mismatches({ warnings: [] }, allowed()), []);
  t.match(mismatches({ warnings: [] }, out), [/^expected no warnings, got /]);
  t.same(mismatches({ absentWarnings: ['[network-policy]'] }, out), []);
  t.same(mismatches({ absentWarnings: ['[pod-security]'] }, out), ['unexpected warning containing "[pod-security]": "[pod-security] would violate restricted"']);
});

t.test('patch: exact operations; [] means no patch', async (t) => {
  const patch = [{ op: 'add' as const, path: '/metadata/labels', value: { a: 'b' } }];
  t.same(mismatches({ patch }, allowed({ patch })), []);
  t.same(mismatches({ patch: [] }, allowed()), []);
  t.same(mismatches({ patch: [] }, allowed({ patch })), ['patch has 1 more operation(s) than expected: [{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]']);
  t.same(mismatches({ patch: [{ op: 'add', path: '/metadata/labels', value: { a: 'c' } }] }, allowed({ patch })), [
    'patch[0]: expected {"op":"add","path":"/metadata/labels","value":{"a":"c"}}, got {"op":"add","path":"/metadata/labels","value":{"a":"b"}}',
  ]);
  t.same(mismatches({ patch }, allowed()), ['patch[0]: expected {"op":"add","path":"/metadata/labels","value":{"a":"b"}}, got undefined']);
});

t.test('patched: deep-partial objects, exact-length lists, null for absent', async (t) => {
  const obj = { metadata: { name: 'p', labels: { a: '1' } }, spec: { containers: [{ name: 'c', securityContext: { runAsNonRoot: true } }] } };
  t.equal(partialMismatch({ metadata: { labels: { a: '1' } } }, obj, ''), undefined);
  t.equal(partialMismatch({ spec: { containers: [{ securityContext: { runAsNonRoot: true } }] } }, obj, ''), undefined);
  t.equal(partialMismatch({ spec: { containers: [{}, {}] } }, obj, ''), 'spec.containers: expected 2 items, got 1: [{"name":"c","securityContext":{"runAsNonRoot":true}}]');
  t.equal(partialMismatch({ metadata: { annotations: null } }, obj, ''), undefined);
  t.equal(partialMismatch({ metadata: { labels: null } }, obj, ''), 'metadata.labels: expected absent, got {"a":"1"}');
  t.equal(partialMismatch({ metadata: { labels: { a: 1 } } }, obj, ''), 'metadata.labels.a: expected 1, got "1"');
  t.same(mismatches({ patched: { metadata: { name: 'q' } } }, allowed({ patchedObject: obj })), ['patched object metadata.name: expected "q", got "p"']);
});

t.test('auditAnnotations: key -> fragment; {} means none', async (t) => {
  const out = allowed({ auditAnnotations: { 'tenantguard.io/pod-security': 'would violate restricted: Seccomp' } });
  t.same(mismatches({ auditAnnotations: { 'tenantguard.io/pod-security': 'Seccomp' } }, out), []);
  t.same(mismatches({ auditAnnotations: { 'tenantguard.io/pod-security': 'AppArmor' } }, out), [
    'audit annotation tenantguard.io/pod-security lacks "AppArmor": "would violate restricted: Seccomp"',
  ]);
  t.same(mismatches({ auditAnnotations: { 'tenantguard.io/exempt': 'x' } }, out), ['audit annotation tenantguard.io/exempt missing; have ["tenantguard.io/pod-security"]']);
  t.same(mismatches({ auditAnnotations: {} }, allowed()), []);
  t.match(mismatches({ auditAnnotations: {} }, out), [/^expected no audit annotations/]);
});
