import { X509Certificate } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { splitPemBundle } from '../certs/authority.js';
import { main } from '../server/commands/cli.js';

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
}

async function certs(...args: string[]): Promise<Run> {
  const run: Run = { code: -1, stdout: [], stderr: [] };
  run.code = await main(['certs', ...args], { stdout: (l) => run.stdout.push(l), stderr: (l) => run.stderr.push(l) });
  return run;
}

const read = (dir: string, name: string): Promise<string> => readFile(join(dir, name), 'utf8');

t.test('writes a CA, a serving certificate it signed, and the caBundle', async (t) => {
  const dir = t.testdir({});
  const run = await certs('--out', dir, '--service', 'webhook', '--namespace', 'policy', '--days', '30', '--ip', '10.0.0.7');
  t.equal(run.code, 0, run.stderr.join('\n'));
  t.match(run.stdout[0], /^CA created; caBundle holds 1 CA certificate/);

  const ca = new X509Certificate(await read(dir, 'ca.crt'));
  const leaf = new X509Certificate(await read(dir, 'tls.crt'));
  t.ok(leaf.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
  t.equal(leaf.checkHost('webhook.policy.svc'), 'webhook.policy.svc');
  t.equal(leaf.checkIP('10.0.0.7'), '10.0.0.7');
  const bundlePem = await read(dir, 'ca-bundle.crt');
  t.equal(Buffer.from((await read(dir, 'caBundle')).trim(), 'base64').toString(), bundlePem, 'caBundle is base64 of the PEM bundle');
  t.same(splitPemBundle(bundlePem).map((p) => new X509Certificate(p).fingerprint256), [ca.fingerprint256]);
  t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600, 'private keys are readable by the owner only');
  t.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600);
});

t.test('a second run reuses the CA and renews only the serving certificate', async (t) => {
  const dir = t.testdir({});
  t.equal((await certs('--out', dir)).code, 0);
  const caBefore = await read(dir, 'ca.crt');
  const leafBefore = new X509Certificate(await read(dir, 'tls.crt'));
  const run = await certs('--out', dir);
  t.equal(run.code, 0);
  t.match(run.stdout[0], /^CA reused/);
  t.equal(await read(dir, 'ca.crt'), caBefore, 'same CA');
  const leafAfter = new X509Certificate(await read(dir, 'tls.crt'));
  t.not(leafAfter.serialNumber, leafBefore.serialNumber, 'new serving certificate');
  t.ok(leafAfter.verify(new X509Certificate(caBefore).publicKey), 'signed by the same CA');
});

t.test('--rotate-ca: the bundle gets a new CA with its own subject first; the serving certificate moves to it only at the next run', async (t) => {
  const dir = t.testdir({});
  t.equal((await certs('--out', dir)).code, 0);
  const oldCA = new X509Certificate(await read(dir, 'ca.crt'));
  const oldServing = await read(dir, 'tls.crt');

  const run = await certs('--out', dir, '--rotate-ca');
  t.equal(run.code, 0, run.stderr.join('\n'));
  t.match(run.stdout[0], /^CA rotated; caBundle holds 2 CA certificate/);
  t.match(run.stdout[1], /^serving certificate serial \S+ kept \(signed by the old CA/);
  const newCA = new X509Certificate(await read(dir, 'ca.crt'));
  t.not(newCA.fingerprint256, oldCA.fingerprint256);
  t.not(newCA.subject, oldCA.subject, 'old and new CA have distinct subjects (both made today)');
  t.equal(await read(dir, 'tls.crt'), oldServing, 'the serving certificate is still the one the old CA signed');

  const decoded = Buffer.from((await read(dir, 'caBundle')).trim(), 'base64').toString();
  const bundle = splitPemBundle(decoded).map((p) => new X509Certificate(p));
  t.same(bundle.map((c) => c.fingerprint256), [newCA.fingerprint256, oldCA.fingerprint256], 'new CA first, old CA kept');
  t.match(decoded, /-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----/, "each certificate on its own lines, as Go's PEM decoder in the apiserver needs");
  // A client that still holds the old bundle, and one that holds the new: both verify what is served.
  for (const [who, trusted] of [['old bundle', [oldCA]], ['new bundle', bundle]] as const) {
    const served = new X509Certificate(await read(dir, 'tls.crt'));
    t.ok(trusted.some((ca) => served.checkIssued(ca) && served.verify(ca.publicKey)), `a client with the ${who} verifies the served certificate`);
  }

  t.equal((await certs('--out', dir)).code, 0);
  const moved = new X509Certificate(await read(dir, 'tls.crt'));
  t.ok(moved.verify(newCA.publicKey), 'the next run issues the serving certificate from the new CA');
  const renewed = splitPemBundle(await read(dir, 'ca-bundle.crt')).map((p) => new X509Certificate(p).fingerprint256);
  t.same(renewed, [newCA.fingerprint256, oldCA.fingerprint256], 'renewing the serving cert mid-rotation keeps both CAs');

  t.equal((await certs('--out', dir, '--prune-old-cas')).code, 0);
  const pruned = splitPemBundle(await read(dir, 'ca-bundle.crt')).map((p) => new X509Certificate(p).fingerprint256);
  t.same(pruned, [newCA.fingerprint256], 'after the rollout the old CA can be dropped');
});

t.test('--rotate-ca without a usable serving certificate issues one from the new CA at once', async (t) => {
  const dir = t.testdir({});
  t.equal((await certs('--out', dir)).code, 0);
  await writeFile(join(dir, 'tls.crt'), 'garbage');
  t.equal((await certs('--out', dir, '--rotate-ca')).code, 0);
  t.ok(new X509Certificate(await read(dir, 'tls.crt')).verify(new X509Certificate(await read(dir, 'ca.crt')).publicKey));
});

t.test('usage errors exit 2 with the problem named', async (t) => {
  const missing = await certs();
  t.equal(missing.code, 2);
  t.match(missing.stderr[0], /^tenantguard certs: --out: is required/);

  const unknown = await certs('--out', '/tmp/x', '--serivce', 'tg');
  t.equal(unknown.code, 2);
  t.equal(unknown.stderr[0], "tenantguard certs: Unknown option '--serivce'\nRun 'tenantguard certs --help' for usage.");

  const bad = await certs('--out', '/tmp/x', '--days', 'ten', '--service', 'Tenant_Guard', '--ip', '300.1.1.1');
  t.equal(bad.code, 2);
  t.same(bad.stderr, [
    'tenantguard certs: --service: must be a Service name (DNS-1123 label), got "Tenant_Guard"',
    'tenantguard certs: --ip: must be an IPv4 or IPv6 address, got "300.1.1.1"',
    'tenantguard certs: --days: must be a whole number of days from 1 to 36500, got "ten"',
  ]);

  const help = await certs('--help');
  t.equal(help.code, 0);
  t.match(help.stdout[0], /^Usage: tenantguard certs --out DIR/);
});

t.test('a directory with a CA certificate but no key is refused, not overwritten', async (t) => {
  const dir = t.testdir({});
  t.equal((await certs('--out', dir)).code, 0);
  const caText = await read(dir, 'ca.crt');
  await rm(join(dir, 'ca.key'));
  const run = await certs('--out', dir);
  t.equal(run.code, 1);
  t.match(run.stderr[0], /has ca\.crt but not ca\.key/);
  t.equal(await read(dir, 'ca.crt'), caText, 'the CA is left as it was');
});
