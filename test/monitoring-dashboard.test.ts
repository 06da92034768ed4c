// The Grafana dashboard against a real Prometheus (Debian's prometheus package; .ci/run installs
// it) scraping a real tenantguard: tenantguard serves in live mode against the fake apiserver with a
// Tenant that has quota, answers a few admission reviews (allowed, denied, malformed), Prometheus
// scrapes its metrics port every second, and every panel's query must parse and return data.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { startServer } from '../server/webhook-server.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { MANIFESTS_DIR } from './helpers/manifests.js';
import { namespace, pod, tenant, until } from './helpers/live-cluster.js';


interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(MANIFESTS_DIR, 'components/monitoring/tenantguard-dashboard.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; allValue?: string; query?: { query: string } }> };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

/** Grafana's variables as it substitutes them with "All" selected; the rate window spans several 1 s scrapes. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '15s').replace(/\$\{?tenant\}?/g, '.*');
}

const prometheusInstalled = await new Promise<boolean>((resolve) => {
  const p = spawn('prometheus', ['--version'], { stdio: 'ignore' });
  p.on('error', () => resolve(false));
  p.on('exit', (code) => resolve(code === 0));
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let uids = 0;
function review(object: Record<string, unknown>): string {
  const meta = object.metadata as { name: string; namespace: string };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `dashboard-${++uids}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: meta.namespace,
      name: meta.name,
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
    },
  });
}

t.test('every dashboard panel has data in a real Prometheus scraping a real tenantguard', {
  skip: prometheusInstalled ? false : 'prometheus is not installed (apt-get install prometheus; .ci/run does)',
  timeout: 90_000,
}, async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  api.apply(namespace('team-a', { tenant: 'tenant-a' }));
  api.apply(tenant('tenant-a', {
    namespaceSelector: { matchLabels: { tenant: 'tenant-a' } },
    quota: { hard: { 'count/pods': '10', 'requests.cpu': '2', 'requests.memory': '4Gi', 'requests.storage': '100Gi' } },
    podSecurity: { level: 'baseline', mode: 'enforce' },
  }));
  api.apply(pod('team-a', 'running', { cpu: '500m', memory: '1Gi' }));
  const dir = t.testdir({});
  const kubeconfig = await api.writeKubeconfig(dir);
  const server = await startServer({
    flags: { host: '127.0.0.1', port: '0', 'metrics-port': '0', kubeconfig, 'log-level': 'error' },
    env: {},
    logDestination: { write: () => undefined },
  });
  t.teardown(() => server.stop());
  await until('tenantguard ready', () => server.readiness().ready, 15_000);
  const metricsUrl = new URL(server.metricsUrl!);

  const promPort = await freePort();
  await writeFile(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tenantguard
    metrics_path: ${metricsUrl.pathname}
    static_configs:
      - targets: ['${metricsUrl.host}']
`);
  const prom: ChildProcess = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr!.on('data', (c: Buffer) => (promLog += c.toString()));
  t.teardown(() => {
    prom.kill('SIGTERM');
  });
  const promApi = `http://127.0.0.1:${promPort}/api/v1`;
  const query = async (q: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> => {
    const res = await request(`${promApi}/query?${new URLSearchParams({ query: q })}`);
    return (await res.body.json()) as never;
  };
  const value = (r: { data?: { result: unknown[] } }) => Number((r.data?.result[0] as { value: [number, string] } | undefined)?.value[1] ?? 0);
  const scraped = async () => {
    try {
      return value(await query('up{job="tenantguard"}')) === 1;
    } catch {
      return false; // not listening yet
    }
  };
  const started = Date.now();
  await waitAsync('the first scrape', scraped, 30_000, () => promLog);
  t.comment(`Prometheus scraped tenantguard ${Date.now() - started} ms after start`);

  // A little load: allowed and denied reviews on both webhooks, and malformed requests.
  const agent = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => agent.close());
  const post = async (path: string, body: string) => {
    const res = await request(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
    return { status: res.statusCode, body: (await res.body.json()) as { response?: { allowed: boolean } } };
  };
  let allowed = 0;
  let denied = 0;
  let malformed = 0;
  const send = async (i: number) => {
    const ok = pod('team-a', `web-${i}`, { cpu: '100m', memory: '64Mi' });
    delete ok.status;
    await post('/mutate', review(ok));
    if ((await post('/validate', review(ok))).body.response?.allowed) allowed++;
    const privileged = pod('team-a', `priv-${i}`, { cpu: '100m', memory: '64Mi' });
    delete privileged.status;
    (privileged.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.securityContext = { privileged: true };
    if ((await post('/validate', review(privileged))).body.response?.allowed === false) denied++;
    if ((await post('/validate', '{"not": "a review"}')).status === 400) malformed++;
  };
  // Series appear at their first review; Prometheus sees them rise (rate > 0) only after it has
  // scraped them once, so one round goes first.
  await send(0);
  await waitAsync('the first reviews are scraped', async () => value(await query('sum(tenantguard_admission_requests_total{decision="denied"})')) > 0, 20_000, () => promLog);
  for (let i = 1; i < 5; i++) await send(i);
  t.equal(allowed, 5, 'allowed reviews');
  t.equal(denied, 5, 'denied reviews (privileged under baseline enforce)');
  t.equal(malformed, 5, 'malformed requests answered 400');

  const loadScrape = Date.now();
  await waitAsync('the load is scraped', async () => {
    // Every denial sent is scraped (the series exist at 0 from the start, so increase() alone
    // already saw the first round's denial).
    return value(await query('sum(tenantguard_admission_requests_total{decision="denied"})')) >= denied &&
      value(await query('sum(increase(tenantguard_admission_requests_total{decision="denied"}[15s]))')) > 0;
  }, 20_000, () => promLog);
  t.comment(`the load was visible in Prometheus ${Date.now() - loadScrape} ms after it was sent`);

  t.ok(panels.length >= 10, `${panels.length} panels`);
  for (const panel of panels) {
    t.ok(panel.targets && panel.targets.length > 0, `${panel.title}: has queries`);
    for (const target of panel.targets ?? []) {
      const expr = substitute(target.expr);
      const result = await query(expr);
      t.equal(result.status, 'success', `${panel.title} [${target.refId}] parses: ${result.error ?? ''}`);
      t.ok((result.data?.result.length ?? 0) > 0, `${panel.title} [${target.refId}] returns data`);
    }
  }

  // The tenant variable lists the Tenants.
  const variable = dashboard.templating.list.find((v) => v.name === 'tenant')!;
  const metric = /label_values\((\w+), (\w+)\)/.exec(variable.query!.query)!;
  const res = await request(`${promApi}/label/${metric[2]}/values?${new URLSearchParams({ 'match[]': metric[1]! })}`);
  t.same(((await res.body.json()) as { data: string[] }).data, ['tenant-a'], 'the tenant variable lists tenant-a');
});

async function waitAsync(what: string, cond: () => Promise<boolean>, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; prometheus log:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
