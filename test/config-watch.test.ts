import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ServerConfig } from '../server/config.js';
import { loadConfig } from '../server/config-load.js';
import { watchConfig, type ConfigWatcher } from '../server/config-watch.js';
import { createLogger } from '../server/telemetry/logging.js';
import { Metrics } from '../server/telemetry/metrics.js';
import { replaceFile, waitFor } from './helpers/files.js';

async function reloads(metrics: Metrics, result: 'success' | 'failure'): Promise<number> {
  const line = (await metrics.render()).split('\n').find((l) => l.startsWith(`tenantguard_config_reloads_total{result="${result}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

interface Harness {
  watcher: ConfigWatcher;
  metrics: Metrics;
  applied: ServerConfig[];
  errors: string[][];
}

async function startWatch(file: string, teardown: (fn: () => void) => void): Promise<Harness> {
  const sources = { flags: { config: file } };
  const initial = await loadConfig(sources);
  if (!initial.ok) throw new Error(initial.errors.join('; '));
  const metrics = new Metrics({ defaultMetrics: false });
  const applied: ServerConfig[] = [];
  const errors: string[][] = [];
  const watcher = await watchConfig({
    file,
    sources,
    initial: initial.config,
    debounceMs: 20,
    metrics: { configReload: (r) => metrics.countConfigReload(r) },
    logger: createLogger({
      level: 'info',
      destination: {
        write(line: string) {
          const entry = JSON.parse(line) as { level: string; errors?: string[] };
          if (entry.level === 'error') errors.push(entry.errors ?? []);
        },
      },
    }),
    onConfig: (config) => void applied.push(config),
  });
  teardown(() => watcher.close());
  return { watcher, metrics, applied, errors };
}

t.test('valid, then invalid, then valid: the running config is the last good one', async (t) => {
  const dir = t.testdir({ 'config.yaml': 'modules: {pod-security: {failureMode: fail}}\n' });
  const file = join(dir, 'config.yaml');
  const h = await startWatch(file, t.teardown.bind(t));
  t.equal(h.watcher.config().modules['pod-security']?.failureMode, 'fail');

  await replaceFile(file, 'modules: {pod-security: {failureMode: ignore}}\n');
  await waitFor('first reload', async () => (await reloads(h.metrics, 'success')) === 1);
  t.equal(h.watcher.config().modules['pod-security']?.failureMode, 'ignore', 'valid change applied');
  t.equal(h.applied.length, 1);
  t.equal(h.applied[0]?.modules['pod-security']?.failureMode, 'ignore', 'the callback got the new config');

  await replaceFile(file, 'modules: {pod-security: {failureMode: sometimes}}\nlogLevel: debug\n');
  await waitFor('rejected reload', async () => (await reloads(h.metrics, 'failure')) === 1);
  t.equal(h.watcher.config().modules['pod-security']?.failureMode, 'ignore', 'invalid change: last good config kept');
  t.equal(h.watcher.config().logLevel, 'info', 'no part of an invalid file is applied');
  t.equal(h.applied.length, 1, 'no callback for an invalid config');
  t.same(h.errors, [['modules.pod-security.failureMode: must be one of fail, ignore, got "sometimes"']], 'the errors are logged');

  await replaceFile(file, 'modules: {pod-security: {failureMode: fail}}\nlogLevel: debug\n');
  await waitFor('second reload', async () => (await reloads(h.metrics, 'success')) === 2);
  t.equal(h.watcher.config().modules['pod-security']?.failureMode, 'fail');
  t.equal(h.watcher.config().logLevel, 'debug');
  t.equal(h.applied.length, 2);
  t.equal(await reloads(h.metrics, 'failure'), 1);
});

t.test('rewriting the same text is not a reload', async (t) => {
  const text = 'logLevel: warn\n';
  const dir = t.testdir({ 'config.yaml': text, 'other.txt': 'x' });
  const h = await startWatch(join(dir, 'config.yaml'), t.teardown.bind(t));
  await replaceFile(join(dir, 'config.yaml'), text);
  await writeFile(join(dir, 'other.txt'), 'y');
  await new Promise((r) => setTimeout(r, 200));
  await h.watcher.settled();
  t.equal(await reloads(h.metrics, 'success'), 0);
  t.equal(await reloads(h.metrics, 'failure'), 0);
  t.equal(h.applied.length, 0);
});

t.test('an editor that writes a new file and renames it over the old one', async (t) => {
  const dir = t.testdir({ 'config.yaml': 'logLevel: warn\n' });
  const file = join(dir, 'config.yaml');
  const h = await startWatch(file, t.teardown.bind(t));
  for (const level of ['error', 'debug']) {
    await writeFile(join(dir, '.config.yaml.swp'), `logLevel: ${level}\n`);
    await rename(join(dir, '.config.yaml.swp'), file);
    await waitFor(`logLevel ${level}`, () => h.watcher.config().logLevel === level);
  }
  t.equal(await reloads(h.metrics, 'success'), 2, 'the watch survives the file being replaced');
});

t.test('a mounted ConfigMap: the ..data symlink is swapped atomically', async (t) => {
  // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/
  const dir = t.testdir({ '..2024_01_01': { 'config.yaml': 'logLevel: warn\n' } });
  await symlink('..2024_01_01', join(dir, '..data'));
  await symlink('..data/config.yaml', join(dir, 'config.yaml'));
  const h = await startWatch(join(dir, 'config.yaml'), t.teardown.bind(t));
  t.equal(h.watcher.config().logLevel, 'warn');

  await mkdir(join(dir, '..2024_01_02'));
  await writeFile(join(dir, '..2024_01_02', 'config.yaml'), 'logLevel: error\n');
  await symlink('..2024_01_02', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await waitFor('ConfigMap update', () => h.watcher.config().logLevel === 'error');
  t.equal(await reloads(h.metrics, 'success'), 1);
});

t.test('a deleted config file is a failed reload; the config stays', async (t) => {
  const dir = t.testdir({ 'config.yaml': 'logLevel: warn\n' });
  const file = join(dir, 'config.yaml');
  const h = await startWatch(file, t.teardown.bind(t));
  await rename(file, join(dir, 'moved.yaml'));
  await waitFor('failed reload', async () => (await reloads(h.metrics, 'failure')) === 1);
  t.equal(h.watcher.config().logLevel, 'warn');
  t.match(h.errors[0]?.[0], /^cannot read config file /);
});
