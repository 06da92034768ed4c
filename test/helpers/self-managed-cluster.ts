// Self-managed certificates against the fake apiserver, on an injected clock: the webhook
// configurations to keep current, replicas made on demand, and what the cluster holds.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { splitPemBundle } from '../../certs/authority.js';
import type { CertPair } from '../../certs/cert-watch.js';
import { certificateTimings, DEFAULT_CERTIFICATES, type CertificateSettings } from '../../certs/certificate-settings.js';
import { SelfManagedCertificates } from '../../certs/self-managed.js';
import { KubeClient, loadKubeConfig } from '../../server/cluster/kube-client.js';
import type { KubeObject } from '../../policies/types.js';
import { createLogger } from '../../server/telemetry/logging.js';
import { FakeApiServer } from './fake-apiserver.js';

export const DAY = 86_400_000;
export const NS = 'tenantguard';

export interface Replica {
  certs: SelfManagedCertificates;
  logs: Array<Record<string, any>>;
  pairs: CertPair[];
}

export interface Cluster {
  api: FakeApiServer;
  replica(identity: string): Replica;
  /** Moves the injected clock to `days` after the start. */
  at(days: number): void;
  secretData(name: string): Record<string, string>;
  caBundles(): string[][];
  writes(): number;
}

export function webhookConfiguration(kind: string, hooks: string[]): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind,
    metadata: { name: 'tenantguard' },
    webhooks: hooks.map((name) => ({
      name,
      admissionReviewVersions: ['v1'],
      sideEffects: 'NoneOnDryRun',
      clientConfig: { service: { namespace: NS, name: 'tenantguard', path: '/validate' }, caBundle: '' },
    })),
  } as KubeObject;
}

/**
 * @param webhooks the webhook configurations in the cluster (default: one mutating, one validating
 * with two webhooks, all named tenantguard, with an empty caBundle).
 */
export async function cluster(t: Test, overrides: Partial<CertificateSettings> = {}, webhooks?: KubeObject[]): Promise<Cluster> {
  const api = await FakeApiServer.start({ certificates: true, kubevirt: false });
  const dir = await mkdtemp(join(tmpdir(), 'tenantguard-certs-'));
  const kubeconfig = await api.writeKubeconfig(dir);
  t.teardown(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const config of webhooks ?? [
    webhookConfiguration('MutatingWebhookConfiguration', ['mutate.tenantguard.io']),
    webhookConfiguration('ValidatingWebhookConfiguration', ['validate.tenantguard.io', 'validate-vms.tenantguard.io']),
  ]) api.apply(config);
  const settings = { ...DEFAULT_CERTIFICATES, selfManage: true, ...overrides };
  const checked = certificateTimings(settings);
  if (!checked.ok) throw new Error(checked.errors.join('; '));
  const start = Date.now();
  let offset = 0;
  const clock = (): Date => new Date(start + offset);
  return {
    api,
    replica(identity) {
      const logs: Array<Record<string, any>> = [];
      const pairs: CertPair[] = [];
      const certs = new SelfManagedCertificates({
        client: new KubeClient(loadKubeConfig(kubeconfig)),
        namespace: NS,
        identity,
        settings,
        timings: checked.timings,
        logger: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line)) } }),
        clock,
        onPair: (p) => void pairs.push(p),
      });
      return { certs, logs, pairs };
    },
    at(days) {
      offset = days * DAY;
    },
    secretData(name) {
      const data = (api.get('v1', 'Secret', NS, name) as { data?: Record<string, string> } | undefined)?.data ?? {};
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    },
    caBundles() {
      return ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].flatMap((kind) =>
        ((api.get('admissionregistration.k8s.io/v1', kind, undefined, 'tenantguard') as any).webhooks as Array<{ clientConfig: { caBundle?: string } }>).map((w) =>
          splitPemBundle(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')).map((pem) => new X509Certificate(pem).fingerprint256),
        ),
      );
    },
    writes() {
      return api.requests.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && !r.path.includes('/leases')).length;
    },
  };
}

