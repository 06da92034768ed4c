// Server configuration (SPEC 4): the shape and its defaults. Loading, validation (ajv) and hot
// reload live beside it in config-load.ts and config-watch.ts.
import { DEFAULT_CERTIFICATES, type CertificateSettings } from '../certs/certificate-settings.js';
import type { Exemptions, ModulePolicy, ReviewDeadlines } from '../policies/engine.js';
import type { TenantSpec } from '../policies/types.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerConfig {
  listen: { host: string; port: number };
  tls: { certFile?: string; keyFile?: string; clientCAFile?: string };
  /** Plain-HTTP port for /metrics scraping; absent: /metrics is served on the HTTPS port only. */
  metrics: { port?: number };
  logLevel: LogLevel;
  bodyLimitBytes: number;
  /** Snapshot directory (SPEC 7). Absent: the live cluster when a kubeconfig is found, else the embedded default. */
  state?: string;
  kubeconfig?: string;
  /** The webhook's own namespace, exempt by default. */
  namespace: string;
  exemptions: Exemptions;
  modules: Record<string, ModulePolicy>;
  /**
   * How long a whole review may take per webhook, the modules' budgets included: below the webhook
   * configurations' timeoutSeconds (mutate 2 s, validate 3 s), leaving room for the network and TLS.
   */
  reviewDeadlineMs: ReviewDeadlines;
  defaultTenant: TenantSpec;
  kubevirt: { serviceAccounts: string[] };
  /** CDI's controller: the PVC it creates for a DataVolume is charged only what it adds to it. */
  cdi: { serviceAccounts: string[] };
  /** The quota ledger (SPEC 6.4): reservation lifetime and bound, and the reconcile period. */
  quota: { reservationTTLSeconds: number; maxReservationsPerTenant: number; reconcileIntervalSeconds: number; grantLeaseSeconds: number };
  /** Longest a SIGTERM waits for in-flight reviews before closing what is left. */
  shutdownGraceMs: number;
  /** Self-managed certificates (SPEC 11.1); off by default. */
  certificates: CertificateSettings;
}

export const DEFAULT_CONFIG: ServerConfig = {
  listen: { host: '0.0.0.0', port: 8443 },
  tls: {},
  metrics: {},
  logLevel: 'info',
  bodyLimitBytes: 3 * 1024 * 1024,
  namespace: 'tenantguard',
  exemptions: { namespaces: ['kube-system', 'kube-node-lease', 'tenantguard'], usernames: [], groups: [] },
  modules: {
    // fail: a namespace whose Tenant label cannot be computed must not be created unguarded.
    'namespace-label': { failureMode: 'fail', timeoutMs: 100, enabled: true },
    'secure-defaults': { failureMode: 'ignore', timeoutMs: 100, enabled: true },
    'launcher-stamp-mutate': { failureMode: 'fail', timeoutMs: 100, enabled: true },
    'pod-security': { failureMode: 'fail', timeoutMs: 100, enabled: true },
    'vm-security': { failureMode: 'fail', timeoutMs: 100, enabled: true },
    'network-policy': { failureMode: 'fail', timeoutMs: 1000, enabled: true },
    'launcher-stamp': { failureMode: 'fail', timeoutMs: 100, enabled: true },
    'tenant-quota': { failureMode: 'fail', timeoutMs: 2000, enabled: true },
  },
  reviewDeadlineMs: { mutate: 1500, validate: 2500 },
  defaultTenant: {
    podSecurity: { level: 'baseline', mode: 'warn' },
    networkPolicy: { mode: 'off' },
    vmSecurity: { mode: 'enforce', allowHostDevices: [], allowHookSidecars: false, allowDedicatedCpu: false },
  },
  kubevirt: { serviceAccounts: ['system:serviceaccount:kubevirt:kubevirt-controller'] },
  // CDI's operator deploys cdi-deployment under the cdi-sa service account in its install namespace
  // (kubevirt/containerized-data-importer pkg/operator/resources/cluster/controller.go).
  cdi: { serviceAccounts: ['system:serviceaccount:cdi:cdi-sa'] },
  quota: { reservationTTLSeconds: 120, maxReservationsPerTenant: 500, reconcileIntervalSeconds: 30, grantLeaseSeconds: 60 },
  shutdownGraceMs: 25_000,
  certificates: DEFAULT_CERTIFICATES,
};
