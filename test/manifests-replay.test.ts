// tenantguard's own Deployment replays clean through `tenantguard replay`: admitted, no warnings,
// no patch, in a namespace held to the restricted Pod Security Standard.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { runReplay } from '../server/commands/replay.js';
import { MANIFESTS_DIR, readOne } from './helpers/manifests.js';

const FIXTURES = join(MANIFESTS_DIR, '../test/fixtures/manifests');
const DEPLOYMENT = join(MANIFESTS_DIR, 'base/deployment.yaml');

interface ReplayJson {
  results: Array<{ fixture: string; kind: string; passed: boolean; mismatches: string[]; outcome?: { allowed: boolean; warnings: string[]; patch?: unknown[] } }>;
  summary: { passed: number; failed: number; total: number };
}

async function replay(expectations: string, file: string, extra: string[] = []): Promise<{ code: number; out: ReplayJson; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await runReplay(
    ['--config', join(FIXTURES, 'config.yaml'), '--state', join(FIXTURES, 'state'), '--expect', expectations, '--output', 'json', ...extra, file],
    io,
  );
  return { code, out: JSON.parse(stdout) as ReplayJson, stderr };
}

t.test('replay of manifests/base/deployment.yaml: allowed, no warnings, no patch', async (t) => {
  const { code, out, stderr } = await replay(join(FIXTURES, 'expectations.yaml'), DEPLOYMENT);
  t.equal(stderr, '');
  t.same(out.summary, { passed: 1, failed: 0, total: 1 });
  const [result] = out.results;
  t.equal(result!.kind, 'Deployment');
  t.same(result!.mismatches, []);
  t.equal(result!.outcome?.allowed, true);
  t.same(result!.outcome?.warnings, []);
  t.equal(result!.outcome?.patch, undefined, 'secure-defaults has nothing to add');
  t.equal(code, 0);
});

t.test('control: a Deployment without its container hardening, judged without mutation, replays with pod-security warnings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tenantguard-manifests-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const weakened = readOne('base/deployment.yaml');
  delete weakened.spec.template.spec.containers[0].securityContext;
  await writeFile(join(dir, 'deployment.yaml'), stringify(weakened));
  await writeFile(join(dir, 'expectations.yaml'), stringify({ 'deployment.yaml': { allowed: true, warnings: [] } }));
  // Mutation would fill the missing defaults back in; the validating webhook alone must see them missing.
  const { code, out } = await replay(join(dir, 'expectations.yaml'), join(dir, 'deployment.yaml'), ['--phase', 'validate']);
  t.equal(code, 1, 'the expectation of no warnings fails');
  const warnings = out.results[0]!.outcome?.warnings ?? [];
  t.ok(warnings.some((w) => w.includes('[pod-security]') && w.includes('allowPrivilegeEscalation')), warnings.join(' | '));
});
