// Self-managed certificates (SPEC 11.1) against the fake apiserver: two replicas share one Lease,
// exactly one of them writes; the serving certificate is renewed on schedule and reaches both; a
// CA rotation puts old+new CA in every webhook's caBundle before the serving certificate moves to
// the new CA, and prunes the old one after the overlap; a caBundle reset by hand is repaired.
// The schedule runs on an injected clock; rounds are driven by hand (tick), so nothing sleeps.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { splitPemBundle } from '../certs/authority.js';
import type { KubeObject } from '../policies/types.js';
import { cluster, NS, webhookConfiguration, type Replica } from './helpers/self-managed-cluster.js';

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const fingerprints = (bundle: string): string[] => splitPemBundle(bundle).map(fingerprint);
const issuerIs = (certPem: string, caPem: string): boolean => {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
};
const logged = (r: Replica, msg: string): number => r.logs.filter((l) => l.msg === msg).length;

t.test('two replicas racing on a fresh install: exactly one holds the Lease and writes, both get the same certificate', async (t) => {
  const c = await cluster(t);
  const a = c.replica('tenantguard-a');
  const b = c.replica('tenantguard-b');
  const [pairA, pairB] = await Promise.all([a.certs.initialPair(), b.certs.initialPair()]);
  for (let i = 0; i < 5; i++) await Promise.all([a.certs.tick(), b.certs.tick()]);

  const holders = [a, b].filter((r) => r.certs.election.isLeader);
  t.equal(holders.length, 1, 'one holder');
  const [holder, other] = holders[0] === a ? [a, b] : [b, a];
  t.equal((c.api.get('coordination.k8s.io/v1', 'Lease', NS, 'tenantguard-cert-renewal') as any).spec.holderIdentity, holder === a ? 'tenantguard-a' : 'tenantguard-b');
  t.equal(logged(holder, 'issued a new serving certificate'), 1);
  t.equal(logged(other, 'issued a new serving certificate'), 0, 'the other replica never issues');
  t.equal(logged(other, 'created a new CA; it joins the caBundle before it signs anything'), 0);
  t.equal(c.writes(), 4, 'CA Secret, one caBundle patch per webhook configuration, TLS Secret; later rounds write nothing');
  t.equal(pairA.serial, pairB.serial, 'both serve the same certificate');

  const tls = c.api.get('v1', 'Secret', NS, 'tenantguard-tls') as { type: string };
  t.equal(tls.type, 'kubernetes.io/tls');
  const data = c.secretData('tenantguard-tls');
  const ca = c.secretData('tenantguard-ca');
  t.ok(issuerIs(data['tls.crt']!, ca['ca.crt']!), 'the serving certificate is signed by the CA in the CA Secret');
  t.same(fingerprints(data['ca.crt']!), [fingerprint(ca['ca.crt']!)], 'ca.crt of the TLS Secret is the CA bundle');
  t.same(c.caBundles(), [[fingerprint(ca['ca.crt']!)], [fingerprint(ca['ca.crt']!)], [fingerprint(ca['ca.crt']!)]], 'every webhook of both configurations trusts the CA');
  t.match(new X509Certificate(data['tls.crt']!).subjectAltName, /DNS:tenantguard\.tenantguard\.svc\b/);
});

t.test('the holder renews a certificate at its renewal time; the other replica reloads it; a dead holder is replaced after the lease duration', async (t) => {
  const c = await cluster(t);
  const a = c.replica('tenantguard-a');
  const b = c.replica('tenantguard-b');
  const first = await a.certs.initialPair();
  await b.certs.initialPair();
  t.ok(a.certs.election.isLeader);

  c.at(243);
  await a.certs.tick();
  await b.certs.tick();
  t.equal(logged(a, 'issued a new serving certificate'), 1, 'not yet: due when a third of 365 days remains');
  c.at(244);
  await a.certs.tick();
  t.equal(logged(a, 'issued a new serving certificate'), 2, 'renewed');
  t.match(a.logs.findLast((l) => l.msg === 'issued a new serving certificate'), { reason: /was due for renewal/ });
  t.equal(b.pairs.length, 0);
  await b.certs.tick();
  t.equal(b.pairs.length, 1, 'the other replica reads the new pair from the Secret');
  t.not(b.pairs[0]!.serial, first.serial);
  t.equal(b.pairs[0]!.serial, a.certs.current()!.serial);

  // The holder stops renewing without releasing (a crash): the other waits a lease duration (15 s) on its own clock.
  c.at(244 + 10 / 86_400);
  await b.certs.tick();
  t.notOk(b.certs.election.isLeader, 'the lease is still fresh');
  c.at(244 + 26 / 86_400);
  await b.certs.tick();
  t.ok(b.certs.election.isLeader, 'taken over after the lease expired');
  t.equal((c.api.get('coordination.k8s.io/v1', 'Lease', NS, 'tenantguard-cert-renewal') as any).spec.leaseTransitions, 1);
  await a.certs.tick();
  t.notOk(a.certs.election.isLeader, 'the old holder comes back as a follower');

  // A graceful stop hands the Lease over at the next round.
  await b.certs.stop();
  await a.certs.tick();
  t.ok(a.certs.election.isLeader, 'released lease taken at once');
});

t.test('CA rotation: new CA joins every caBundle first, the serving certificate moves after the overlap, the old CA is pruned after another', async (t) => {
  const c = await cluster(t, { validity: '30d', renewBefore: '10d', caValidity: '100d', caRenewBefore: '40d', caOverlap: '1d' });
  const a = c.replica('tenantguard-a');
  const b = c.replica('tenantguard-b');
  await a.certs.initialPair();
  await b.certs.initialPair();
  const ca1 = c.secretData('tenantguard-ca')['ca.crt']!;
  c.at(50);
  await a.certs.tick();
  const s2 = c.secretData('tenantguard-tls')['tls.crt']!;
  t.ok(issuerIs(s2, ca1), 'an expired serving certificate is replaced from the same CA');

  c.at(60.1);
  await a.certs.tick();
  const ca2 = c.secretData('tenantguard-ca')['ca.crt']!;
  t.not(fingerprint(ca2), fingerprint(ca1), 'a new CA at the CA renewal time');
  t.equal(c.secretData('tenantguard-tls')['tls.crt'], s2, 'the serving certificate stays on the old CA for now');
  const both = [fingerprint(ca2), fingerprint(ca1)];
  t.same(c.caBundles(), [both, both, both], 'every webhook trusts old and new CA');
  const rawBundle = Buffer.from((c.api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'tenantguard') as any).webhooks[0].clientConfig.caBundle, 'base64').toString();
  t.match(rawBundle, /-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----/, "each CA on its own lines, as Go's PEM decoder in the apiserver needs");
  t.same(fingerprints(c.secretData('tenantguard-tls')['ca.crt']!), both);
  t.same(fingerprints(c.secretData('tenantguard-ca')['ca-bundle.crt']!), both);

  c.at(60.9);
  await a.certs.tick();
  t.equal(c.secretData('tenantguard-tls')['tls.crt'], s2, 'within the overlap nothing is signed by the new CA');

  c.at(61.2);
  await a.certs.tick();
  const s3 = c.secretData('tenantguard-tls')['tls.crt']!;
  t.ok(issuerIs(s3, ca2), 'after the overlap the serving certificate is re-issued from the new CA');
  t.same(c.caBundles(), [both, both, both], 'the old CA stays trusted');
  await b.certs.tick();
  t.equal(b.pairs.at(-1)!.cert, s3, 'the other replica serves it');

  c.at(62.1);
  await a.certs.tick();
  t.same(c.caBundles(), [both, both, both], 'still within the overlap after the switch');
  c.at(62.3);
  await a.certs.tick();
  const only = [fingerprint(ca2)];
  t.same(c.caBundles(), [only, only, only], 'old CA pruned from every caBundle');
  t.same(fingerprints(c.secretData('tenantguard-tls')['ca.crt']!), only);
  t.equal(logged(a, 'removed an old CA from the caBundle: it signs no serving certificate any more'), 1);
  t.equal(c.secretData('tenantguard-tls')['tls.crt'], s3);
});

t.test('a caBundle reset by hand is repaired at the next round of the holder', async (t) => {
  const c = await cluster(t);
  const a = c.replica('tenantguard-a');
  const b = c.replica('tenantguard-b');
  await a.certs.initialPair();
  await b.certs.initialPair();
  const ca = fingerprint(c.secretData('tenantguard-ca')['ca.crt']!);
  const reset = webhookConfiguration('ValidatingWebhookConfiguration', ['validate.tenantguard.io', 'validate-vms.tenantguard.io']);
  (reset as any).webhooks[1].clientConfig.caBundle = Buffer.from('CA_BUNDLE_PLACEHOLDER').toString('base64');
  c.api.apply(reset);
  t.same(c.caBundles(), [[ca], [], []]);
  await b.certs.tick();
  t.same(c.caBundles(), [[ca], [], []], 'a replica without the Lease does not write');
  await a.certs.tick();
  t.same(c.caBundles(), [[ca], [ca], [ca]], 'repaired');
  t.match(a.logs.findLast((l) => l.msg === 'set the caBundle of ValidatingWebhookConfiguration tenantguard'), { webhooks: ['validate.tenantguard.io', 'validate-vms.tenantguard.io'] });
  t.equal(c.secretData('tenantguard-tls')['tls.crt'], a.certs.current()!.cert, 'the serving certificate is untouched');
});

t.test('a hand-made CA in the webhooks is kept until the serving certificate it signed is replaced', async (t) => {
  const c = await cluster(t, { caOverlap: '1d' });
  const { createCA, createServingCert } = await import('../certs/authority.js');
  const manual = await createCA({ commonName: 'hand-made' });
  const serving = await createServingCert(manual, { service: 'tenantguard', namespace: NS });
  c.api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tenantguard-tls', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(serving.certPem).toString('base64'), 'tls.key': Buffer.from(serving.keyPem).toString('base64') } } as KubeObject);
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    const obj = c.api.get('admissionregistration.k8s.io/v1', kind, undefined, 'tenantguard') as any;
    for (const w of obj.webhooks) w.clientConfig.caBundle = Buffer.from(manual.certPem).toString('base64');
    c.api.apply(obj);
  }
  const a = c.replica('tenantguard-a');
  const first = await a.certs.initialPair();
  t.equal(first.serial, serving.serial.toLowerCase(), 'the hand-made certificate keeps being served');
  const own = fingerprint(c.secretData('tenantguard-ca')['ca.crt']!);
  t.same(c.caBundles()[0], [own, fingerprint(manual.certPem)], 'own CA added next to the hand-made one');
  c.at(1.1);
  await a.certs.tick();
  t.ok(issuerIs(c.secretData('tenantguard-tls')['tls.crt']!, c.secretData('tenantguard-ca')['ca.crt']!), 'moved to the own CA after the overlap');
  c.at(2.2);
  await a.certs.tick();
  t.same(c.caBundles()[0], [own], 'the hand-made CA is pruned');
});

t.test('a caBundle that cannot be patched holds back the move to a new CA, never the certificate itself', async (t) => {
  const c = await cluster(t, { validity: '30d', renewBefore: '10d', caValidity: '100d', caRenewBefore: '40d', caOverlap: '1d' });
  let forbid = true;
  c.api.intercept = (req) =>
    forbid && req.method === 'PATCH' && req.path.includes('/validatingwebhookconfigurations/')
      ? { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'forbidden' } }
      : undefined;
  const a = c.replica('tenantguard-a');
  const first = await a.certs.initialPair();
  t.ok(first, 'the serving certificate is issued although one configuration cannot be patched');
  t.ok(a.logs.some((l) => l.level === 'warn' && l.msg === 'setting the caBundle of ValidatingWebhookConfiguration tenantguard failed; retrying at the next check'));
  const ca1 = c.secretData('tenantguard-ca')['ca.crt']!;

  c.at(50);
  await a.certs.tick();
  c.at(60.1);
  await a.certs.tick();
  c.at(61.2);
  await a.certs.tick();
  t.ok(issuerIs(c.secretData('tenantguard-tls')['tls.crt']!, ca1), 'the serving certificate stays on the old CA while a webhook does not trust the new one');
  forbid = false;
  c.at(61.3);
  await a.certs.tick();
  t.ok(issuerIs(c.secretData('tenantguard-tls')['tls.crt']!, ca1), 'patched in this round; trust is confirmed by reading it back next round');
  c.at(61.4);
  await a.certs.tick();
  t.ok(issuerIs(c.secretData('tenantguard-tls')['tls.crt']!, c.secretData('tenantguard-ca')['ca.crt']!), 'then it moves');
});
