// The `certificates` section of the server config (SPEC 11.1): whether tenantguard manages its own
// CA and serving certificate in the cluster, where it keeps them and on what schedule. Its JSON
// Schema piece is validated with the rest of the config (server/config-load.ts); the checks that
// relate one field to another are here, with the durations turned into a CertificatePolicy.
import type { CertificatePolicy } from './renewal-schedule.js';

export interface CertificateSettings {
  /** Live mode only: issue, renew and rotate the certificates in the cluster (no cert-manager). */
  selfManage: boolean;
  /** kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt (the CA bundle), in the webhook's namespace. */
  secretName: string;
  /** Secret holding the signing CA (ca.crt, ca.key) and the bundle of CAs still trusted (ca-bundle.crt). */
  caSecretName: string;
  /** The webhook's Service: the serving certificate covers its in-cluster DNS names. */
  service: string;
  /** Extra DNS names for the serving certificate. */
  dnsNames: string[];
  /** Durations: a whole number followed by ms, s, m, h, d or y (365 days). */
  validity: string;
  renewBefore?: string;
  caValidity: string;
  caRenewBefore?: string;
  caOverlap: string;
  /** How often every replica reads the Lease and the Secret; the Lease lasts three times this. */
  checkInterval: string;
  leaseName: string;
  /** Webhook configurations whose every webhook's clientConfig.caBundle is kept equal to the CA bundle. */
  webhookConfigurations: { mutating: string[]; validating: string[] };
}

export const DEFAULT_CERTIFICATES: CertificateSettings = {
  selfManage: false,
  secretName: 'tenantguard-tls',
  caSecretName: 'tenantguard-ca',
  service: 'tenantguard',
  dnsNames: [],
  validity: '365d',
  caValidity: '1825d',
  caOverlap: '24h',
  checkInterval: '5s',
  leaseName: 'tenantguard-cert-renewal',
  webhookConfigurations: { mutating: ['tenantguard'], validating: ['tenantguard'] },
};

const DURATION = '^[0-9]{1,9}(ms|s|m|h|d|y)$';
const duration = { type: 'string', pattern: DURATION, description: 'a duration such as 90s, 24h, 30d or 1y' };
const objectName = { type: 'string', pattern: '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', maxLength: 253, description: 'an object name (DNS-1123 subdomain)' };
const names = { type: 'array', uniqueItems: true, items: objectName };

/** JSON Schema of the `certificates` config section. */
export const certificatesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['selfManage', 'secretName', 'caSecretName', 'service', 'dnsNames', 'validity', 'caValidity', 'caOverlap', 'checkInterval', 'leaseName', 'webhookConfigurations'],
  properties: {
    selfManage: { type: 'boolean' },
    secretName: objectName,
    caSecretName: objectName,
    service: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'a Service name (DNS-1123 label)' },
    dnsNames: { type: 'array', items: { type: 'string', pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', description: 'a DNS name' } },
    validity: duration,
    renewBefore: duration,
    caValidity: duration,
    caRenewBefore: duration,
    caOverlap: duration,
    checkInterval: duration,
    leaseName: objectName,
    webhookConfigurations: {
      type: 'object',
      additionalProperties: false,
      required: ['mutating', 'validating'],
      properties: { mutating: names, validating: names },
    },
  },
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };
const DAY_MS = 86_400_000;

/** Milliseconds of a duration the schema admitted (`90s`, `24h`, `30d`, `1y`). */
export function parseDuration(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d|y)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (a whole number followed by ms, s, m, h, d or y)`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export interface SelfManagedTimings {
  policy: CertificatePolicy;
  checkIntervalMs: number;
  leaseDurationMs: number;
}

/** The policy and timings of valid settings, or what is wrong with them (paths start with `certificates.`). */
export function certificateTimings(s: CertificateSettings): { ok: true; timings: SelfManagedTimings } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const validityMs = parseDuration(s.validity);
  const caValidityMs = parseDuration(s.caValidity);
  for (const [field, ms] of [['validity', validityMs], ['caValidity', caValidityMs]] as const) {
    if (ms < DAY_MS || ms % DAY_MS !== 0) errors.push(`certificates.${field}: must be a whole number of days, at least 1d, got ${s[field]}`);
  }
  const renewBeforeMs = s.renewBefore === undefined ? undefined : parseDuration(s.renewBefore);
  const caRenewBeforeMs = s.caRenewBefore === undefined ? undefined : parseDuration(s.caRenewBefore);
  if (renewBeforeMs !== undefined && renewBeforeMs >= validityMs) {
    errors.push(`certificates.renewBefore: must be shorter than certificates.validity (${s.validity}), got ${s.renewBefore}`);
  }
  if (caRenewBeforeMs !== undefined && caRenewBeforeMs >= caValidityMs) {
    errors.push(`certificates.caRenewBefore: must be shorter than certificates.caValidity (${s.caValidity}), got ${s.caRenewBefore}`);
  }
  const caOverlapMs = parseDuration(s.caOverlap);
  // The old CA must still be valid when the overlap ends, twice over: before and after the switch.
  const caRotationLead = caRenewBeforeMs ?? Math.floor(caValidityMs / 3);
  if (2 * caOverlapMs >= caRotationLead) {
    errors.push(`certificates.caOverlap: twice it must be shorter than the time between CA rotation and CA expiry (${Math.floor(caRotationLead / DAY_MS)}d), got ${s.caOverlap}`);
  }
  const checkIntervalMs = parseDuration(s.checkInterval);
  if (checkIntervalMs < 100 || checkIntervalMs > 600_000) errors.push(`certificates.checkInterval: must be from 100ms to 10m, got ${s.checkInterval}`);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    timings: {
      policy: { validityDays: validityMs / DAY_MS, renewBeforeMs, caValidityDays: caValidityMs / DAY_MS, caRenewBeforeMs, caOverlapMs },
      checkIntervalMs,
      leaseDurationMs: 3 * checkIntervalMs,
    },
  };
}
