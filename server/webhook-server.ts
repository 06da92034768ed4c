// The running webhook behind `tenantguard serve` (SPEC 3, 4, 9, 10): loads the config, sets up the
// cluster view (server/setup/), TLS (certificate files, self-managed, or an in-memory development
// certificate), starts the HTTPS webhook and the optional plain-HTTP metrics listener, and keeps
// config and certificate current by watching their files.
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { Decision } from '../policies/engine.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest } from '../policies/types.js';
import { createCA, createServingCert } from '../certs/authority.js';
import { checkCertPair, readCertPair, watchCertFiles, type CertPair, type CertWatcher } from '../certs/cert-watch.js';
import { parseDuration } from '../certs/certificate-settings.js';
import { CertExpiryWarning } from '../certs/expiry-warning.js';
import { selfManagedCertificates, type SelfManagedCertificates } from '../certs/self-managed.js';
import { buildApp, type AdmissionApp, type DrainSignal, type Readiness } from './app.js';
import { KubeClient, loadKubeConfig } from './cluster/kube-client.js';
import type { ServerConfig } from './config.js';
import { configFileOf, engineConfigOf, loadConfig, type ConfigFlags } from './config-load.js';
import { changedFields, watchConfig, type ConfigWatcher } from './config-watch.js';
import { setupCluster, viewModeOf, type ClusterSetup, type StateSetup, type ViewMode } from './setup/cluster-setup.js';
import { HEALTHY, readinessReply } from './http/status-routes.js';
import { SetupError } from './setup/setup-error.js';
import { gracefulShutdown } from './shutdown.js';
import { createLogger, type Logger } from './telemetry/logging.js';
import { Metrics } from './telemetry/metrics.js';
import { createTracing, type Tracing } from './telemetry/tracing.js';

/** Fields a reload cannot change in a running process; a change is logged as needing a restart. */
const RESTART_FIELDS: ReadonlyArray<keyof ServerConfig> = ['listen', 'tls', 'metrics', 'bodyLimitBytes', 'state', 'kubeconfig', 'quota', 'shutdownGraceMs', 'certificates'];

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
      throw new SetupError(`cannot read the client CA ${config.tls.clientCAFile}: ${(err as Error).message}`);
    }
  }
  if (selfManaged) return { pair: await selfManaged.initialPair(), source: selfManaged.source, clientCA, devCA: undefined };
  const { certFile, keyFile } = config.tls;
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      return { pair: await readCertPair(certFile, keyFile), source: `files ${certFile}, ${keyFile}`, clientCA, devCA: undefined };
    } catch (err) {
      throw new SetupError((err as Error).message);
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

async function startMetricsServer(config: ServerConfig, metrics: Metrics, logger: Logger, readiness: () => Readiness): Promise<HttpServer | undefined> {
  if (config.metrics.port === undefined) return undefined;
  const server = createServer((req, res) => {
    // /healthz and /readyz for the kubelet, which cannot pass mutual TLS on the webhook port.
    if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
      const { status, body } = req.url === '/healthz' ? { status: 200, body: HEALTHY } : readinessReply(readiness());
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics, /healthz and /readyz are served on this port\n');
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
    server.once('error', (err) => reject(new SetupError(`metrics listener on ${config.listen.host}:${config.metrics.port}: ${err.message}`)));
    server.listen(config.metrics.port, config.listen.host, () => resolve());
  });
  return server;
}

/** The served state follows what the webhook admits, as the apiserver would have persisted it. */
function persistAdmitted(persist: StateSetup['persist']): (request: AdmissionRequest, decision: Decision) => void {
  return (request, decision) => {
    // The validating webhook has the last word, so only its verdict changes the state; a
    // mutate-phase decision carries the patched object, a validate-phase one does not. The
    // ledger's observed usage follows the state, which releases the review's reservation.
    if (decision.patchedObject !== undefined) return;
    persist(request, request.object ?? undefined);
  };
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const sources = { env, flags: opts.flags };
  const loaded = await loadConfig(sources);
  if (!loaded.ok) throw new SetupError(`invalid configuration:\n  ${loaded.errors.join('\n  ')}`, true);
  let config = loaded.config;
  const configFile = configFileOf(sources);

  const logger = createLogger({ level: config.logLevel, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const metrics = new Metrics();
  const selfManage = config.certificates.selfManage && viewModeOf({ state: config.state, kubeconfig: config.kubeconfig, env, command: 'serve' }) === 'live';
  if (config.certificates.selfManage && !selfManage) logger.warn('certificates.selfManage needs the live cluster (a kubeconfig, no --state); using the configured certificate files');
  let certManager: SelfManagedCertificates | undefined;
  try {
    certManager = selfManage
      ? selfManagedCertificates(config, new KubeClient(loadKubeConfig(config.kubeconfig)), env, logger, (next) => reloadCert(next), opts.certificateClock)
      : undefined;
  } catch (err) {
    throw new SetupError(`certificates: ${(err as Error).message}`);
  }
  const tls = await tlsSetup(config, logger, certManager);
  let pair = tls.pair;
  metrics.setCertExpiry(pair.notAfter);
  let tracing: Tracing;
  try {
    tracing = createTracing({ serviceName: 'tenantguard', env, ...(opts.traceExporter ? { exporter: opts.traceExporter } : {}) });
  } catch (err) {
    throw new SetupError((err as Error).message, true);
  }

  let cluster: ClusterSetup;
  try {
    cluster = await setupCluster({
      config,
      env,
      state: config.state,
      kubeconfig: config.kubeconfig,
      modules: MODULES,
      for: { command: 'serve', telemetry: { metrics, logger, tracing } },
    });
  } catch (err) {
    await tracing.shutdown();
    throw err;
  }
  const engine = cluster.engine;

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
    unsynced: () => cluster.unsynced(),
    ...(cluster.mode !== 'live' ? { onAdmitted: persistAdmitted(cluster.persist) } : {}),
    serveMetrics: config.metrics.port === undefined,
  });
  let metricsServer: HttpServer | undefined;
  try {
    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (err) {
      throw new SetupError(`cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`);
    }
    metricsServer = await startMetricsServer(config, metrics, logger, readiness);
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
    { address: url, mode: cluster.mode, ...(cluster.mode !== 'live' ? { state: cluster.state } : {}), cert: tls.source, metrics: metricsUrl ?? `${url}/metrics`, config: configFile },
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
