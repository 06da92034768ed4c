// `tenantguard certs`: writes the webhook's CA, serving certificate and the caBundle for the
// webhook configurations into a directory (SPEC 9). An existing CA there is reused, so running it
// again renews only the serving certificate from that CA. --rotate-ca makes a new CA (its own
// subject) and puts it in the bundle next to the old one, but keeps serving the certificate the
// old CA signed: clients that still hold the old bundle keep verifying it until the new bundle has
// rolled out; the next plain run issues the serving certificate from the new CA, and
// --prune-old-cas drops the old CA once that has rolled out too.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { CliCommand } from './command.js';
import { createCA, createServingCert, loadCA, pemBundle, splitPemBundle, type CertificateAuthority, type ServingCert } from '../../certs/authority.js';

export interface CertsOptions {
  out: string;
  service: string;
  namespace: string;
  days: number;
  caDays: number;
  rotateCA: boolean;
  pruneOldCAs: boolean;
  dnsNames: string[];
  ipAddresses: string[];
}

export interface CertsResult {
  caSource: 'created' | 'reused' | 'rotated';
  /** `kept`: a rotation leaves the serving certificate the old CA signed in place. */
  serving: 'issued' | 'kept';
  serial: string;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  /** CA certificates in the bundle, newest first. */
  bundle: string[];
  files: string[];
}

export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  bundlePem: 'ca-bundle.crt',
  caBundle: 'caBundle',
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write-then-rename, so a server watching the directory never reads half a file. */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

function stillValid(pem: string, now: Date): boolean {
  try {
    return new Date(new X509Certificate(pem).validTo) > now;
  } catch {
    return false;
  }
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function existingCA(out: string): Promise<CertificateAuthority | undefined> {
  const certPem = await readOptional(join(out, CERT_FILES.caCert));
  const keyPem = await readOptional(join(out, CERT_FILES.caKey));
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    throw new Error(`${out} has ${certPem ? CERT_FILES.caCert : CERT_FILES.caKey} but not ${certPem ? CERT_FILES.caKey : CERT_FILES.caCert}; restore it or use an empty directory`);
  }
  try {
    return await loadCA(certPem, keyPem);
  } catch (err) {
    throw new Error(`cannot use the CA in ${out}: ${(err as Error).message}`);
  }
}

export async function issueCerts(opts: CertsOptions): Promise<CertsResult> {
  await mkdir(opts.out, { recursive: true });
  const previous = await existingCA(opts.out);
  const previousBundle = splitPemBundle((await readOptional(join(opts.out, CERT_FILES.bundlePem))) ?? '');
  let ca: CertificateAuthority;
  let caSource: CertsResult['caSource'];
  if (previous && !opts.rotateCA) {
    ca = previous;
    caSource = 'reused';
  } else {
    ca = await createCA({ days: opts.caDays });
    caSource = previous ? 'rotated' : 'created';
  }

  const now = new Date();
  const candidates = opts.pruneOldCAs ? [ca.certPem] : [ca.certPem, ...(previous ? [previous.certPem] : []), ...previousBundle];
  const seen = new Set<string>();
  const bundle = candidates.filter((pem) => {
    const fp = fingerprint(pem);
    if (seen.has(fp) || !stillValid(pem, now)) return false;
    seen.add(fp);
    return true;
  });

  const kept = caSource === 'rotated' ? await keptServingCert(opts.out, previous!, now) : undefined;
  const serving = kept ?? (await createServingCert(ca, {
    service: opts.service,
    namespace: opts.namespace,
    extraDnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
    days: opts.days,
  }));

  const bundlePem = pemBundle(bundle);
  const files: Array<[string, string, number]> = [
    [CERT_FILES.caCert, ca.certPem, 0o644],
    [CERT_FILES.caKey, ca.keyPem, 0o600],
    [CERT_FILES.bundlePem, bundlePem, 0o644],
    [CERT_FILES.caBundle, `${Buffer.from(bundlePem).toString('base64')}\n`, 0o644],
    // Key before certificate: a watching server reloads when the pair matches again.
    ...(kept ? [] : ([[CERT_FILES.key, serving.keyPem, 0o600], [CERT_FILES.cert, serving.certPem, 0o644]] as Array<[string, string, number]>)),
  ];
  for (const [name, text, mode] of files) await writeAtomic(join(opts.out, name), text, mode);

  return {
    caSource,
    serving: kept ? 'kept' : 'issued',
    serial: serving.serial,
    notAfter: serving.notAfter,
    dnsNames: serving.dnsNames,
    ipAddresses: serving.ipAddresses,
    bundle,
    files: files.map(([name]) => join(opts.out, name)),
  };
}

/**
 * The serving certificate a rotation leaves in place: the one in DIR when the old CA signed it and
 * it is still valid. Undefined when there is none worth keeping (then the new CA issues one: no
 * client can be relying on it).
 */
async function keptServingCert(out: string, oldCA: CertificateAuthority, now: Date): Promise<ServingCert | undefined> {
  const certPem = await readOptional(join(out, CERT_FILES.cert));
  const keyPem = await readOptional(join(out, CERT_FILES.key));
  if (certPem === undefined || keyPem === undefined) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return undefined;
  }
  const issuer = new X509Certificate(oldCA.certPem);
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey) || new Date(cert.validTo) <= now) return undefined;
  const names = (cert.subjectAltName ?? '').split(', ');
  return {
    certPem,
    keyPem,
    serial: cert.serialNumber,
    notAfter: new Date(cert.validTo),
    dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ipAddresses: names.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice(11)),
  };
}

type Values = Record<string, string | boolean | string[] | undefined>;

/** Checks the parsed flags; returns the options or the list of problems. */
export function certsOptionsOf(values: Values): { ok: true; options: CertsOptions } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const list = (k: string): string[] => (Array.isArray(values[k]) ? (values[k] as string[]) : []);
  const days = (k: string, fallback: number): number => {
    const raw = str(k);
    if (raw === undefined) return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > 36_500) errors.push(`--${k}: must be a whole number of days from 1 to 36500, got "${raw}"`);
    return Number(raw);
  };
  const out = str('out');
  if (!out) errors.push('--out: is required (the directory to write ca.crt, ca.key, tls.crt, tls.key and caBundle to)');
  const service = str('service') ?? 'tenantguard';
  const namespace = str('namespace') ?? 'tenantguard';
  if (!DNS_LABEL.test(service)) errors.push(`--service: must be a Service name (DNS-1123 label), got "${service}"`);
  if (!DNS_LABEL.test(namespace)) errors.push(`--namespace: must be a namespace name (DNS-1123 label), got "${namespace}"`);
  const dnsNames = list('dns');
  for (const d of dnsNames) if (!DNS_NAME.test(d)) errors.push(`--dns: must be a DNS name, got "${d}"`);
  const ipAddresses = list('ip');
  for (const ip of ipAddresses) if (isIP(ip) === 0) errors.push(`--ip: must be an IPv4 or IPv6 address, got "${ip}"`);
  const rotateCA = values['rotate-ca'] === true;
  const pruneOldCAs = values['prune-old-cas'] === true;
  if (rotateCA && pruneOldCAs) errors.push('--rotate-ca and --prune-old-cas: use one at a time (rotate, roll out, then prune)');
  const options = { out: out ?? '', service, namespace, days: days('days', 365), caDays: days('ca-days', 3650), rotateCA, pruneOldCAs, dnsNames, ipAddresses };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, options };
}

export const certsCommand: CliCommand = {
  usage: `Usage: tenantguard certs --out DIR [options]

Writes DIR/ca.crt, ca.key, tls.crt, tls.key, ca-bundle.crt and caBundle (base64 of ca-bundle.crt,
for the caBundle field of the webhook configurations). A CA already in DIR is reused, so running
it again renews only the serving certificate.

Options:
  --out DIR          directory to write to (created if missing)
  --service NAME     the webhook's Service name (default tenantguard)
  --namespace NAME   the webhook's namespace (default tenantguard)
  --days N           serving certificate validity in days (default 365)
  --ca-days N        validity of a newly created CA in days (default 3650)
  --dns NAME         extra DNS name for the serving certificate (repeatable)
  --ip ADDRESS       extra IP address for the serving certificate (repeatable)
  --rotate-ca        create a new CA; the bundle keeps the old CA next to the new one and the
                     serving certificate stays on the old CA until the next plain run
  --prune-old-cas    after a rotation has rolled out: the bundle keeps only the current CA
  -h, --help         show this help

The serving certificate covers <service>, <service>.<namespace>, <service>.<namespace>.svc,
<service>.<namespace>.svc.cluster.local, localhost, 127.0.0.1 and ::1.`,
  options: {
    out: { type: 'string' },
    service: { type: 'string' },
    namespace: { type: 'string' },
    days: { type: 'string' },
    'ca-days': { type: 'string' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    'rotate-ca': { type: 'boolean' },
    'prune-old-cas': { type: 'boolean' },
  },
  async run(values, _positionals, io) {
    const checked = certsOptionsOf(values);
    if (!checked.ok) {
      for (const e of checked.errors) io.stderr(`tenantguard certs: ${e}`);
      return 2;
    }
    let result: CertsResult;
    try {
      result = await issueCerts(checked.options);
    } catch (err) {
      io.stderr(`tenantguard certs: ${(err as Error).message}`);
      return 1;
    }
    io.stdout(`CA ${result.caSource}; caBundle holds ${result.bundle.length} CA certificate(s)`);
    if (result.serving === 'kept') {
      io.stdout(`serving certificate serial ${result.serial} kept (signed by the old CA, valid until ${result.notAfter.toISOString()})`);
      io.stdout('next: roll the new caBundle out to the webhook configurations, then run `tenantguard certs` again to issue the serving certificate from the new CA');
    } else {
      io.stdout(`serving certificate serial ${result.serial}, valid until ${result.notAfter.toISOString()}`);
    }
    io.stdout(`  names: ${[...result.dnsNames, ...result.ipAddresses].join(', ')}`);
    io.stdout(`wrote ${result.files.join(', ')}`);
    return 0;
  },
};
