// When self-managed certificates are renewed, rotated and pruned (SPEC 11.1): pure functions of the
// certificates found in the cluster, the policy and a clock. certs/self-managed.ts reads the
// state, asks plan() what to do and does it; nothing here touches the network or the real clock.
import { X509Certificate } from 'node:crypto';
import { BACKDATE_MS } from './authority.js';

export interface CertificatePolicy {
  /** Validity of a new serving certificate (whole days). */
  validityDays: number;
  /** Renew this long before expiry; undefined: when a third of the certificate's validity remains. */
  renewBeforeMs: number | undefined;
  caValidityDays: number;
  /** Rotate the CA this long before it expires; undefined: when a third of its validity remains. */
  caRenewBeforeMs: number | undefined;
  /**
   * How long a new CA is trusted before it signs the serving certificate, and how long the old CA
   * stays trusted after it stopped signing it: old and new CA overlap for about twice this.
   */
  caOverlapMs: number;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

function validityOf(cert: X509Certificate): Validity {
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

/**
 * When a certificate is due for renewal: renewBeforeMs before it expires, or by default when a
 * third of its validity remains (cert-manager's default, which leaves months to notice a renewal
 * that keeps failing), never before it was issued.
 */
export function renewalTime(cert: Validity, renewBeforeMs?: number): Date {
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  const before = renewBeforeMs ?? Math.floor(lifetime / 3);
  return new Date(Math.max(cert.notBefore.getTime(), cert.notAfter.getTime() - before));
}

/** When a certificate tenantguard made was issued (they are backdated a little for clock skew). */
export function issuedAt(cert: Validity): Date {
  return new Date(cert.notBefore.getTime() + BACKDATE_MS);
}

/** Whether `ca` signed `cert`: the issuer name matches and the signature verifies with its key. */
export function signedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

export interface ObservedCertificates {
  /** The CA tenantguard signs with (its key is in the CA Secret); undefined when there is none usable. */
  signer: X509Certificate | undefined;
  /** The CA bundle the CA Secret records: the signer and older CAs still trusted. */
  trusted: readonly X509Certificate[];
  /** CA certificates seen anywhere else (the TLS Secret's ca.crt, the webhooks' caBundle): where the serving certificate's issuer may be found when the CA Secret does not know it. */
  seen: readonly X509Certificate[];
  /** The serving certificate in the TLS Secret, undefined when it is missing or its key does not match. */
  serving: X509Certificate | undefined;
  /** DNS names the serving certificate must cover. */
  dnsNames: readonly string[];
  /** Every webhook entry's caBundle already held the signer when this check began (read before any patch). */
  webhooksTrustSigner: boolean;
}

export type CAAction = { action: 'keep' } | { action: 'create'; reason: string };
export type ServingAction = { action: 'keep' } | { action: 'issue'; reason: string };

export interface Plan {
  ca: CAAction;
  serving: ServingAction;
  /**
   * The CAs to trust after this plan, besides the signer (new or current), in the order found.
   * A CA leaves the bundle when it has expired, or when it has not signed the serving
   * certificate for caOverlap.
   */
  keepOlder: X509Certificate[];
  /** Older CAs this plan drops from the bundle, for the log. */
  pruned: X509Certificate[];
}

function dnsNamesOf(cert: X509Certificate): Set<string> {
  const names = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(', ')) if (part.startsWith('DNS:')) names.add(part.slice(4));
  return names;
}

function expired(cert: Validity, now: Date): boolean {
  return cert.notAfter.getTime() <= now.getTime();
}

function caDecision(signer: X509Certificate | undefined, policy: CertificatePolicy, now: Date): CAAction {
  if (!signer) return { action: 'create', reason: 'there is no CA yet' };
  const v = validityOf(signer);
  if (expired(v, now)) return { action: 'create', reason: `the CA expired at ${v.notAfter.toISOString()}` };
  const due = renewalTime(v, policy.caRenewBeforeMs);
  if (now >= due) return { action: 'create', reason: `the CA expires at ${v.notAfter.toISOString()} and was due for rotation at ${due.toISOString()}` };
  return { action: 'keep' };
}

function servingDecision(obs: ObservedCertificates, ca: CAAction, policy: CertificatePolicy, now: Date): ServingAction {
  const cert = obs.serving;
  if (!cert) return { action: 'issue', reason: 'there is no usable serving certificate' };
  const v = validityOf(cert);
  if (expired(v, now)) return { action: 'issue', reason: `the serving certificate expired at ${v.notAfter.toISOString()}` };
  const due = renewalTime(v, policy.renewBeforeMs);
  if (now >= due) return { action: 'issue', reason: `the serving certificate expires at ${v.notAfter.toISOString()} and was due for renewal at ${due.toISOString()}` };
  const names = dnsNamesOf(cert);
  const missing = obs.dnsNames.filter((n) => !names.has(n));
  if (missing.length > 0) return { action: 'issue', reason: `the serving certificate does not cover ${missing.join(', ')}` };
  // A CA created now is not trusted by anyone yet: the serving certificate moves to it later.
  if (ca.action === 'create' || !obs.signer || signedBy(cert, obs.signer)) return { action: 'keep' };
  const switchAt = issuedAt(validityOf(obs.signer)).getTime() + policy.caOverlapMs;
  if (obs.webhooksTrustSigner && now.getTime() >= switchAt) {
    return { action: 'issue', reason: 'the webhooks have trusted the new CA for the overlap period; the serving certificate moves to it' };
  }
  return { action: 'keep' };
}

export function plan(obs: ObservedCertificates, policy: CertificatePolicy, now: Date): Plan {
  const ca = caDecision(obs.signer, policy, now);
  const serving = servingDecision(obs, ca, policy, now);
  // The CA that will sign the serving certificate after this plan is the signer (or the new CA):
  // every other CA may only stay while it still signs the served certificate or within the overlap.
  const currentSigner = ca.action === 'keep' ? obs.signer : undefined;
  const servingAfter = serving.action === 'keep' ? obs.serving : undefined;
  const servingIssuedAt = servingAfter ? issuedAt(validityOf(servingAfter)).getTime() : now.getTime();
  const candidates = [...obs.trusted];
  const servingIssuer = obs.serving ? [...obs.trusted, ...obs.seen].find((c) => signedBy(obs.serving!, c)) : undefined;
  if (servingIssuer && !candidates.some((c) => c.fingerprint256 === servingIssuer.fingerprint256)) candidates.push(servingIssuer);
  if (ca.action === 'create' && obs.signer && !candidates.some((c) => c.fingerprint256 === obs.signer!.fingerprint256)) candidates.push(obs.signer);

  const keepOlder: X509Certificate[] = [];
  const pruned: X509Certificate[] = [];
  const fingerprints = new Set<string>();
  if (currentSigner) fingerprints.add(currentSigner.fingerprint256);
  for (const c of candidates) {
    if (fingerprints.has(c.fingerprint256)) continue;
    fingerprints.add(c.fingerprint256);
    const signsServing = servingAfter !== undefined && signedBy(servingAfter, c);
    const overlapOver = now.getTime() >= servingIssuedAt + policy.caOverlapMs;
    if (expired(validityOf(c), now) || (!signsServing && overlapOver)) pruned.push(c);
    else keepOlder.push(c);
  }
  return { ca, serving, keepOlder, pruned };
}
