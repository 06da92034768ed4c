// The renewal schedule as pure functions, and the `certificates` config section's checks.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { createCA, createServingCert } from '../certs/authority.js';
import { certificateTimings, DEFAULT_CERTIFICATES, parseDuration } from '../certs/certificate-settings.js';
import { plan, renewalTime, type CertificatePolicy, type ObservedCertificates } from '../certs/renewal-schedule.js';
import { buildConfig } from '../server/config-load.js';

const DAY = 86_400_000;
const POLICY: CertificatePolicy = { validityDays: 365, renewBeforeMs: undefined, caValidityDays: 1825, caRenewBeforeMs: undefined, caOverlapMs: DAY };
const NAMES = ['tenantguard.tenantguard.svc'];

t.test('renewalTime: a third of the validity before expiry by default, or renewBefore', async (t) => {
  const v = { notBefore: new Date(0), notAfter: new Date(300 * DAY) };
  t.equal(renewalTime(v).getTime(), 200 * DAY);
  t.equal(renewalTime(v, 30 * DAY).getTime(), 270 * DAY);
  t.equal(renewalTime(v, 400 * DAY).getTime(), 0, 'never before the certificate was issued');
});

t.test('plan: bootstrap, steady state, renewal, missing names', async (t) => {
  const start = new Date('2030-01-01T00:00:00Z');
  const at = (days: number): Date => new Date(start.getTime() + days * DAY);
  const ca = await createCA({ days: 1825, now: start });
  const cert = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 365, now: start });
  const signer = new X509Certificate(ca.certPem);
  const serving = new X509Certificate(cert.certPem);
  const observed: ObservedCertificates = { signer, trusted: [signer], seen: [], serving, dnsNames: NAMES, webhooksTrustSigner: true };

  const fresh = plan({ ...observed, signer: undefined, trusted: [], serving: undefined }, POLICY, start);
  t.match(fresh, { ca: { action: 'create', reason: 'there is no CA yet' }, serving: { action: 'issue' }, keepOlder: [], pruned: [] });
  t.match(plan(observed, POLICY, at(100)), { ca: { action: 'keep' }, serving: { action: 'keep' }, keepOlder: [] });
  t.match(plan(observed, POLICY, at(244)), { ca: { action: 'keep' }, serving: { action: 'issue', reason: /was due for renewal at 2030-09-01/ } });
  t.match(plan({ ...observed, dnsNames: [...NAMES, 'webhook.example.com'] }, POLICY, at(1)), { serving: { action: 'issue', reason: 'the serving certificate does not cover webhook.example.com' } });
  t.match(plan(observed, POLICY, at(1217)), { ca: { action: 'create', reason: /due for rotation/ }, serving: { action: 'issue' } }, 'the CA comes due after the serving certificate expired: both at once');
});

t.test('plan: after a CA rotation the serving certificate waits until the webhooks trust the new CA for the overlap', async (t) => {
  const start = new Date('2030-01-01T00:00:00Z');
  const at = (days: number): Date => new Date(start.getTime() + days * DAY);
  const oldCA = await createCA({ days: 1825, now: start });
  const newCA = await createCA({ days: 1825, now: at(1217) });
  const cert = await createServingCert(oldCA, { service: 'tenantguard', namespace: 'tenantguard', days: 365, now: at(1200) });
  const signer = new X509Certificate(newCA.certPem);
  const old = new X509Certificate(oldCA.certPem);
  const observed: ObservedCertificates = { signer, trusted: [signer, old], seen: [], serving: new X509Certificate(cert.certPem), dnsNames: NAMES, webhooksTrustSigner: false };
  t.match(plan(observed, POLICY, at(1219)), { serving: { action: 'keep' }, keepOlder: [old] }, 'the webhooks do not trust the new CA yet');
  t.match(plan({ ...observed, webhooksTrustSigner: true }, POLICY, at(1217.5)), { serving: { action: 'keep' } }, 'trusted, but within the overlap');
  const moved = plan({ ...observed, webhooksTrustSigner: true }, POLICY, at(1218.1));
  t.match(moved, { serving: { action: 'issue', reason: /moves to it/ }, keepOlder: [old], pruned: [] }, 'the old CA stays while the new certificate rolls out');
});

t.test('durations and the certificates section of the config', async (t) => {
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('1y'), 365 * DAY);
  t.equal(parseDuration('250ms'), 250);
  t.throws(() => parseDuration('1.5d'), { message: /not a duration: "1.5d"/ });
  const ok = certificateTimings(DEFAULT_CERTIFICATES);
  t.ok(ok.ok);
  if (ok.ok) t.same(ok.timings, { policy: POLICY, checkIntervalMs: 5000, leaseDurationMs: 15_000 });

  const errors = (certificates: Record<string, unknown>): string[] => {
    const r = buildConfig({ certificates }, {});
    return r.ok ? [] : r.errors;
  };
  t.same(errors({ selfManage: true, renewBefore: '30d', validity: '1y' }), []);
  t.same(errors({ validity: '12h' }), ['certificates.validity: must be a whole number of days, at least 1d, got 12h']);
  t.same(errors({ renewBefore: '400d' }), ['certificates.renewBefore: must be shorter than certificates.validity (365d), got 400d']);
  t.same(errors({ caOverlap: '400d' }), ['certificates.caOverlap: twice it must be shorter than the time between CA rotation and CA expiry (608d), got 400d']);
  t.same(errors({ checkInterval: '20ms' }), ['certificates.checkInterval: must be from 100ms to 10m, got 20ms']);
  t.same(errors({ validity: 'a year' }), ['certificates.validity: must be a duration such as 90s, 24h, 30d or 1y, got "a year"']);
  t.same(errors({ secretName: 'Bad_Name' }), ['certificates.secretName: must be an object name (DNS-1123 subdomain), got "Bad_Name"']);
  t.same(errors({ webhookConfigurations: { mutating: 'tenantguard' } }), ['certificates.webhookConfigurations.mutating: must be a list, got string']);
  t.same(errors({ renew: '1d' }), [`certificates.renew: unknown field (known fields: selfManage, secretName, caSecretName, service, dnsNames, validity, renewBefore, caValidity, caRenewBefore, caOverlap, checkInterval, leaseName, webhookConfigurations)`]);
});
