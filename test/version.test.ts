// One version everywhere (SPEC 11.1): the CLI's --version, the build_info metric a running server
// publishes, the traces' service.version, the image labels and the install's image tag all say
// package.json's version.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import t from 'tap';
import { createTracing } from '../server/telemetry/tracing.js';
import { startServer } from '../server/webhook-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const packageVersion = async (): Promise<string> => (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

t.test('tenantguard --version and a running server\'s tenantguard_build_info agree with package.json', async (t) => {
  const version = await packageVersion();
  const { stdout } = await run(process.execPath, ['--import=tsx', 'server/commands/cli.ts', '--version'], { cwd: ROOT });
  t.equal(stdout, `tenantguard ${version}\n`);

  const server = await startServer({
    flags: { host: '127.0.0.1', port: '0', 'metrics-port': '0', state: join(ROOT, 'server/embedded-state') },
    env: {},
    logDestination: { write: () => undefined },
  });
  t.teardown(() => server.stop());
  const metrics = await fetchText(server.metricsUrl!);
  const info = metrics.split('\n').filter((l) => l.startsWith('tenantguard_build_info{'));
  t.same(info, [`tenantguard_build_info{version="${version}",nodejs_version="${process.versions.node}"} 1`]);
  t.equal(stdout.trim().split(' ')[1], /version="([^"]+)"/.exec(info[0]!)![1], '--version and build_info name the same version');
});

t.test('spans carry service.version', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'tenantguard', exporter, env: {} });
  t.teardown(() => tracing.shutdown());
  tracing.startReviewSpan('admission validate', {}).end();
  t.equal(exporter.getFinishedSpans()[0]?.resource.attributes['service.version'], await packageVersion());
});

t.test('the image is built with package.json\'s version as its tag and OCI label, and the install runs that tag', async (t) => {
  const version = await packageVersion();
  const { stdout } = await run('make', ['-n', 'image'], { cwd: ROOT });
  t.match(stdout, new RegExp(`--build-arg VERSION=${version.replace(/\./g, '\\.')} `));
  t.match(stdout, new RegExp(`-t tenantguard:${version.replace(/\./g, '\\.')} `));
  const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  t.match(runtimeStage, /^ARG VERSION\b/m, 'the runtime stage takes the version');
  t.match(runtimeStage, /org\.opencontainers\.image\.version="\$\{VERSION\}"/);
  const deployment = await readFile(join(ROOT, 'manifests/base/deployment.yaml'), 'utf8');
  t.match(deployment, new RegExp(`image: tenantguard:${version.replace(/\./g, '\\.')}\\n`));
  t.match(deployment, new RegExp(`app.kubernetes.io/version: "${version.replace(/\./g, '\\.')}"`), 'the version label');
});
