// `tenantguard serve` (SPEC 3, 4, 9, 10): loads the config, picks the cluster view (a snapshot
// directory, the live cluster, or the embedded example state), sets up TLS (certificate files, or
// an in-memory development certificate), starts the HTTPS webhook and the optional plain-HTTP
// metrics listener, and keeps config and certificate current by watching their files.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { DestinationStream } from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { PolicyEngine, type Decision } from '../policies/engine.js';
import { MODULES } from '../policies/registry.js';
import { parseHard, usedForStatus, zeroCharge } from '../policies/quota/resources.js';
import type { AdmissionRequest, ClusterView, QuotaLedger } from '../policies/types.js';
import { createCA, createServingCert } from '../certs/authority.js';
import { checkCertPair, readCertPair, watchCertFiles, type CertPair, type CertWatcher } from '../certs/cert-watch.js';
import { parseDuration } from '../certs/certificate-settings.js';
import { CertExpiryWarning } from '../certs/expiry-warning.js';
import { selfManagedCertificates, type SelfManagedCertificates } from '../certs/self-managed.js';
import { buildApp, type AdmissionApp, type DrainSignal, type Readiness } from './app.js';
import type { CliCommand, CliValues } from './cli.js';
import { KubeClient, kubeconfigConfigured, loadKubeConfig } from './cluster/kube-client.js';
import { LiveView } from './cluster/live-view.js';
import { NamespaceLabelKeeper } from './cluster/namespace-labels.js';
import { MemoryLedger, type LedgerOptions } from './cluster/memory-ledger.js';
import type { ObjectStore } from './cluster/object-store.js';
import { SnapshotView } from './cluster/snapshot-view.js';
import { TenantReconciler } from './cluster/reconcile.js';
import { TenantStatusLedger } from './cluster/tenant-ledger.js';
import { formatUsed } from './cluster/tenant-status.js';
import type { ServerConfig } from './config.js';
import { CONFIG_ENV_VARS, configFileOf, engineConfigOf, loadConfig, type ConfigFlags } from './config-load.js';
import { changedFields, watchConfig, type ConfigWatcher } from './config-watch.js';
import { gracefulShutdown } from './shutdown.js';
import { createLogger, type Logger } from './telemetry/logging.js';
import { Metrics } from './telemetry/metrics.js';
import { createTracing, type Tracing } from './telemetry/tracing.js';

export type ViewMode = 'snapshot' | 'live' | 'embedded';

/** Fields a reload cannot change in a running process; a change is logged as needing a restart. */
const RESTART_FIELDS: ReadonlyArray<keyof ServerConfig> = ['listen', 'tls', 'metrics', 'bodyLimitBytes', 'state', 'kubeconfig', 'quota', 'shutdownGraceMs', 'certificates'];

/** A startup failure the user can fix; `usage` ones (a bad config) exit 2, the others 1. */
export class ServeError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}

/**
 * The example state shipped with tenantguard, next to this file in server/. Compiled, this module
 * runs from dist/server/, which has no copy: the source directory two levels up is used instead.
 */
export function embeddedStateDir(): string {
  for (const candidate of ['./embedded-state', '../../server/embedded-state']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new ServeError('the embedded state directory (server/embedded-state) is missing from this installation; pass --state DIR');
}

export interface ServeOptions {
  flags: ConfigFlags;
  env?: NodeJS.ProcessEnv;
  /** Where logs go (stdout by default); tests capture them. */
  logDestination?: DestinationStream;
  /** An extra in-process span exporter (tests). */
  traceExporter?: SpanExporter;
  /** Debounce of the config and certificate file watches. */
  watchDebounceMs?: number;
  /** The clock self-managed certificates are issued and renewed by (tests move it forward). */
  certificateClock?: () => Date;
}

export interface RunningServer {
  app: AdmissionApp;
  /** https://host:port as bound (port 0 resolved). */
  url: string;
  metricsUrl: string | undefined;
  mode: ViewMode;
  certSource: string;
  /** The in-memory development CA (PEM) when no certificate files are configured. */
  devCA: string | undefined;
  logger: Logger;
  metrics: Metrics;
  config(): ServerConfig;
  readiness(): Readiness;
  /** Graceful shutdown: readiness 503, in-flight reviews finish, then every listener and watch closes. */
  stop(): Promise<void>;
}

interface ClusterSetup {
  mode: ViewMode;
  view: ClusterView;
  ledger: QuotaLedger;
  /** Applies a review the webhook admitted (snapshot modes: the apiserver would have persisted it). */
  apply?(request: AdmissionRequest, decision: Decision): void;
  setDefaultTenant(config: ServerConfig): void;
  /** Reasons the view is not ready (live: informers not synced yet). */
  notReady(): string[];
  /** Namespaces two Tenants claim: a configuration error reported by /readyz, not a reason to stop serving. */
  conflicts(): string[];
  stop(): Promise<void>;
}

function conflictsOf(store: ObjectStore): string[] {
  return store.tenants().conflicts.map((c) => `namespace ${c.namespace} is claimed by Tenants ${c.tenants.join(', ')} (the stricter settings apply)`);
}

interface SetupDeps {
  metrics: Metrics;
  logger: Logger;
  tracing: Tracing;
}

type Ledger = MemoryLedger | TenantStatusLedger;

/** Quota observed, reserved and hard as Prometheus series, read at scrape time. */
function publishQuota(metrics: Metrics, view: ClusterView, ledger: Ledger): void {
  for (const t of view.list('Tenant')) {
    const tenant = t.metadata?.name ?? '';
    // As status.used shows it: storage at 0 before the first claim, so dashboards have a series.
    metrics.setQuotaUsed(tenant, usedForStatus(ledger.observed.tenantUsage(tenant)));
    metrics.setQuotaReserved(tenant, { ...zeroCharge(), ...ledger.book.reserved(tenant) }, ledger.book.count(tenant));
    try {
      metrics.setQuotaHard(tenant, parseHard(t.spec?.quota?.hard));
    } catch {
      // An invalid limit is reported where it matters: the quota module fails the review naming it.
    }
  }
}

/** What the ledger options are in the server config, and the metrics and log lines of reservations. */
function ledgerOptions(config: ServerConfig, deps: SetupDeps): LedgerOptions {
  return {
    ttlMs: config.quota.reservationTTLSeconds * 1000,
    maxReservations: config.quota.maxReservationsPerTenant,
    events: {
      released: (_entry, afterMs) => deps.metrics.observeReservationReleased(afterMs / 1000),
      expired(entry) {
        if (!entry.local) return;
        deps.metrics.countReservationExpired(entry.tenant);
        const o = entry.object;
        deps.logger.warn(
          { tenant: entry.tenant, uid: entry.uid, kind: o.kind, namespace: o.namespace, name: o.name, reserved: formatUsed(entry.amounts) },
          `quota reservation for ${o.kind} ${o.namespace}/${o.name} expired: the object was never observed (refused later in the admission chain, or never persisted)`,
        );
      },
    },
  };
}

async function snapshotSetup(dir: string, mode: ViewMode, config: ServerConfig, deps: SetupDeps): Promise<ClusterSetup> {
  let view: SnapshotView;
  try {
    view = await SnapshotView.load(dir, config.defaultTenant);
  } catch (err) {
    throw new ServeError((err as Error).message);
  }
  const ledger = new MemoryLedger(view, ledgerOptions(config, deps));
  const problems = view.list('Tenant').flatMap((t) => ledger.observed.problems(t.metadata?.name ?? ''));
  if (problems.length > 0) throw new ServeError(`cannot charge the quota usage of the state in ${dir}: ${problems[0]}`);
  deps.metrics.onCollect(() => publishQuota(deps.metrics, view, ledger));
  return {
    mode,
    view,
    ledger,
    apply(request, decision) {
      // The validating webhook has the last word, so only its verdict changes the state; a
      // mutate-phase decision carries the patched object, a validate-phase one does not. The
      // ledger's observed usage follows the state, which releases the review's reservation.
      if (decision.patchedObject !== undefined) return;
      view.apply(request, request.object ?? undefined);
    },
    setDefaultTenant: (c) => view.store.setDefaultTenant(c.defaultTenant),
    notReady: () => [],
    conflicts: () => conflictsOf(view.store),
    stop: async () => {},
  };
}

/** Informers over the cluster the kubeconfig names; quota reservations go to Tenant status. */
async function liveSetup(config: ServerConfig, deps: SetupDeps): Promise<ClusterSetup> {
  let client: KubeClient;
  try {
    client = new KubeClient(loadKubeConfig(config.kubeconfig), deps.tracing.tracer);
  } catch (err) {
    throw new ServeError(`cannot use the kubeconfig: ${(err as Error).message}`);
  }
  const view = new LiveView(client, {
    defaultTenant: config.defaultTenant,
    onError: (source, err) => deps.logger.warn({ source, err: err.message }, `cluster view: ${source} failed; retrying`),
  });
  const ledger = new TenantStatusLedger(client, view, ledgerOptions(config, deps));
  const reconciler = new TenantReconciler(client, view, ledger, {
    intervalMs: config.quota.reconcileIntervalSeconds * 1000,
    onError: (tenant, err) => deps.logger.warn({ tenant, err: err.message }, `quota reconcile of tenant ${tenant} failed`),
    onRepaired: (tenant, before, after) => deps.logger.info({ tenant, before, after }, `quota usage of tenant ${tenant} recomputed from the cluster`),
    onPass: (results) => {
      for (const r of results) deps.metrics.countReconcile(r.outcome);
      // The webhooks select a Tenant's namespaces by the label this keeps (SPEC 11.1).
      void labels.pass(AbortSignal.timeout(30_000)).then(
        ({ labelled, unlabelled, failed }) => {
          if (Object.keys(labelled).length + unlabelled.length > 0) deps.logger.info({ labelled, unlabelled }, 'namespace tenant labels updated');
          for (const f of failed) deps.logger.warn({ namespace: f.namespace, err: f.error }, `cannot label namespace ${f.namespace}; retrying next pass`);
        },
        (err: Error) => deps.logger.warn({ err: err.message }, 'namespace tenant labels not updated; retrying next pass'),
      );
    },
  });
  const labels = new NamespaceLabelKeeper(client, view);
  await view.start();
  reconciler.start();
  deps.metrics.onCollect(() => {
    for (const [kind, synced] of Object.entries(view.syncState())) deps.metrics.setCacheSynced(kind, synced);
    publishQuota(deps.metrics, view, ledger);
  });
  return {
    mode: 'live',
    view,
    ledger,
    setDefaultTenant: (c) => view.store.setDefaultTenant(c.defaultTenant),
    notReady: () => view.syncProblems(),
    conflicts: () => conflictsOf(view.store),
    stop: async () => {
      reconciler.stop();
      await view.stop();
    },
  };
}

async function clusterSetup(config: ServerConfig, env: NodeJS.ProcessEnv, deps: SetupDeps): Promise<ClusterSetup> {
  if (config.state !== undefined) return snapshotSetup(config.state, 'snapshot', config, deps);
  if (kubeconfigConfigured(config.kubeconfig, env)) return liveSetup(config, deps);
  return snapshotSetup(embeddedStateDir(), 'embedded', config, deps);
}

interface TlsSetup {
  pair: CertPair;
  source: string;
  clientCA: string | undefined;
  devCA: string | undefined;
}

async function tlsSetup(config: ServerConfig, logger: Logger, selfManaged: SelfManagedCertificates | undefined): Promise<TlsSetup> {
  let clientCA: string | undefined;
  if (config.tls.clientCAFile !== undefined) {
    try {
      clientCA = await readFile(config.tls.clientCAFile, 'utf8');
    } catch (err) {
      throw new ServeError(`cannot read the client CA ${config.tls.clientCAFile}: ${(err as Error).message}`);
    }
  }
  if (selfManaged) return { pair: await selfManaged.initialPair(), source: selfManaged.source, clientCA, devCA: undefined };
  const { certFile, keyFile } = config.tls;
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      return { pair: await readCertPair(certFile, keyFile), source: `files ${certFile}, ${keyFile}`, clientCA, devCA: undefined };
    } catch (err) {
      throw new ServeError((err as Error).message);
    }
  }
  const ca = await createCA({ commonName: 'tenantguard development CA', days: 30 });
  const serving = await createServingCert(ca, { service: 'tenantguard', namespace: config.namespace, days: 30 });
  logger.warn(
    { serial: serving.serial, notAfter: serving.notAfter.toISOString(), names: [...serving.dnsNames, ...serving.ipAddresses] },
    'no certificate configured (tls.certFile/tls.keyFile, --cert/--key): generated an in-memory development certificate; do not use it in a cluster',
  );
  return {
    pair: checkCertPair(serving.certPem, serving.keyPem),
    source: 'generated in memory (development)',
    clientCA,
    devCA: ca.certPem,
  };
}

/** Only an expired certificate makes a replica unready: nearing expiry is a metric, an alert and a log line (SPEC 11.1). */
function certReasons(pair: CertPair, now: number): string[] {
  return pair.notAfter.getTime() <= now ? [`serving certificate expired at ${pair.notAfter.toISOString()}`] : [];
}

function listenUrl(scheme: 'https' | 'http', address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

async function startMetricsServer(config: ServerConfig, metrics: Metrics, logger: Logger): Promise<HttpServer | undefined> {
  if (config.metrics.port === undefined) return undefined;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served on this port\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: Error) => {
        logger.error({ err }, 'rendering metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('rendering metrics failed; see the log\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ServeError(`metrics listener on ${config.listen.host}:${config.metrics.port}: ${err.message}`)));
    server.listen(config.metrics.port, config.listen.host, () => resolve());
  });
  return server;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const sources = { env, flags: opts.flags };
  const loaded = await loadConfig(sources);
  if (!loaded.ok) throw new ServeError(`invalid configuration:\n  ${loaded.errors.join('\n  ')}`, true);
  let config = loaded.config;
  const configFile = configFileOf(sources);

  const logger = createLogger({ level: config.logLevel, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const metrics = new Metrics();
  const selfManage = config.certificates.selfManage && config.state === undefined && kubeconfigConfigured(config.kubeconfig, env);
  if (config.certificates.selfManage && !selfManage) logger.warn('certificates.selfManage needs the live cluster (a kubeconfig, no --state); using the configured certificate files');
  let certManager: SelfManagedCertificates | undefined;
  try {
    certManager = selfManage ? selfManagedCertificates(config, env, logger, (next) => reloadCert(next), opts.certificateClock) : undefined;
  } catch (err) {
    throw new ServeError(`certificates: ${(err as Error).message}`);
  }
  const tls = await tlsSetup(config, logger, certManager);
  let pair = tls.pair;
  metrics.setCertExpiry(pair.notAfter);
  let tracing: Tracing;
  try {
    tracing = createTracing({ serviceName: 'tenantguard', env, ...(opts.traceExporter ? { exporter: opts.traceExporter } : {}) });
  } catch (err) {
    throw new ServeError((err as Error).message, true);
  }

  let cluster: ClusterSetup;
  try {
    cluster = await clusterSetup(config, env, { metrics, logger, tracing });
  } catch (err) {
    await tracing.shutdown();
    throw err;
  }
  const engine = new PolicyEngine([...MODULES], engineConfigOf(config), { view: cluster.view, ledger: cluster.ledger, tracer: tracing.tracer });

  let stopping = false;
  const readiness = (): Readiness => {
    const reasons = [...(stopping ? ['shutting down'] : []), ...certReasons(pair, Date.now()), ...cluster.notReady()];
    const details = cluster.conflicts();
    return { ready: reasons.length === 0, reasons, ...(details.length > 0 ? { details } : {}) };
  };

  const drain: DrainSignal = { draining: false };
  const app = buildApp({
    engine,
    drain,
    telemetry: { tracing, logger, metrics },
    bodyLimitBytes: config.bodyLimitBytes,
    https: { key: pair.key, cert: pair.cert, ...(tls.clientCA !== undefined ? { ca: tls.clientCA, requestCert: true } : {}) },
    readiness,
    ...(cluster.apply ? { onAdmitted: cluster.apply } : {}),
    serveMetrics: config.metrics.port === undefined,
  });
  let metricsServer: HttpServer | undefined;
  try {
    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (err) {
      throw new ServeError(`cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`);
    }
    metricsServer = await startMetricsServer(config, metrics, logger);
  } catch (err) {
    // What started before the failure is stopped, so an embedding process is left clean.
    await app.close();
    await cluster.stop();
    await tracing.shutdown();
    throw err;
  }

  const expiryWarning = new CertExpiryWarning({
    pair: () => pair,
    renewBeforeMs: config.certificates.renewBefore === undefined ? undefined : parseDuration(config.certificates.renewBefore),
    hint: certManager ? 'self-managed renewal is failing, see the certificate renewal log lines' : 'replace the certificate files (tenantguard certs, or cert-manager)',
    logger,
  });
  expiryWarning.start();
  function reloadCert(next: CertPair): void {
    if (next.cert === pair.cert && next.key === pair.key) return;
    // Only new handshakes use the new context; established connections keep theirs.
    app.server.setSecureContext({ key: next.key, cert: next.cert, ...(tls.clientCA !== undefined ? { ca: tls.clientCA } : {}), minVersion: 'TLSv1.2' });
    pair = next;
    metrics.setCertExpiry(next.notAfter);
    logger.info({ serial: next.serial, notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded');
    expiryWarning.check();
  }
  certManager?.start();
  let certWatcher: CertWatcher | undefined;
  if (!certManager && config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
    certWatcher = watchCertFiles({
      certFile: config.tls.certFile,
      keyFile: config.tls.keyFile,
      initial: pair,
      debounceMs: opts.watchDebounceMs,
      onChange: reloadCert,
      onError: (message) => logger.warn({ certFile: config.tls.certFile }, message),
    });
  }

  let configWatcher: ConfigWatcher | undefined;
  if (configFile !== undefined) {
    configWatcher = await watchConfig({
      file: configFile,
      sources,
      initial: config,
      logger,
      metrics: { configReload: (result) => metrics.countConfigReload(result) },
      debounceMs: opts.watchDebounceMs,
      onConfig(next, previous) {
        engine.setConfig(engineConfigOf(next));
        cluster.setDefaultTenant(next);
        logger.level = next.logLevel;
        config = next;
        const needRestart = changedFields(previous, next).filter((f) => RESTART_FIELDS.includes(f));
        if (needRestart.length > 0) logger.warn({ fields: needRestart }, `config fields ${needRestart.join(', ')} changed; they take effect after a restart`);
      },
    });
  }

  const url = listenUrl('https', app.server.address() as AddressInfo);
  const metricsUrl = metricsServer ? `${listenUrl('http', metricsServer.address() as AddressInfo)}/metrics` : undefined;
  logger.info(
    { address: url, mode: cluster.mode, ...(cluster.mode !== 'live' ? { state: config.state ?? embeddedStateDir() } : {}), cert: tls.source, metrics: metricsUrl ?? `${url}/metrics`, config: configFile },
    `tenantguard serving on ${url} (${cluster.mode} mode, certificate ${tls.source})`,
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Unready at once, before any await: the apiserver must stop sending here first.
      stopping = true;
      configWatcher?.close();
      certWatcher?.close();
      expiryWarning.stop();
      await certManager?.stop();
      await gracefulShutdown(app, { graceMs: config.shutdownGraceMs, markNotReady: () => (stopping = true), drain });
      if (metricsServer) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      await cluster.stop();
      await tracing.shutdown();
    })());

  return {
    app,
    url,
    metricsUrl,
    mode: cluster.mode,
    certSource: tls.source,
    devCA: tls.devCA,
    logger,
    metrics,
    config: () => config,
    readiness,
    stop,
  };
}

const USAGE = `Usage: tenantguard serve [options]

Runs the admission webhook: POST /mutate, POST /validate, GET /healthz, GET /readyz, GET /metrics.

Options:
  --config FILE        server config (YAML); reloaded when it changes
  --state DIR          serve from a snapshot of cluster state (YAML/JSON objects)
  --kubeconfig FILE    serve from the live cluster this kubeconfig points to
  --host HOST          listen address (default 0.0.0.0)
  --port N             HTTPS port (default 8443; 0 picks a free one)
  --cert FILE          serving certificate (PEM); reloaded when it changes
  --key FILE           its private key (PEM)
  --client-ca FILE     require client certificates issued by this CA (mutual TLS)
  --metrics-port N     serve /metrics on this plain-HTTP port instead of the HTTPS one
  --log-level LEVEL    fatal, error, warn, info, debug, trace or silent
  --namespace NAME     the webhook's own namespace (always exempt)
  -h, --help           show this help

Without --state, a kubeconfig (--kubeconfig, KUBECONFIG, or running in a pod) selects the live
cluster; with neither, the embedded example state is served. Without --cert/--key an in-memory
development certificate for localhost and 127.0.0.1 is generated.
Precedence: defaults < config file < environment < flags. Environment: ${CONFIG_ENV_VARS.join(', ')},
and the standard OTEL_* variables for tracing.`;

const FLAG_NAMES: Array<keyof ConfigFlags> = ['config', 'state', 'kubeconfig', 'host', 'port', 'cert', 'key', 'client-ca', 'metrics-port', 'log-level', 'namespace'];

export function flagsOf(values: CliValues): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const name of FLAG_NAMES) {
    const v = values[name];
    if (typeof v === 'string') flags[name] = v;
  }
  return flags;
}

export const serveCommand: CliCommand = {
  usage: USAGE,
  options: Object.fromEntries(FLAG_NAMES.map((name) => [name, { type: 'string' as const }])),
  async run(values, _positionals, io) {
    let server: RunningServer;
    try {
      server = await startServer({ flags: flagsOf(values) });
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      io.stderr(`tenantguard serve: ${err.message}`);
      return err.usage ? 2 : 1;
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    server.logger.info({ signal, graceMs: server.config().shutdownGraceMs }, `${signal} received, shutting down`);
    // A second signal while draining means the operator wants out now.
    process.once(signal, () => process.exit(1));
    await server.stop();
    server.logger.info('stopped');
    return 0;
  },
};
