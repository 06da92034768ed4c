import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createCA, createServingCert } from '../certs/authority.js';
import { checkCertPair, readCertPair, watchCertFiles, type CertPair } from '../certs/cert-watch.js';
import { replaceFile, waitFor } from './helpers/files.js';

async function servingPair(): Promise<{ cert: string; key: string; serial: string }> {
  const ca = await createCA();
  const s = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard' });
  return { cert: s.certPem, key: s.keyPem, serial: s.serial };
}

t.test('readCertPair names the file that is wrong', async (t) => {
  const a = await servingPair();
  const b = await servingPair();
  const dir = t.testdir({ 'tls.crt': a.cert, 'tls.key': a.key, 'other.key': b.key, 'junk.crt': 'not a certificate' });
  const pair = await readCertPair(join(dir, 'tls.crt'), join(dir, 'tls.key'));
  t.equal(pair.serial.toLowerCase(), a.serial.toLowerCase());
  t.ok(pair.notAfter.getTime() > Date.now());
  await t.rejects(readCertPair(join(dir, 'tls.crt'), join(dir, 'other.key')), { message: `${join(dir, 'other.key')} is not the private key of ${join(dir, 'tls.crt')}` });
  await t.rejects(readCertPair(join(dir, 'junk.crt'), join(dir, 'tls.key')), { message: new RegExp(`^${join(dir, 'junk.crt')} is not a PEM certificate`) });
  await t.rejects(readCertPair(join(dir, 'missing.crt'), join(dir, 'tls.key')), { message: /^cannot read certificate .*missing\.crt: ENOENT/ });
  t.throws(() => checkCertPair(a.cert, 'garbage', 'tls.crt', 'tls.key'), { message: /^tls\.key is not a PEM private key: / });
});

t.test('a replaced pair is handed on only once key and certificate match', async (t) => {
  const first = await servingPair();
  const dir = t.testdir({ 'tls.crt': first.cert, 'tls.key': first.key });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const changes: CertPair[] = [];
  const errors: string[] = [];
  const watcher = watchCertFiles({
    certFile,
    keyFile,
    initial: await readCertPair(certFile, keyFile),
    debounceMs: 20,
    onChange: (p) => void changes.push(p),
    onError: (m) => void errors.push(m),
  });
  t.teardown(() => watcher.close());

  const second = await servingPair();
  await replaceFile(keyFile, second.key);
  await waitFor('mismatch reported', () => errors.length > 0);
  t.equal(changes.length, 0, 'a new key with the old certificate is not used');
  t.match(errors[0], /is not the private key of .*; keeping the current certificate$/);
  t.equal(watcher.pair().serial.toLowerCase(), first.serial.toLowerCase());

  await replaceFile(certFile, second.cert);
  await waitFor('new pair', () => changes.length === 1);
  t.equal(changes[0]?.serial.toLowerCase(), second.serial.toLowerCase());
  t.equal(changes[0]?.cert, await readFile(certFile, 'utf8'));
  t.equal(watcher.pair(), changes[0]);

  await replaceFile(certFile, second.cert);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(changes.length, 1, 'rewriting the same pair is not a change');
});
