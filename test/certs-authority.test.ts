import { createPrivateKey, X509Certificate } from 'node:crypto';
import t from 'tap';
import { createCA, createServingCert, loadCA, serviceDnsNames, splitPemBundle } from '../certs/authority.js';

t.test('a serving certificate chains to its CA and names the Service and localhost', async (t) => {
  const ca = await createCA({ commonName: 'test CA', days: 30 });
  const serving = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 10 });
  const caCert = new X509Certificate(ca.certPem);
  const leaf = new X509Certificate(serving.certPem);

  t.ok(caCert.ca, 'the CA certificate is a CA');
  t.notOk(leaf.ca, 'the serving certificate is not');
  t.ok(leaf.verify(caCert.publicKey), 'signed by the CA key');
  t.ok(leaf.checkIssued(caCert), 'issued by the CA');
  t.notOk(leaf.verify(new X509Certificate((await createCA()).certPem).publicKey), 'another CA does not verify it');

  for (const host of ['tenantguard', 'tenantguard.tenantguard', 'tenantguard.tenantguard.svc', 'tenantguard.tenantguard.svc.cluster.local', 'localhost']) {
    t.equal(leaf.checkHost(host, { subject: 'never' }), host, `SAN DNS ${host}`);
  }
  t.equal(leaf.checkHost('tenantguard.other.svc'), undefined, 'not valid for another namespace');
  t.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal(leaf.checkIP('::1'), '::1');
  t.equal(leaf.checkIP('10.0.0.1'), undefined);

  t.ok(leaf.checkPrivateKey(createPrivateKey(serving.keyPem)), 'the key belongs to the certificate');
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec');
  t.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'ECDSA P-256');
  t.match(serving.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  t.equal(leaf.serialNumber.toLowerCase(), serving.serial.toLowerCase());
  t.match(leaf.keyUsage ?? [], ['1.3.6.1.5.5.7.3.1'], 'extended key usage serverAuth');
  const days = (serving.notAfter.getTime() - Date.now()) / 86_400_000;
  t.ok(days > 9.9 && days <= 10, `valid for 10 days (${days.toFixed(3)})`);
  t.ok(new Date(leaf.validFrom).getTime() < Date.now() - 60_000, 'backdated for clock skew');
});

t.test('extra names and addresses are added to the defaults', async (t) => {
  const ca = await createCA();
  const serving = await createServingCert(ca, {
    service: 'tg',
    namespace: 'policy',
    extraDnsNames: ['tenantguard.example.com'],
    ipAddresses: ['10.96.0.20', '127.0.0.1'],
  });
  const leaf = new X509Certificate(serving.certPem);
  t.equal(leaf.checkHost('tenantguard.example.com'), 'tenantguard.example.com');
  t.equal(leaf.checkHost('tg.policy.svc'), 'tg.policy.svc');
  t.equal(leaf.checkIP('10.96.0.20'), '10.96.0.20');
  t.same(serving.ipAddresses, ['127.0.0.1', '::1', '10.96.0.20'], 'no duplicates');
  t.same(serviceDnsNames('tg', 'policy'), ['tg', 'tg.policy', 'tg.policy.svc', 'tg.policy.svc.cluster.local']);
});

t.test('a serving certificate never outlives its CA', async (t) => {
  const ca = await createCA({ days: 2 });
  const serving = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 365 });
  t.equal(serving.notAfter.getTime(), ca.cert.notAfter.getTime());
});

t.test('loadCA reuses a written CA and refuses a key that is not its own', async (t) => {
  const ca = await createCA();
  const loaded = await loadCA(ca.certPem, ca.keyPem);
  const serving = await createServingCert(loaded, { service: 'tenantguard', namespace: 'tenantguard' });
  t.ok(new X509Certificate(serving.certPem).verify(new X509Certificate(ca.certPem).publicKey), 'signs with the loaded key');
  const other = await createCA();
  await t.rejects(loadCA(ca.certPem, other.keyPem), { message: 'the CA key does not belong to the CA certificate' });
  await t.rejects(loadCA(serving.certPem, serving.keyPem), { message: 'the CA certificate is not a CA (basicConstraints CA:TRUE missing)' });
});

t.test('invalid validity is refused', async (t) => {
  await t.rejects(createCA({ days: 0 }), { message: 'certificate validity must be a whole number of days >= 1, got 0' });
});

t.test('splitPemBundle returns each certificate', async (t) => {
  const a = await createCA();
  const b = await createCA();
  const parts = splitPemBundle(`${a.certPem}\n${b.certPem}`);
  t.equal(parts.length, 2);
  t.equal(new X509Certificate(parts[1]!).fingerprint256, new X509Certificate(b.certPem).fingerprint256);
  t.same(splitPemBundle(''), []);
});
