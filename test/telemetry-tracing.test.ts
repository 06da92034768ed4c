// Tracing end to end: the review span continues the apiserver's trace, one child span per module,
// the log line carries the same ids, OTLP/HTTP export reaches a real receiver, and unsampled
// requests export nothing.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import type { KubeObject, PolicyModule } from '../policies/types.js';
import { createTracing, otlpTracesUrl, samplerFromEnv, TracingConfigError } from '../server/telemetry/tracing.js';
import { admissionReview, startFixture } from './helpers/https-fixture.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const sampled = `00-${TRACE_ID}-${PARENT_ID}-01`;
const unsampled = `00-${TRACE_ID}-${PARENT_ID}-00`;

const labeller: PolicyModule = { name: 'labeller', type: 'mutate', evaluate: () => ({ patch: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }] }) };
const first: PolicyModule = { name: 'first-check', type: 'validate', evaluate: () => ({}) };
const second: PolicyModule = {
  name: 'second-check',
  type: 'validate',
  evaluate: () => ({ findings: [{ mode: 'enforce', rule: 'r', message: 'spec.x is not allowed' }] }),
};

const state: KubeObject[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tenant: 'tenant-a' } } },
  { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaceSelector: { matchLabels: { tenant: 'tenant-a' } } } },
];

const podReview = (uid: string) => JSON.stringify(admissionReview({ uid, name: 'web', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a' }, spec: {} } }));

t.test('a review with a sampled traceparent: review span continues it, one child per module, log line has the same ids', async (t) => {
  const exporter = new InMemorySpanExporter();
  const fx = await startFixture({ modules: [labeller, first, second], state, spanExporter: exporter });
  t.teardown(() => fx.close());

  const res = await fx.request('/validate', { body: podReview('uid-traced'), headers: { 'content-type': 'application/json', traceparent: sampled, tracestate: 'vendor=abc' } });
  t.equal(res.json().response.allowed, false);

  const spans = exporter.getFinishedSpans();
  const review = spans.find((s) => s.name === 'admission validate');
  t.ok(review, 'review span exported');
  t.equal(review!.spanContext().traceId, TRACE_ID, 'continues the incoming trace');
  t.equal(review!.parentSpanContext?.spanId, PARENT_ID, 'child of the apiserver span');
  t.equal(review!.parentSpanContext?.isRemote, true);
  t.equal(review!.spanContext().traceState?.get('vendor'), 'abc', 'tracestate carried');
  t.equal(review!.kind, SpanKind.SERVER);
  t.same(review!.attributes, {
    'k8s.namespace.name': 'team-a',
    'tenantguard.kind': 'Pod',
    'tenantguard.operation': 'CREATE',
    'tenantguard.uid': 'uid-traced',
    'tenantguard.tenant': 'tenant-a',
    'tenantguard.decision': 'denied',
  });

  const children = spans.filter((s) => s !== review);
  t.same(children.map((s) => s.name).sort(), ['policy first-check', 'policy second-check'], 'one span per validate module (no mutators on /validate)');
  for (const child of children) {
    t.equal(child.spanContext().traceId, TRACE_ID);
    t.equal(child.parentSpanContext?.spanId, review!.spanContext().spanId, `${child.name} is a child of the review span`);
  }
  t.equal(children.find((s) => s.name === 'policy second-check')!.attributes['tenantguard.result'], 'deny');

  const line = fx.logs.find((l) => l.uid === 'uid-traced');
  t.equal(line?.trace_id, TRACE_ID);
  t.equal(line?.span_id, review!.spanContext().spanId);
  t.equal(line?.tenant, 'tenant-a');
  t.equal(line?.decision, 'denied');
  t.equal(line?.reasons, '[second-check] spec.x is not allowed');
  t.equal(line?.kind, 'Pod');
  t.equal(line?.name, 'web');
  t.equal(line?.user, 'alice');
  t.equal(line?.operation, 'CREATE');
  t.equal(line?.warnings, 0);
  t.type(line?.durationMs, 'number');
  t.notOk(JSON.stringify(line).includes('"spec"'), 'no object content in the log line');

  exporter.reset();
  await fx.request('/mutate', { body: podReview('uid-mutate'), headers: { 'content-type': 'application/json', traceparent: sampled } });
  t.same(exporter.getFinishedSpans().map((s) => s.name).sort(), ['admission mutate', 'policy labeller']);
});

t.test('an unsampled traceparent (flags 00) exports no span, yet the log line carries the incoming trace id', async (t) => {
  const exporter = new InMemorySpanExporter();
  const fx = await startFixture({ modules: [first, second], spanExporter: exporter });
  t.teardown(() => fx.close());
  const res = await fx.request('/validate', { body: podReview('uid-unsampled'), headers: { 'content-type': 'application/json', traceparent: unsampled } });
  t.equal(res.status, 200);
  t.equal(exporter.getFinishedSpans().length, 0);
  const line = fx.logs.find((l) => l.uid === 'uid-unsampled');
  t.equal(line?.trace_id, TRACE_ID);
  t.match(line?.span_id, /^[0-9a-f]{16}$/);
  t.not(line?.span_id, PARENT_ID);
});

t.test('without a traceparent the review span is a root span (default sampler parentbased_always_on)', async (t) => {
  const exporter = new InMemorySpanExporter();
  const fx = await startFixture({ modules: [first], spanExporter: exporter });
  t.teardown(() => fx.close());
  await fx.request('/validate', { body: podReview('uid-root') });
  const review = exporter.getFinishedSpans().find((s) => s.name === 'admission validate');
  t.ok(review);
  t.equal(review!.parentSpanContext, undefined);
  t.equal(fx.logs.find((l) => l.uid === 'uid-root')?.trace_id, review!.spanContext().traceId);
});

t.test('OTEL_TRACES_SAMPLER=always_off exports nothing even for a sampled parent', async (t) => {
  const exporter = new InMemorySpanExporter();
  const fx = await startFixture({ modules: [first], spanExporter: exporter, tracingEnv: { OTEL_TRACES_SAMPLER: 'always_off' } });
  t.teardown(() => fx.close());
  await fx.request('/validate', { body: podReview('uid-off'), headers: { 'content-type': 'application/json', traceparent: sampled } });
  t.equal(exporter.getFinishedSpans().length, 0);
  t.equal(fx.logs.find((l) => l.uid === 'uid-off')?.trace_id, TRACE_ID);
});

t.test('OTLP/HTTP export reaches a receiver on loopback with the trace id', async (t) => {
  const received: Array<{ path: string; contentType: string | undefined; body: string }> = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { receiver.closeAllConnections(); receiver.close(() => r()); }));
  const port = (receiver.address() as AddressInfo).port;

  const fx = await startFixture({ modules: [first, second], tracingEnv: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces` } });
  t.teardown(() => fx.close());
  t.equal(fx.telemetry.tracing.otlpEndpoint, `http://127.0.0.1:${port}/v1/traces`);
  await fx.request('/validate', { body: podReview('uid-otlp'), headers: { 'content-type': 'application/json', traceparent: sampled } });
  await fx.telemetry.tracing.forceFlush();

  t.ok(received.length > 0, 'the receiver got an export');
  t.equal(received[0]!.path, '/v1/traces');
  t.equal(received[0]!.contentType, 'application/json', 'this exporter sends OTLP/JSON');
  const spans = received.flatMap((r) =>
    (JSON.parse(r.body).resourceSpans as any[]).flatMap((rs) => (rs.scopeSpans as any[]).flatMap((ss) => ss.spans as any[])),
  );
  const review = spans.find((s) => s.name === 'admission validate');
  t.equal(review?.traceId, TRACE_ID, 'trace id exported as hex (OTLP/JSON)');
  t.equal(review?.parentSpanId, PARENT_ID);
  t.same(spans.filter((s) => s.parentSpanId === review?.spanId).map((s) => s.name).sort(), ['policy first-check', 'policy second-check']);
  const service = (JSON.parse(received[0]!.body).resourceSpans[0].resource.attributes as any[]).find((a) => a.key === 'service.name');
  t.equal(service?.value?.stringValue, 'tenantguard-test');
});

t.test('OTLP endpoint resolution follows the exporter rules', async (t) => {
  t.equal(otlpTracesUrl({}), undefined, 'no endpoint, no exporter');
  t.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'http://collector:4318/v1/traces');
  t.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), 'http://collector:4318/v1/traces');
  t.equal(
    otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom' }),
    'http://b:4318/custom',
    'the signal-specific endpoint is used as is and wins',
  );
  t.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), undefined, 'empty means unset');
  t.throws(() => otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector 4318' }), new TracingConfigError('OTEL_EXPORTER_OTLP_ENDPOINT: not a valid URL: "collector 4318/v1/traces"'));
});

t.test('sampler settings: the standard names, and precise errors for bad values', async (t) => {
  t.match(samplerFromEnv({}).toString(), /ParentBased\{root=AlwaysOnSampler/);
  t.match(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).toString(), /TraceIdRatioBased\{0\.25\}/);
  t.match(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_on' }).toString(), /^AlwaysOnSampler$/);
  t.throws(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }), new TracingConfigError('OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got "2"'));
  t.throws(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), { message: /^OTEL_TRACES_SAMPLER: unsupported sampler "jaeger_remote"/ });
});

t.test('OTLP over gRPC is refused with a message naming the variable; OTEL_SERVICE_NAME names the service', async (t) => {
  t.throws(
    () => createTracing({ serviceName: 's', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }),
    new TracingConfigError('OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported; tenantguard exports OTLP over HTTP (http/json)'),
  );
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ serviceName: 'default-name', exporter, env: { OTEL_SERVICE_NAME: 'tenantguard-prod' } });
  t.teardown(() => tracing.shutdown());
  tracing.startReviewSpan('admission validate', {}).end();
  t.equal(exporter.getFinishedSpans()[0]?.resource.attributes['service.name'], 'tenantguard-prod');
});
