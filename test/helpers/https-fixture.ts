// Shared test fixture: a throwaway PKI made with tenantguard's own CA code, and the admission app served over
// real HTTPS on 127.0.0.1 with an engine over a SnapshotView and a MemoryLedger. Log lines are
// captured in memory so tests can assert on them.
import type { AddressInfo } from 'node:net';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { createCA, createClientCert, createServingCert } from '../../certs/authority.js';
import { PolicyEngine, type Exemptions, type ModulePolicy } from '../../policies/engine.js';
import type { AdmissionRequest, KubeObject, ModuleSettings, PolicyModule, TenantSpec } from '../../policies/types.js';
import { buildApp, type AdmissionApp, type Readiness, type Telemetry } from '../../server/app.js';
import { MemoryLedger } from '../../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { createLogger } from '../../server/telemetry/logging.js';
import { Metrics } from '../../server/telemetry/metrics.js';
import { createTracing } from '../../server/telemetry/tracing.js';

export interface KeyAndCert {
  cert: string;
  key: string;
}

export interface TestPki {
  ca: string;
  server: KeyAndCert;
  /** A client certificate signed by this CA (for mutual TLS). */
  issueClient(commonName: string): Promise<KeyAndCert>;
}

/** The product's own CA code, so the tests exercise the certificates tenantguard makes. */
export async function createTestPki(caName = 'tenantguard test CA'): Promise<TestPki> {
  const ca = await createCA({ commonName: caName, days: 1 });
  const server = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 1 });
  return {
    ca: ca.certPem,
    server: { cert: server.certPem, key: server.keyPem },
    issueClient: async (commonName) => {
      const client = await createClientCert(ca, { commonName, days: 1 });
      return { cert: client.certPem, key: client.keyPem };
    },
  };
}

let sharedPki: Promise<TestPki> | undefined;
/** One PKI per test process: key generation is the slow part of starting a fixture. */
export function testPki(): Promise<TestPki> {
  sharedPki ??= createTestPki();
  return sharedPki;
}

export interface FixtureOptions {
  modules?: PolicyModule[];
  modulePolicies?: Record<string, ModulePolicy>;
  exemptions?: Exemptions;
  /** Objects the snapshot starts with. */
  state?: KubeObject[];
  defaultTenant?: TenantSpec;
  bodyLimitBytes?: number;
  readiness?: () => Readiness;
  spanExporter?: SpanExporter;
  /** OTEL_* settings for the tracing pipeline (process.env is never read by the fixture). */
  tracingEnv?: NodeJS.ProcessEnv;
  /** Require client certificates from the fixture's CA. */
  mtls?: boolean;
  serveMetrics?: boolean;
  /** Apply admitted reviews to the snapshot (as snapshot mode does). Default true. */
  applyAdmitted?: boolean;
  /** The engine's module settings (KubeVirt's service accounts). Default: none. */
  settings?: ModuleSettings;
}

export interface FixtureResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = any>(): T;
}

export interface Fixture {
  url: string;
  port: number;
  ca: string;
  pki: TestPki;
  app: AdmissionApp;
  engine: PolicyEngine;
  view: SnapshotView;
  ledger: MemoryLedger;
  telemetry: Telemetry;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, any>>;
  /** An HTTPS request to the fixture that trusts its CA (undici, keep-alive). */
  request(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<FixtureResponse>;
  close(): Promise<void>;
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const pki = await testPki();
  const view = new SnapshotView(opts.defaultTenant ?? {});
  for (const obj of opts.state ?? []) view.add(structuredClone(obj));
  const ledger = new MemoryLedger(view);
  const logs: Array<Record<string, any>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line)) } });
  const tracing = createTracing({ serviceName: 'tenantguard-test', exporter: opts.spanExporter, env: opts.tracingEnv ?? {} });
  const telemetry: Telemetry = { tracing, logger, metrics: new Metrics({ defaultMetrics: false }) };
  const engine = new PolicyEngine(
    opts.modules ?? [],
    {
      exemptions: opts.exemptions ?? { namespaces: [], usernames: [], groups: [] },
      modules: opts.modulePolicies ?? {},
      settings: opts.settings ?? { kubevirtServiceAccounts: [] },
    },
    { view, ledger, tracer: tracing.tracer },
  );
  const app = buildApp({
    engine,
    telemetry,
    bodyLimitBytes: opts.bodyLimitBytes ?? 3 * 1024 * 1024,
    https: { key: pki.server.key, cert: pki.server.cert, ...(opts.mtls ? { ca: pki.ca, requestCert: true } : {}) },
    readiness: opts.readiness ?? (() => ({ ready: true, reasons: [] })),
    ...(opts.applyAdmitted === false
      ? {}
      : {
          // As serve's snapshot mode: only the validating webhook's verdict is stored (a later
          // validator may still refuse what /mutate admitted).
          onAdmitted: (req: AdmissionRequest, d) => {
            if (d.patchedObject === undefined) view.apply(req, req.object ?? undefined);
          },
        }),
    serveMetrics: opts.serveMetrics ?? true,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const client = opts.mtls ? await pki.issueClient('kube-apiserver') : undefined;
  const agent = new Agent({ connect: { ca: pki.ca, ...(client ?? {}) } });

  return {
    url,
    port,
    ca: pki.ca,
    pki,
    app,
    engine,
    view,
    ledger,
    telemetry,
    logs,
    async request(path, init = {}) {
      const res = await undiciRequest(`${url}${path}`, {
        method: (init.method ?? (init.body === undefined ? 'GET' : 'POST')) as Dispatcher.HttpMethod,
        headers: init.headers ?? (init.body === undefined ? {} : { 'content-type': 'application/json' }),
        body: init.body,
        dispatcher: agent,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
    },
    async close() {
      await agent.close();
      await app.close();
      await tracing.shutdown();
    },
  };
}

/** An AdmissionReview request envelope; `request` fields override the defaults. */
export function admissionReview(request: Partial<AdmissionRequest> & { uid: string }): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      namespace: 'team-a',
      ...request,
    },
  };
}
