// `tenantguard replay --server`: the same fixtures sent over HTTPS to a running webhook (the real
// Fastify app) give the same decisions as the in-process replay.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import type { ReplayResult } from '../server/replay/report.js';
import { filesIn, parseDocuments } from '../server/replay/inputs.js';
import { createTestPki, startFixture, type Fixture } from './helpers/https-fixture.js';
import { TEST_MODULES } from './fixtures/replay/policy-modules.js';
import { fixture, replay } from './fixtures/replay/run.js';

async function stateObjects(): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const file of await filesIn(fixture('state'))) out.push(...parseDocuments(await readFile(file, 'utf8'), file));
  return out;
}

async function webhook(t: { teardown(fn: () => Promise<void>): void }, mtls = false): Promise<{ server: Fixture; caFile: string; dir: string; close(): Promise<void> }> {
  const server = await startFixture({
    modules: [...TEST_MODULES],
    state: await stateObjects(),
    exemptions: { namespaces: ['kube-system'], usernames: [], groups: [] },
    mtls,
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= server.close());
  t.teardown(close);
  const dir = await mkdtemp(join(tmpdir(), 'replay-server-'));
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, server.ca);
  return { server, caFile, dir, close };
}

const results = (stdout: string): ReplayResult[] => (JSON.parse(stdout) as { results: ReplayResult[] }).results;
const ALL_PASS = ['--expect', fixture('all-pass/expectations.yaml'), fixture('all-pass')];

t.test('over HTTPS: mutate then validate, the same decisions as in-process', async (t) => {
  const { server, caFile } = await webhook(t);
  const remote = await replay(['--server', server.url, '--ca', caFile, '--output', 'json', ...ALL_PASS]);
  t.equal(remote.code, 0, remote.stdout + remote.stderr);
  const local = await replay(['--state', fixture('state'), '--output', 'json', ...ALL_PASS]);
  const strip = (r: ReplayResult[]) => r.map((x) => ({ fixture: x.fixture, uid: x.uid, passed: x.passed, outcome: x.outcome }));
  t.same(strip(results(remote.stdout)), strip(results(local.stdout)), 'allowed, message, warnings, patch, patched object, audit annotations');
  const denied = results(remote.stdout).find((x) => x.fixture === 'privileged-pod-denied.yaml')!;
  t.match(denied.outcome, { allowed: false, code: 403, patch: [{ op: 'add' }] }, 'the /mutate patch is kept when /validate denies');
  t.equal(server.logs.filter((l) => l.uid === denied.uid).length, 2, 'the server logged two reviews: /mutate and /validate');
});

t.test('over HTTPS: a mismatch exits 1 with the table', async (t) => {
  const { server, caFile } = await webhook(t);
  const r = await replay(['--server', server.url, '--ca', caFile, '--expect', fixture('mismatch/expectations.yaml'), fixture('mismatch')]);
  t.equal(r.code, 1);
  t.match(r.stdout, /privileged-pod-expected-allowed\.yaml\s+Pod\s+CREATE\s+allow\s+deny \(patched\)\s+FAIL\s+expected allowed, was denied: \[no-privileged\]/);
  t.ok(r.stdout.endsWith('\n0 passed, 2 failed\n'));
});

t.test('--phase validate sends only /validate', async (t) => {
  const { server, caFile } = await webhook(t);
  const r = await replay(['--server', server.url, '--ca', caFile, '--phase', 'validate', '--output', 'json', fixture('all-pass/plain-pod-allowed-and-stamped.yaml')]);
  t.equal(r.code, 0);
  t.equal(results(r.stdout)[0]!.outcome?.patch, undefined);
  t.equal(server.logs.filter((l) => l.uid === results(r.stdout)[0]!.uid).length, 1);
});

t.test('mutual TLS: a client certificate is needed, and --cert/--key provide it', async (t) => {
  const { server, caFile, dir } = await webhook(t, true);
  const file = fixture('all-pass/plain-pod-allowed-and-stamped.yaml');
  const refused = await replay(['--server', server.url, '--ca', caFile, file]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /cannot reach the webhook at https:\/\/127\.0\.0\.1:\d+\/mutate/);
  const client = await server.pki.issueClient('replay');
  await writeFile(join(dir, 'client.crt'), client.cert);
  await writeFile(join(dir, 'client.key'), client.key);
  const ok = await replay(['--server', server.url, '--ca', caFile, '--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key'), file]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /plain-pod-allowed-and-stamped\.yaml\s+Pod\s+CREATE\s+\(none\)\s+allow \(patched\)\s+PASS/);
});

t.test('a server that cannot be reached or is not trusted: exit 2', async (t) => {
  const { server, caFile, dir, close } = await webhook(t);
  const file = fixture('all-pass/plain-pod-allowed-and-stamped.yaml');
  const otherCa = join(dir, 'other-ca.crt');
  await writeFile(otherCa, (await createTestPki('another CA')).ca);
  const untrusted = await replay(['--server', server.url, '--ca', otherCa, file]);
  t.equal(untrusted.code, 2);
  t.match(untrusted.stderr, /cannot reach the webhook .*(self-signed|unable to verify|certificate)/i);
  await close();
  const down = await replay(['--server', server.url, '--ca', caFile, file]);
  t.equal(down.code, 2);
  t.match(down.stderr, /cannot reach the webhook .*ECONNREFUSED/);
});
