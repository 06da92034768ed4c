// The shipped examples (test/fixtures/examples/) replay against the embedded state with the real
// policy modules, in-process and against `tenantguard serve`, with the same verdicts.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { MODULES } from '../policies/registry.js';
import type { ReplayResult } from '../server/replay/report.js';
import { startServer } from '../server/webhook-server.js';
import { replay } from './fixtures/replay/run.js';

const EXAMPLES = fileURLToPath(new URL('./fixtures/examples/', import.meta.url));
const EXPECT = ['--expect', join(EXAMPLES, 'expectations.yaml'), EXAMPLES];
const results = (stdout: string): ReplayResult[] => (JSON.parse(stdout) as { results: ReplayResult[] }).results;

t.test('every example meets its expectation against the embedded state', async (t) => {
  const r = await replay(EXPECT, MODULES);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.ok(r.stdout.endsWith('\n15 passed, 0 failed\n'), r.stdout);
});

t.test('the second VM is denied because the first one was charged, and fits once that is deleted', async (t) => {
  const vm2 = join(EXAMPLES, '07-vm-second-exceeds-quota.yaml');
  const alone = await replay(['--output', 'json', vm2], MODULES);
  t.equal(results(alone.stdout)[0]!.outcome?.allowed, true, 'alone, the same VM fits the quota');
  const afterFirst = await replay(['--output', 'json', join(EXAMPLES, '06-vm-first-fits-quota.yaml'), vm2], MODULES);
  const [first, second] = results(afterFirst.stdout);
  t.equal(first!.outcome?.allowed, true);
  t.match(second!.outcome?.message, /^\[tenant-quota\] exceeded quota: tenant-a, requested: requests\.memory=\d+Mi, used: requests\.memory=\d+Mi, limited: requests\.memory=20Gi; requests\.memory of VirtualMachine /);
});

t.test('the same verdicts from a running `tenantguard serve` over HTTPS', async (t) => {
  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', 'log-level': 'silent' }, env: {} });
  t.teardown(() => server.stop());
  t.equal(server.mode, 'embedded');
  const dir = await mkdtemp(join(tmpdir(), 'replay-examples-'));
  const ca = join(dir, 'ca.crt');
  await writeFile(ca, server.devCA!);
  const remote = await replay(['--server', server.url, '--ca', ca, '--output', 'json', ...EXPECT], MODULES);
  t.equal(remote.code, 0, remote.stdout + remote.stderr);
  const local = await replay(['--output', 'json', ...EXPECT], MODULES);
  const verdicts = (r: ReplayResult[]) => r.map((x) => [x.fixture, x.outcome?.allowed, x.outcome?.message, x.outcome?.warnings, x.outcome?.patch]);
  t.same(verdicts(results(remote.stdout)), verdicts(results(local.stdout)));
});
