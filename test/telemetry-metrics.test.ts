// /metrics: valid Prometheus text, counters that move by exactly the reviews sent, and the setters
// other components call.
import t, { type Test } from 'tap';
import { register as globalRegistry } from 'prom-client';
import type { PolicyModule } from '../policies/types.js';
import { MAX_KIND_LABELS, Metrics } from '../server/telemetry/metrics.js';
import { admissionReview, startFixture } from './helpers/https-fixture.js';

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
// Prometheus reads values with Go's strconv.ParseFloat, which takes Inf/NaN in any case; prom-client
// writes NaN as "Nan" (the event-loop lag gauges before their first sample).
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?[Ii]nf|[Nn]a[Nn])';
const SAMPLE = new RegExp(`^${METRIC_NAME}(?:\\{(?:${LABEL})(?:,${LABEL})*,?\\})? ${VALUE}(?: -?\\d+)?$`);
const COMMENT = new RegExp(`^# (?:HELP ${METRIC_NAME} .*|TYPE ${METRIC_NAME} (?:counter|gauge|histogram|summary|untyped))$`);

/** Parses exposition text strictly; returns samples keyed by `name{labels}`. */
function parseExposition(t: Test, text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const lines = text.split('\n');
  t.equal(lines.at(-1), '', 'ends with a newline');
  for (const line of lines.slice(0, -1)) {
    if (line === '') continue; // the format allows blank lines between families
    if (line.startsWith('#')) {
      t.match(line, COMMENT, `comment line is well-formed: ${line}`);
      continue;
    }
    if (!SAMPLE.test(line)) t.fail(`not a valid sample line: ${JSON.stringify(line)}`);
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const denyHostNetwork: PolicyModule = {
  name: 'deny-host-network',
  type: 'validate',
  evaluate: ({ object }) => (object?.spec?.hostNetwork ? { findings: [{ mode: 'enforce', rule: 'Host Namespaces', message: 'spec.hostNetwork must not be true' }] } : {}),
};

t.test('/metrics parses as Prometheus text and admission_requests_total moves by exactly the reviews sent', async (t) => {
  const fx = await startFixture({ modules: [denyHostNetwork] });
  t.teardown(() => fx.close());

  const before = parseExposition(t, (await fx.request('/metrics')).text);
  const pod = (hostNetwork: boolean) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { hostNetwork } });
  for (let i = 0; i < 5; i++) await fx.request('/validate', { body: JSON.stringify(admissionReview({ uid: `ok-${i}`, object: pod(false) })) });
  for (let i = 0; i < 3; i++) await fx.request('/validate', { body: JSON.stringify(admissionReview({ uid: `deny-${i}`, object: pod(true) })) });
  for (let i = 0; i < 2; i++) {
    await fx.request('/mutate', {
      body: JSON.stringify(admissionReview({ uid: `vm-${i}`, operation: 'UPDATE', kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' }, object: { kind: 'VirtualMachine' } })),
    });
  }
  await fx.request('/validate', { body: '{not json' });

  const res = await fx.request('/metrics');
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const after = parseExposition(t, res.text);
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

  t.equal(delta('tenantguard_admission_requests_total{webhook="validate",operation="CREATE",kind="Pod",decision="allowed"}'), 5);
  t.equal(delta('tenantguard_admission_requests_total{webhook="validate",operation="CREATE",kind="Pod",decision="denied"}'), 3);
  t.equal(delta('tenantguard_admission_requests_total{webhook="mutate",operation="UPDATE",kind="VirtualMachine",decision="allowed"}'), 2);
  let total = 0;
  for (const [key] of after) if (key.startsWith('tenantguard_admission_requests_total{')) total += delta(key);
  t.equal(total, 10, 'the malformed request is not a review');
  t.equal(delta('tenantguard_admission_duration_seconds_count{webhook="validate",operation="CREATE",kind="Pod",decision="allowed"}'), 5);
  t.equal(delta('tenantguard_admission_duration_seconds_bucket{le="+Inf",webhook="validate",operation="CREATE",kind="Pod",decision="denied"}'), 3);
  t.equal(delta('tenantguard_policy_results_total{policy="deny-host-network",result="allow"}'), 5);
  t.equal(delta('tenantguard_policy_results_total{policy="deny-host-network",result="deny"}'), 3);
  t.equal(delta('tenantguard_policy_evaluation_duration_seconds_count{policy="deny-host-network"}'), 8);
  t.equal(delta('tenantguard_request_errors_total{reason="bad_json"}'), 1);
});

t.test('setters publish quota (in base units), cert expiry, reloads and cache sync; forgetTenant drops a tenant', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.setQuotaUsed('tenant-a', { 'requests.cpu': 1500, 'requests.memory': 2 * 1024 ** 3, 'count/pods': 3 });
  metrics.setQuotaHard('tenant-a', { 'requests.cpu': 10_000 });
  metrics.setQuotaUsed('tenant-b', { 'count/pods': 1 });
  metrics.setCertExpiry(new Date('2030-01-02T03:04:05Z'));
  metrics.countConfigReload('success');
  metrics.countConfigReload('failure');
  metrics.countConfigReload('failure');
  metrics.setCacheSynced('Pod', true);
  metrics.setCacheSynced('VirtualMachine', false);

  const s = parseExposition(t, await metrics.render());
  t.equal(s.get('tenantguard_quota_used{tenant="tenant-a",resource="requests.cpu"}'), 1.5, 'millicores published as cores');
  t.equal(s.get('tenantguard_quota_used{tenant="tenant-a",resource="requests.memory"}'), 2147483648);
  t.equal(s.get('tenantguard_quota_used{tenant="tenant-a",resource="count/pods"}'), 3);
  t.equal(s.get('tenantguard_quota_hard{tenant="tenant-a",resource="requests.cpu"}'), 10);
  t.equal(s.get('tenantguard_cert_expiry_timestamp_seconds'), Date.UTC(2030, 0, 2, 3, 4, 5) / 1000);
  t.equal(s.get('tenantguard_config_reloads_total{result="success"}'), 1);
  t.equal(s.get('tenantguard_config_reloads_total{result="failure"}'), 2);
  t.equal(s.get('tenantguard_cache_synced{kind="Pod"}'), 1);
  t.equal(s.get('tenantguard_cache_synced{kind="VirtualMachine"}'), 0);

  metrics.forgetTenant('tenant-a');
  const after = parseExposition(t, await metrics.render());
  t.same([...after.keys()].filter((k) => k.includes('tenant-a')), [], 'no tenant-a series left');
  t.equal(after.get('tenantguard_quota_used{tenant="tenant-b",resource="count/pods"}'), 1, 'other tenants untouched');
});

t.test(`request kinds beyond ${MAX_KIND_LABELS} distinct values are counted as "other"`, async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  for (let i = 0; i < MAX_KIND_LABELS + 6; i++) metrics.recordReview('validate', 'CREATE', `Kind${i}`, true, 0.001);
  const s = parseExposition(t, await metrics.render());
  // Pod is one of the distinct kinds from the start (its series exist at 0): 63 more fit.
  const kinds = new Set([...s.keys()].filter((k) => k.startsWith('tenantguard_admission_requests_total{')).map((k) => /kind="([^"]+)"/.exec(k)![1]));
  t.equal(kinds.size, MAX_KIND_LABELS + 1);
  t.ok(kinds.has('Pod') && kinds.has('other'));
  t.equal(s.get('tenantguard_admission_requests_total{webhook="validate",operation="CREATE",kind="other",decision="allowed"}'), 7);
});

t.test('default process metrics are on their own registry, never the global one', async (t) => {
  const metrics = new Metrics();
  const s = parseExposition(t, await metrics.render());
  t.ok(s.has('process_cpu_user_seconds_total'), 'process metrics present');
  t.ok(s.has('nodejs_heap_size_used_bytes'), 'node runtime metrics present');
  t.equal(globalRegistry.getSingleMetric('tenantguard_admission_requests_total'), undefined);
});

t.test('counters whose labels are known exist at 0 before the first event, so increase() sees it', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.preparePolicies(['pod-security', 'tenant-quota']);
  const s = parseExposition(t, await metrics.render());
  for (const series of [
    'tenantguard_config_reloads_total{result="failure"}',
    'tenantguard_request_errors_total{reason="invalid_review"}',
    'tenantguard_quota_reconcile_total{outcome="failed"}',
    'tenantguard_policy_results_total{policy="tenant-quota",result="deny"}',
    'tenantguard_policy_results_total{policy="pod-security",result="error"}',
    'tenantguard_admission_requests_total{webhook="validate",operation="CREATE",kind="Pod",decision="denied"}',
    'tenantguard_admission_requests_total{webhook="mutate",operation="CREATE",kind="Pod",decision="allowed"}',
  ]) t.equal(s.get(series), 0, series);
});

t.test('review latency buckets reach past the longest webhook timeout (30 s)', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.recordReview('validate', 'CREATE', 'Pod', false, 2.9);
  const s = parseExposition(t, await metrics.render());
  const bounds = [...s.keys()]
    .filter((k) => k.startsWith('tenantguard_admission_duration_seconds_bucket{') && k.includes('decision="denied"') && k.includes('kind="Pod"') && k.includes('webhook="validate"'))
    .map((k) => /le="([^"]+)"/.exec(k)![1]!)
    .filter((le) => le !== '+Inf')
    .map(Number);
  t.ok(Math.max(...bounds) >= 30, `top bucket ${Math.max(...bounds)} s`);
  t.equal(s.get('tenantguard_admission_duration_seconds_bucket{le="2",webhook="validate",operation="CREATE",kind="Pod",decision="denied"}'), 0);
  t.equal(s.get('tenantguard_admission_duration_seconds_bucket{le="3",webhook="validate",operation="CREATE",kind="Pod",decision="denied"}'), 1, 'a 2.9 s review is told apart from a 1 s one');
});

t.test('reconcile failures are counted per tenant, from 0, and go with the tenant', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.countReconcile('tenant-a', 'unchanged');
  metrics.countReconcile('tenant-b', 'failed');
  metrics.countReconcile('tenant-b', 'failed');
  let s = parseExposition(t, await metrics.render());
  t.equal(s.get('tenantguard_quota_reconcile_failures_total{tenant="tenant-a"}'), 0, 'a healthy tenant has its series at 0');
  t.equal(s.get('tenantguard_quota_reconcile_failures_total{tenant="tenant-b"}'), 2, 'the failing tenant is named');
  t.equal(s.get('tenantguard_quota_reconcile_total{outcome="failed"}'), 2);
  metrics.forgetTenant('tenant-b');
  s = parseExposition(t, await metrics.render());
  t.equal(s.has('tenantguard_quota_reconcile_failures_total{tenant="tenant-b"}'), false);
});
