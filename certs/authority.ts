// A small certificate authority for the webhook (SPEC 9): a CA and a serving certificate for the
// in-cluster Service names (and localhost for development). ECDSA P-256, PEM in and out.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
  type JsonGeneralName,
} from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates are backdated by this, so a node whose clock is a little behind still accepts a fresh one. */
export const BACKDATE_MS = 5 * 60_000;

export interface CertificateAuthority {
  cert: X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
}

export interface ServingCert {
  certPem: string;
  keyPem: string;
  serial: string;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
}

export interface CAOptions {
  commonName?: string;
  days?: number;
  /** When the certificate is issued (default: now); self-management runs on an injectable clock. */
  now?: Date;
}

export interface ServingCertOptions {
  service: string;
  namespace: string;
  extraDnsNames?: string[];
  ipAddresses?: string[];
  days?: number;
  now?: Date;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function validity(days: number, at: Date | undefined): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`certificate validity must be a whole number of days >= 1, got ${days}`);
  const now = (at ?? new Date()).getTime();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

/**
 * A CA's subject names when it was made, to the second, plus a random suffix: two CAs, say old and
 * new during a rotation made the same day, never share a subject (clients that index their trust
 * by subject, and people reading a bundle, tell them apart).
 */
function defaultCAName(now: Date): string {
  return `tenantguard-ca-${now.toISOString().replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

export async function createCA(opts: CAOptions = {}): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await X509CertificateGenerator.createSelfSigned({
    name: `CN=${opts.commonName ?? defaultCAName(opts.now ?? new Date())}`,
    keys,
    signingAlgorithm: SIGNING,
    ...validity(opts.days ?? 3650, opts.now),
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Loads a CA written by `tenantguard certs` (ca.crt + PKCS#8 ca.key), checking they belong together. */
export async function loadCA(certPem: string, keyPemText: string): Promise<CertificateAuthority> {
  const cert = new X509Certificate(certPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', PemConverter.decodeFirst(keyPemText), ALGORITHM, true, ['sign']);
  const publicKey = await cert.publicKey.export(ALGORITHM, ['verify']);
  const probe = new TextEncoder().encode('tenantguard');
  const signature = await webcrypto.subtle.sign(SIGNING, privateKey, probe);
  if (!(await webcrypto.subtle.verify(SIGNING, publicKey, signature, probe))) {
    throw new Error('the CA key does not belong to the CA certificate');
  }
  const basic = cert.getExtension(BasicConstraintsExtension);
  if (!basic?.ca) throw new Error('the CA certificate is not a CA (basicConstraints CA:TRUE missing)');
  return { cert, keys: { privateKey, publicKey }, certPem: cert.toString('pem'), keyPem: keyPemText };
}

/** `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`: how the apiserver may call it. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

const LOCAL_DNS = ['localhost'];
const LOCAL_IPS = ['127.0.0.1', '::1'];

interface LeafOptions {
  subject: string;
  usage: ExtendedKeyUsage;
  names: JsonGeneralName[];
  days: number;
  now?: Date;
}

async function issueLeaf(ca: CertificateAuthority, opts: LeafOptions): Promise<{ cert: X509Certificate; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { notBefore, notAfter } = validity(opts.days, opts.now);
  // A leaf must not outlive the CA that signs it: peers would reject it at that point anyway.
  const until = notAfter > ca.cert.notAfter ? ca.cert.notAfter : notAfter;
  const cert = await X509CertificateGenerator.create({
    subject: opts.subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING,
    notBefore,
    notAfter: until,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([opts.usage]),
      ...(opts.names.length > 0 ? [new SubjectAlternativeNameExtension(opts.names)] : []),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert, keyPem: await keyPem(keys.privateKey) };
}

export async function createServingCert(ca: CertificateAuthority, opts: ServingCertOptions): Promise<ServingCert> {
  const dnsNames = [...new Set([...serviceDnsNames(opts.service, opts.namespace), ...LOCAL_DNS, ...(opts.extraDnsNames ?? [])])];
  const ipAddresses = [...new Set([...LOCAL_IPS, ...(opts.ipAddresses ?? [])])];
  const names: JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const { cert, keyPem } = await issueLeaf(ca, {
    subject: `CN=${opts.service}.${opts.namespace}.svc`,
    usage: ExtendedKeyUsage.serverAuth,
    names,
    days: opts.days ?? 365,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { certPem: cert.toString('pem'), keyPem, serial: cert.serialNumber, notAfter: cert.notAfter, dnsNames, ipAddresses };
}

/** A client certificate for mutual TLS (e.g. the kube-apiserver calling the webhook). */
export async function createClientCert(ca: CertificateAuthority, opts: { commonName: string; days?: number }): Promise<{ certPem: string; keyPem: string }> {
  const { cert, keyPem } = await issueLeaf(ca, { subject: `CN=${opts.commonName}`, usage: ExtendedKeyUsage.clientAuth, names: [], days: opts.days ?? 365 });
  return { certPem: cert.toString('pem'), keyPem };
}

/** Joins PEM certificates into a bundle, each on its own lines: OpenSSL reads nothing from '-----END...----------BEGIN' (checked), and the apiserver's Go decoder wants line breaks too. */
export function pemBundle(pems: readonly string[]): string {
  return pems.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
}

/** Splits a PEM bundle into its certificates (PEM each). */
export function splitPemBundle(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => `${pem}\n`) ?? [];
}
