// SPEC 8: API calls made while handling a review (the live NetworkPolicy list, the quota
// reservation) are child spans of the module that made them and carry the trace to the apiserver in
// a W3C traceparent header, so one trace shows the whole chain. Background calls carry none.
import { context, SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import t from 'tap';
import { PolicyEngine } from '../policies/engine.js';
import { networkPolicy } from '../policies/network-policy.js';
import { tenantQuota } from '../policies/quota/module.js';
import type { AdmissionRequest } from '../policies/types.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { createTracing, reviewContext } from '../server/telemetry/tracing.js';
import { liveCluster, namespace, networkPolicy as np, pod, tenant, until } from './helpers/live-cluster.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const APISERVER_SPAN = '00f067aa0ba902b7';

t.test('a traced review: the live list and the reservation carry its trace to the apiserver', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'tenantguard-test', exporter, env: {} });
  t.teardown(() => tracing.shutdown());
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  c.api.apply(tenant('tenant-a', {
    namespaces: ['team-a'],
    networkPolicy: { mode: 'enforce', require: ['Ingress'] },
    quota: { hard: { 'count/pods': '5' } },
  }, { used: { 'count/pods': '0' } }));
  const view = await c.view({ tracer: tracing.tracer });
  await view.waitForSync(AbortSignal.timeout(5000));
  await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);

  // The covering policy exists only in the apiserver (the cache's watch is down), so the module
  // must confirm with a live list before deciding.
  c.api.intercept = (req) =>
    req.path === '/apis/networking.k8s.io/v1/networkpolicies' && req.query.get('watch') === 'true'
      ? { status: 503, body: { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'watch disabled' } }
      : undefined;
  c.api.endWatches();
  c.api.apply(np('team-a', 'allow-web', { matchLabels: { app: 'web' } }));
  const backgroundBefore = c.api.requests.length;

  const engine = new PolicyEngine([networkPolicy, tenantQuota], {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: DEFAULT_CONFIG.modules,
    settings: { kubevirtServiceAccounts: DEFAULT_CONFIG.kubevirt.serviceAccounts },
  }, { view, ledger: new TenantStatusLedger(c.client(tracing.tracer), view), tracer: tracing.tracer });
  const request: AdmissionRequest = {
    uid: 'review-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'team-a',
    name: 'web-1',
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object: pod('team-a', 'web-1', { cpu: '100m' }, { app: 'web' }),
  };
  const span = tracing.startReviewSpan('admission review', { traceparent: `00-${TRACE_ID}-${APISERVER_SPAN}-01` });
  const decision = await context.with(reviewContext(span), () => engine.review(request, 'validate'));
  span.end();
  t.equal(decision.allowed, true, 'covered (by the live list) and within quota');

  // Less the informers' watches (ended above, so they reconnect meanwhile) and the NetworkPolicy
  // informer's relists after its watch keeps failing.
  const during = c.api.requests
    .slice(backgroundBefore)
    .filter((r) => r.query.get('watch') !== 'true' && r.path !== '/apis/networking.k8s.io/v1/networkpolicies');
  const calls = during.map((r) => `${r.method} ${r.path}`);
  t.same(calls, [
    'GET /apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies',
    'GET /apis/tenantguard.io/v1alpha1/tenants/tenant-a',
    'PUT /apis/tenantguard.io/v1alpha1/tenants/tenant-a/status',
  ], 'the review made these API calls');

  const spans = exporter.getFinishedSpans();
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (const r of during) {
    const header = r.headers.traceparent as string | undefined;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(header ?? '');
    t.ok(m, `${r.method} ${r.path} carries a sampled traceparent`);
    t.equal(m?.[1], TRACE_ID, 'in the apiserver\'s trace');
    const client = byId.get(m?.[2] ?? '');
    t.equal(client?.kind, SpanKind.CLIENT, 'whose parent span is the CLIENT span of the call');
    t.equal(client?.attributes['http.request.method'], r.method);
  }
  const parentName = (name: string) => {
    const s = spans.find((x) => x.name === name);
    return s ? byId.get(s.parentSpanContext?.spanId ?? '')?.name : undefined;
  };
  t.equal(parentName('kube list networkpolicies'), 'policy network-policy');
  t.equal(parentName('kube get tenant'), 'policy tenant-quota commit');
  t.equal(parentName('kube update tenant status'), 'policy tenant-quota commit');
  t.equal(c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.reserved?.['count/pods'], '1');

  const background = c.api.requests.slice(0, backgroundBefore);
  t.ok(background.length > 0 && background.every((r) => r.headers.traceparent === undefined), 'informer lists and watches carry no trace');
});

t.test('an unsampled review creates no spans but still passes its trace id on', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'tenantguard-test', exporter, env: {} });
  t.teardown(() => tracing.shutdown());
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  const view = await c.view({ tracer: tracing.tracer });
  await view.waitForSync(AbortSignal.timeout(5000));
  const span = tracing.startReviewSpan('admission review', { traceparent: `00-${TRACE_ID}-${APISERVER_SPAN}-00` });
  await context.with(reviewContext(span), () => view.listLive('NetworkPolicy', 'team-a', AbortSignal.timeout(1000)));
  span.end();
  const call = c.api.requests.find((r) => r.path === '/apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies');
  t.equal(call?.headers.traceparent, `00-${TRACE_ID}-${span.spanContext().spanId}-00`, 'the review\'s (non-recording) span, unsampled');
  t.same(exporter.getFinishedSpans(), []);
});
