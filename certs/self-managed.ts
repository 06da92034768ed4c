// Certificates that renew themselves, without cert-manager (SPEC 11.1). Every replica runs this
// loop; each round it tries to hold the Lease, and the holder reconciles the certificates in the
// cluster: the CA Secret (signing CA + the bundle of CAs still trusted), the webhooks' caBundle and
// the TLS Secret, in that order, so the apiserver trusts a CA before anything it signed is served.
// What to do comes from renewal-schedule.ts. Every replica then reads the TLS Secret through the
// API and hands a changed pair on, so new certificates are served within one check interval
// instead of after kubelet's Secret volume sync (60-90 s).
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { apiStatusOf, type ClusterApi } from './cluster-api.js';
import { createCA, createServingCert, loadCA, pemBundle, serviceDnsNames, splitPemBundle, type CertificateAuthority } from './authority.js';
import { checkCertPair, type CertPair } from './cert-watch.js';
import { certificateTimings, type CertificateSettings, type SelfManagedTimings } from './certificate-settings.js';
import { LeaseElection } from './lease.js';
import { plan, type ObservedCertificates } from './renewal-schedule.js';

interface SecretObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

interface WebhookConfiguration {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } & Record<string, unknown> } & Record<string, unknown>>;
}

/** Keys of the CA Secret. */
export const CA_SECRET_KEYS = { cert: 'ca.crt', key: 'ca.key', bundle: 'ca-bundle.crt' } as const;

export interface SelfManagedOptions {
  client: ClusterApi;
  /** The webhook's namespace: Secrets and Lease live there; the certificate names its Service there. */
  namespace: string;
  /** This replica's name, the Lease's holderIdentity. */
  identity: string;
  settings: CertificateSettings;
  timings: SelfManagedTimings;
  logger: Logger;
  clock?: () => Date;
  /** A new serving pair appeared in the TLS Secret (every replica, after initialPair()). */
  onPair(pair: CertPair): void;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function parseCerts(pems: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of splitPemBundle(pems)) {
    try {
      out.push(new X509Certificate(pem));
    } catch {
      // Whatever else a hand-edited bundle holds is dropped at the next write.
    }
  }
  return out;
}

export class SelfManagedCertificates {
  readonly election: LeaseElection;
  private readonly clock: () => Date;
  private readonly dnsNames: string[];
  private pair: CertPair | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wasLeader = false;
  private lastReloadProblem: string | undefined;

  constructor(private readonly opts: SelfManagedOptions) {
    this.clock = opts.clock ?? (() => new Date());
    this.election = new LeaseElection(opts.client, {
      namespace: opts.namespace,
      name: opts.settings.leaseName,
      identity: opts.identity,
      leaseDurationMs: opts.timings.leaseDurationMs,
      clock: this.clock,
    });
    this.dnsNames = [...serviceDnsNames(opts.settings.service, opts.namespace), ...opts.settings.dnsNames];
  }

  /** Where the serving certificate lives, for logs and the startup line. */
  get source(): string {
    return `Secret ${this.opts.namespace}/${this.opts.settings.secretName} (self-managed, lease ${this.opts.settings.leaseName})`;
  }

  /** The pair this replica last read from the TLS Secret. */
  current(): CertPair | undefined {
    return this.pair;
  }

  /**
   * Runs rounds until the TLS Secret holds a usable pair (the Lease holder issues one on a fresh
   * install) and returns it; onPair is not called for it.
   */
  async initialPair(): Promise<CertPair> {
    for (let round = 0; ; round++) {
      await this.tick(false);
      if (this.pair) return this.pair;
      if (this.stopped) throw new Error('stopped before a serving certificate was available');
      if (round % 10 === 0) {
        this.opts.logger.info({ secret: this.opts.settings.secretName, holder: this.election.currentHolder }, 'waiting for the Lease holder to issue the serving certificate');
      }
      await new Promise((resolve) => setTimeout(resolve, this.opts.timings.checkIntervalMs));
    }
  }

  /** Starts the periodic rounds (after initialPair()). */
  start(): void {
    const next = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = this.tick(true).finally(next);
      }, this.opts.timings.checkIntervalMs);
    };
    next();
  }

  /** Stops the rounds and gives the Lease up, so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    try {
      await this.election.release();
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'releasing the certificate renewal lease failed; another replica takes over when it expires');
    }
  }

  /** One round: hold the Lease if possible, reconcile when holding it, reload the TLS Secret. Never throws. */
  async tick(notify = true): Promise<void> {
    const log = this.opts.logger;
    let leader = false;
    try {
      leader = await this.election.tryAcquireOrRenew();
    } catch (err) {
      log.warn({ err: (err as Error).message, lease: this.opts.settings.leaseName }, 'certificate renewal lease: the API call failed; retrying');
    }
    if (leader !== this.wasLeader) {
      log.info({ lease: this.opts.settings.leaseName, identity: this.opts.identity }, leader ? 'holding the certificate renewal lease' : 'no longer holding the certificate renewal lease');
      this.wasLeader = leader;
    }
    if (leader) {
      try {
        await this.reconcile();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'certificate renewal failed; retrying at the next check');
      }
    }
    try {
      await this.reload(notify);
    } catch (err) {
      log.warn({ err: (err as Error).message, secret: this.opts.settings.secretName }, 'reading the serving certificate Secret failed; keeping the current certificate');
    }
  }

  private secretPath(name: string): string {
    return `/api/v1/namespaces/${this.opts.namespace}/secrets/${name}`;
  }

  private async getOptional<T>(path: string, operation: string): Promise<T | undefined> {
    try {
      return await this.opts.client.request<T>('GET', path, { operation });
    } catch (err) {
      if (apiStatusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async reload(notify: boolean): Promise<void> {
    const secret = await this.getOptional<SecretObject>(this.secretPath(this.opts.settings.secretName), 'get tls secret');
    const cert = decode(secret?.data, 'tls.crt');
    const key = decode(secret?.data, 'tls.key');
    if (!cert || !key) return;
    if (this.pair && this.pair.cert === cert && this.pair.key === key) return;
    let pair: CertPair;
    try {
      pair = checkCertPair(cert, key, 'tls.crt', 'tls.key');
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== this.lastReloadProblem) this.opts.logger.warn({ secret: this.opts.settings.secretName }, `${problem}; keeping the current certificate`);
      this.lastReloadProblem = problem;
      return;
    }
    this.lastReloadProblem = undefined;
    this.pair = pair;
    if (notify) this.opts.onPair(pair);
  }

  private webhookPaths(): Array<{ kind: string; path: string }> {
    const base = '/apis/admissionregistration.k8s.io/v1';
    const { mutating, validating } = this.opts.settings.webhookConfigurations;
    return [
      ...mutating.map((n) => ({ kind: 'MutatingWebhookConfiguration', path: `${base}/mutatingwebhookconfigurations/${n}` })),
      ...validating.map((n) => ({ kind: 'ValidatingWebhookConfiguration', path: `${base}/validatingwebhookconfigurations/${n}` })),
    ];
  }

  private async signerOf(secret: SecretObject | undefined): Promise<CertificateAuthority | undefined> {
    const cert = decode(secret?.data, CA_SECRET_KEYS.cert);
    const key = decode(secret?.data, CA_SECRET_KEYS.key);
    if (!cert || !key) return undefined;
    try {
      return await loadCA(cert, key);
    } catch (err) {
      this.opts.logger.warn({ secret: this.opts.settings.caSecretName, err: (err as Error).message }, 'the CA Secret holds no usable CA; a new CA is made');
      return undefined;
    }
  }

  /** The Lease holder's work: bring the CA Secret, the webhooks' caBundle and the TLS Secret to what plan() says. */
  private async reconcile(): Promise<void> {
    const { settings, timings, logger } = this.opts;
    const now = this.clock();
    const caSecret = await this.getOptional<SecretObject>(this.secretPath(settings.caSecretName), 'get ca secret');
    const tlsSecret = await this.getOptional<SecretObject>(this.secretPath(settings.secretName), 'get tls secret');
    const webhooks: Array<{ kind: string; path: string; config: WebhookConfiguration }> = [];
    for (const w of this.webhookPaths()) {
      const config = await this.getOptional<WebhookConfiguration>(w.path, `get ${w.kind.toLowerCase()}`);
      if (config) webhooks.push({ ...w, config });
      else logger.warn({ path: w.path }, `${w.kind} not found: its caBundle cannot be kept current (certificates.webhookConfigurations)`);
    }

    let signer = await this.signerOf(caSecret);
    const signerX509 = signer ? new X509Certificate(signer.certPem) : undefined;
    const caBundles = webhooks.flatMap((w) => (w.config.webhooks ?? []).map((h) => Buffer.from(h.clientConfig?.caBundle ?? '', 'base64').toString('utf8')));
    let serving: X509Certificate | undefined;
    const tlsCert = decode(tlsSecret?.data, 'tls.crt');
    const tlsKey = decode(tlsSecret?.data, 'tls.key');
    if (tlsCert && tlsKey) {
      try {
        checkCertPair(tlsCert, tlsKey);
        serving = new X509Certificate(tlsCert);
      } catch {
        // Unusable: plan() issues a new one.
      }
    }
    const observed: ObservedCertificates = {
      signer: signerX509,
      trusted: parseCerts(decode(caSecret?.data, CA_SECRET_KEYS.bundle) ?? ''),
      seen: [...parseCerts(decode(tlsSecret?.data, 'ca.crt') ?? ''), ...caBundles.flatMap(parseCerts)],
      serving,
      dnsNames: this.dnsNames,
      webhooksTrustSigner: signerX509 !== undefined && caBundles.every((b) => parseCerts(b).some((c) => c.fingerprint256 === signerX509.fingerprint256)),
    };
    const decision = plan(observed, timings.policy, now);

    if (decision.ca.action === 'create') {
      signer = await createCA({ days: timings.policy.caValidityDays, now });
      logger.info({ notAfter: signer.cert.notAfter.toISOString(), reason: decision.ca.reason }, 'created a new CA; it joins the caBundle before it signs anything');
    }
    const ca = signer!;
    const bundle = pemBundle([ca.certPem, ...decision.keepOlder.map((c) => c.toString())]);
    for (const c of decision.pruned) logger.info({ subject: c.subject, notAfter: c.validTo }, 'removed an old CA from the caBundle: it signs no serving certificate any more');

    if (decision.ca.action === 'create' || decode(caSecret?.data, CA_SECRET_KEYS.bundle) !== bundle) {
      await this.writeSecret(settings.caSecretName, caSecret, 'Opaque', { [CA_SECRET_KEYS.cert]: ca.certPem, [CA_SECRET_KEYS.key]: ca.keyPem, [CA_SECRET_KEYS.bundle]: bundle });
    }

    const caBundle = Buffer.from(bundle).toString('base64');
    // A failed patch does not hold the certificate back: moving the serving certificate to a new
    // CA waits for the webhooks to be seen trusting it (plan()), and nothing else changes the CA.
    for (const w of webhooks) {
      try {
        await this.patchCaBundle(w.kind, w.path, w.config, caBundle);
      } catch (err) {
        logger.warn({ kind: w.kind, name: w.config.metadata.name, err: (err as Error).message }, `setting the caBundle of ${w.kind} ${w.config.metadata.name} failed; retrying at the next check`);
      }
    }

    let certPem = tlsCert;
    let keyPem = tlsKey;
    if (decision.serving.action === 'issue') {
      const issued = await createServingCert(ca, {
        service: settings.service,
        namespace: this.opts.namespace,
        extraDnsNames: settings.dnsNames,
        days: timings.policy.validityDays,
        now,
      });
      certPem = issued.certPem;
      keyPem = issued.keyPem;
      logger.info({ serial: issued.serial, notAfter: issued.notAfter.toISOString(), reason: decision.serving.reason }, 'issued a new serving certificate');
    }
    if (certPem !== tlsCert || keyPem !== tlsKey || decode(tlsSecret?.data, 'ca.crt') !== bundle) {
      await this.writeSecret(settings.secretName, tlsSecret, 'kubernetes.io/tls', { 'tls.crt': certPem!, 'tls.key': keyPem!, 'ca.crt': bundle });
    }
  }

  /** Sets every webhook's caBundle; the resourceVersion read makes a concurrent edit a 409, retried next round. */
  private async patchCaBundle(kind: string, path: string, config: WebhookConfiguration, caBundle: string): Promise<void> {
    const hooks = config.webhooks ?? [];
    const stale = hooks.filter((h) => h.clientConfig?.caBundle !== caBundle).map((h) => h.name);
    if (stale.length === 0) return;
    const patch = {
      metadata: { resourceVersion: config.metadata.resourceVersion },
      webhooks: hooks.map((h) => ({ ...h, clientConfig: { ...h.clientConfig, caBundle } })),
    };
    await this.opts.client.request('PATCH', path, { body: patch, contentType: 'application/merge-patch+json', operation: `patch ${kind.toLowerCase()}` });
    this.opts.logger.info({ kind, name: config.metadata.name, webhooks: stale, cas: splitPemBundle(Buffer.from(caBundle, 'base64').toString('utf8')).length }, `set the caBundle of ${kind} ${config.metadata.name}`);
  }

  private async writeSecret(name: string, existing: SecretObject | undefined, type: string, data: Record<string, string>): Promise<void> {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: existing ? existing.metadata : { name, namespace: this.opts.namespace, labels: { 'app.kubernetes.io/name': 'tenantguard', 'app.kubernetes.io/managed-by': 'tenantguard' } },
      // The type of an existing Secret cannot change; keep it.
      type: existing?.type ?? type,
      data: encoded,
    };
    if (existing) await this.opts.client.request('PUT', this.secretPath(name), { body, operation: 'update secret' });
    else await this.opts.client.request('POST', `/api/v1/namespaces/${this.opts.namespace}/secrets`, { body, operation: 'create secret' });
  }
}

/**
 * The self-managed certificates for `serve`, when the config enables them and a cluster is
 * configured; the replica's identity is its pod name (POD_NAME, else HOSTNAME, which Kubernetes
 * sets to the pod name).
 */
export function selfManagedCertificates(
  config: { certificates: CertificateSettings; namespace: string },
  client: ClusterApi,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  onPair: (pair: CertPair) => void,
  clock?: () => Date,
): SelfManagedCertificates {
  const checked = certificateTimings(config.certificates);
  if (!checked.ok) throw new Error(checked.errors.join('; '));
  return new SelfManagedCertificates({
    client,
    namespace: config.namespace,
    identity: env.POD_NAME || env.HOSTNAME || hostname(),
    settings: config.certificates,
    timings: checked.timings,
    logger,
    onPair,
    ...(clock ? { clock } : {}),
  });
}
