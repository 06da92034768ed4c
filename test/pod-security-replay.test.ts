// The pod-security corpus through `tenantguard replay`, not only through the engine: for each level
// and version pin the corpus is judged at, a state whose namespace carries PSA's enforce labels,
// and a replay expectations file derived from the corpus's own expectations.
import t from 'tap';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { MODULES } from '../policies/registry.js';
import { runReplay } from '../server/commands/replay.js';
import { loadFixtures, FIXTURE_DIR, NAMESPACE } from './fixtures/pod-security/load.js';

const fixtureDir = fileURLToPath(FIXTURE_DIR);
// Nothing but the namespace labels decides the level: the default tenant checks nothing.
const CONFIG = 'defaultTenant:\n  podSecurity: {level: privileged, mode: enforce}\n';

// Warnings reach kubectl cut to 119 characters; a prefix of the finding is what can be matched.
const warningFragment = (message: string): string => `[pod-security] ${message}`.slice(0, 100);

t.test('every pod-security fixture replays to its expected verdict', async (t) => {
  const groups = new Map<string, ReturnType<typeof loadFixtures>>();
  for (const f of loadFixtures()) {
    const key = `${f.expect.level}:${f.expect.version ?? 'latest'}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const root = await mkdtemp(join(tmpdir(), 'psa-replay-'));
  const config = join(root, 'config.yaml');
  await writeFile(config, CONFIG);
  let replayed = 0;
  for (const [key, fixtures] of groups) {
    const [level, version] = key.split(':') as [string, string];
    const dir = join(root, key.replace(':', '-'));
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(
      join(dir, 'state', 'namespace.yaml'),
      stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: NAMESPACE,
          labels: { 'pod-security.kubernetes.io/enforce': level, 'pod-security.kubernetes.io/enforce-version': version },
        },
      }),
    );
    const expectations: Record<string, unknown> = {};
    for (const f of fixtures) {
      expectations[relative(dir, join(fixtureDir, f.file))] = {
        allowed: f.expect.allowed,
        ...(f.expect.messages.length > 0 ? { messages: f.expect.messages } : {}),
        ...(f.expect.warnings ? { warnings: f.expect.warnings.map(warningFragment) } : {}),
      };
    }
    const expect = join(dir, 'expectations.yaml');
    await writeFile(expect, stringify(expectations));
    let stdout = '';
    let stderr = '';
    const code = await runReplay(
      ['--state', join(dir, 'state'), '--config', config, '--phase', 'validate', '--expect', expect, ...fixtures.map((f) => join(fixtureDir, f.file))],
      { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, modules: MODULES },
    );
    t.equal(code, 0, `${key}: ${stdout}${stderr}`);
    t.match(stdout, new RegExp(`\\n${fixtures.length} passed, 0 failed\\n$`), key);
    replayed += fixtures.length;
  }
  t.equal(replayed, loadFixtures().length, 'every fixture of the corpus was replayed');
});
