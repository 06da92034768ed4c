// tenantguard's Pod Security check table against Pod Security Admission's own registry, as recorded
// in test/fixtures/pod-security/reference/versions.yaml (read from the reference source, cited
// there). When PSA adds a check revision, updating that file makes this test fail until the
// controls, the version history and `latest` catch up.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ALL_CHECKS, checksAt, MAX_POLICY_VERSION } from '../policies/pod-security/evaluator.js';
import { VERSION_HISTORY } from '../policies/pod-security/versions.js';

interface ReferenceCheck {
  level: 'baseline' | 'restricted';
  file: string;
  versions: number[];
  overrides?: string[];
}

const reference = parse(readFileSync(new URL('./fixtures/pod-security/reference/versions.yaml', import.meta.url), 'utf8')) as {
  source: string;
  checks: Record<string, ReferenceCheck>;
};

t.test('every reference check exists with the same level, revisions and overrides', async (t) => {
  const ours = Object.fromEntries(
    ALL_CHECKS.map((c) => {
      const overrides = [...new Set(c.versions.flatMap((v) => v.overrides ?? []))];
      return [c.id, { level: c.level, versions: c.versions.map((v) => v.minVersion), ...(overrides.length > 0 ? { overrides } : {}) }];
    }),
  );
  const theirs = Object.fromEntries(
    Object.entries(reference.checks).map(([id, c]) => [id, { level: c.level, versions: c.versions, ...(c.overrides ? { overrides: c.overrides } : {}) }]),
  );
  t.same(ours, theirs);
});

t.test('latest is the newest version the reference defines', async (t) => {
  const newest = Math.max(...Object.values(reference.checks).flatMap((c) => c.versions));
  t.equal(MAX_POLICY_VERSION, newest, `latest is v1.${newest}`);
  t.same(checksAt('baseline', Infinity), checksAt('baseline', newest), 'latest evaluates as the newest version');
});

t.test('the version history (the README table) lists every revision after v1.0 the reference has', async (t) => {
  const revisions = Object.values(reference.checks).flatMap((c) => c.versions.filter((v) => v > 0).map((v) => `v1.${v} ${c.level}`));
  t.same(VERSION_HISTORY.map((h) => `${h.version} ${h.level}`).sort(), revisions.sort());
});
