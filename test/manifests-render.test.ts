// `make manifests`: manifests/render.ts renders an install. It never makes a CA: the base manages
// its own certificates (the webhooks' caBundle is set at runtime), and an install that does not
// is refused unless a CA is given. A given CA bundle (`tenantguard certs` writes one) is baked into
// the webhook configurations, and one that could not work is refused before it reaches the cluster.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { issueCerts, type CertsOptions } from '../server/commands/certs.js';
import { BASE_DIR, checkCaBundle, main, MANIFESTS_DIR, RenderError } from '../manifests/render.js';
import type { KubeObject } from '../policies/types.js';
import { parseDocs } from './helpers/manifests.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantguard-render-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function certsOptions(out: string, rotateCA = false): CertsOptions {
  return { out, service: 'tenantguard', namespace: 'tenantguard', days: 30, caDays: 365, rotateCA, pruneOldCAs: false, dnsNames: [], ipAddresses: [] };
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

async function renderWith(t: Test, bundleFile: string): Promise<{ text: string; hooks: Array<{ name: string; clientConfig: { caBundle: string; service: { name: string; namespace: string } } }> }> {
  const out = join(await tempDir(t), 'out');
  const result = await run(['--ca-bundle', bundleFile, '--out', out]);
  t.equal(result.code, 0, result.stderr);
  const text = await readFile(join(out, 'install.yaml'), 'utf8');
  const hooks = parseDocs(text, 'install.yaml')
    .filter((d: KubeObject) => d.kind?.endsWith('WebhookConfiguration'))
    .flatMap((d: KubeObject) => d.webhooks as never[]);
  return { text, hooks };
}

const pemsOf = (caBundle: string): X509Certificate[] =>
  (Buffer.from(caBundle, 'base64').toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

t.test('the rendered webhooks trust the CA that signed the serving certificate for the Service they call', async (t) => {
  const certs = await tempDir(t);
  await issueCerts(certsOptions(certs));
  const { text, hooks } = await renderWith(t, join(certs, 'caBundle'));
  const serving = new X509Certificate(await readFile(join(certs, 'tls.crt')));
  t.equal(hooks.length, 7, 'every webhook');
  for (const hook of hooks) {
    const [ca, more] = pemsOf(hook.clientConfig.caBundle);
    t.equal(more, undefined, `${hook.name}: one CA`);
    t.ok(serving.verify(ca!.publicKey), `${hook.name}: the serving certificate is signed by the caBundle's CA`);
    const { name, namespace } = hook.clientConfig.service;
    t.equal(serving.checkHost(`${name}.${namespace}.svc`), `${name}.${namespace}.svc`, `${hook.name}: valid for the name the apiserver calls`);
  }
  t.notMatch(text, /CA_BUNDLE_PLACEHOLDER/, 'no placeholder left');
});

t.test('a PEM file works as well as the base64 caBundle file', async (t) => {
  const certs = await tempDir(t);
  await issueCerts(certsOptions(certs));
  const fromBase64 = await renderWith(t, join(certs, 'caBundle'));
  const fromPem = await renderWith(t, join(certs, 'ca.crt'));
  t.same(fromPem.hooks.map((h) => h.clientConfig.caBundle), fromBase64.hooks.map((h) => h.clientConfig.caBundle));
});

t.test('during CA rotation the webhooks trust the old and the new CA', async (t) => {
  const certs = await tempDir(t);
  await issueCerts(certsOptions(certs));
  const oldCa = new X509Certificate(await readFile(join(certs, 'ca.crt')));
  await issueCerts(certsOptions(certs, true));
  const newServing = new X509Certificate(await readFile(join(certs, 'tls.crt')));
  const { hooks } = await renderWith(t, join(certs, 'caBundle'));
  const bundle = pemsOf(hooks[0]!.clientConfig.caBundle);
  t.equal(bundle.length, 2);
  t.ok(bundle.some((c) => c.fingerprint256 === oldCa.fingerprint256), 'the old CA: certificates still served verify');
  t.ok(bundle.some((c) => newServing.verify(c.publicKey)), 'the new CA: the new serving certificate verifies');
});

t.test('bundles that could not work are refused with the reason', async (t) => {
  const dir = await tempDir(t);
  const certs = join(dir, 'certs');
  await issueCerts(certsOptions(certs));
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '\n', /the CA bundle is empty/],
    ['garbage', 'not a bundle!', /neither PEM nor base64/],
    ['base64-of-text', Buffer.from('hello').toString('base64'), /contains no PEM certificate/],
    ['serving-cert-instead-of-ca', await readFile(join(certs, 'tls.crt'), 'utf8'), /certificate 1 \(.*\) is not a CA certificate/],
    ['broken-pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /certificate 1 cannot be parsed/],
  ];
  for (const [name, content, message] of cases) {
    const file = join(dir, name);
    await writeFile(file, content);
    const result = await run(['--ca-bundle', file, '--out', join(dir, 'out')]);
    t.equal(result.code, 1, name);
    t.match(result.stderr, message, name);
  }
  const missing = await run(['--ca-bundle', join(dir, 'nope'), '--out', join(dir, 'out')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read the CA bundle .*nope/);

  const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
  const afterExpiry = new Date(Date.parse(new X509Certificate(ca).validTo) + 1000);
  t.throws(() => checkCaBundle(ca, 'ca.crt', afterExpiry), new RenderError(''), 'an expired CA');
  t.throws(() => checkCaBundle(ca, 'ca.crt', afterExpiry), /expired on/);
});

t.test('bad arguments exit 2 with usage; a kustomization missing a file exits 1 naming it', async (t) => {
  for (const argv of [['--ca-bundle', 'x'], ['--ca-bundle', '', '--out', 'x'], ['--ca-bundle', 'x', '--out', 'y', '--bogus']]) {
    const result = await run(argv);
    t.equal(result.code, 2, argv.join(' '));
    t.match(result.stderr, /usage: /);
  }
  const dir = await tempDir(t);
  const certs = join(dir, 'certs');
  await issueCerts(certsOptions(certs));
  const partial = join(dir, 'base');
  await mkdir(partial);
  for (const file of await readdir(BASE_DIR)) if (file !== 'service.yaml') await copyFile(join(BASE_DIR, file), join(partial, file));
  const result = await run(['--ca-bundle', join(certs, 'caBundle'), '--out', join(dir, 'out'), '--kustomization', partial]);
  t.equal(result.code, 1);
  t.match(result.stderr, /kubectl kustomize .* failed: .*service\.yaml/);
});

t.test('a fresh clone\'s `make manifests` makes no CA: the base renders for self-management, the same every time', async (t) => {
  const dir = await tempDir(t);
  const make = async (out: string): Promise<string> => {
    const { stdout, stderr } = await execFileAsync('make', ['manifests', `CERTS_DIR=${join(dir, 'dev-certs')}`, `MANIFESTS_OUT=${out}`], { cwd: ROOT });
    t.notMatch(stdout + stderr, /CA created|tenantguard certs/, 'no certificate step runs');
    return readFile(join(out, 'install.yaml'), 'utf8');
  };
  const first = await make(join(dir, 'one'));
  const second = await make(join(dir, 'two'));
  t.equal(second, first, 'the same inputs give the same output');
  await t.rejects(stat(join(dir, 'dev-certs')), { code: 'ENOENT' }, 'no CA directory was created');
  const docs = parseDocs(first, 'install.yaml');
  const hooks = docs.filter((d) => d.kind?.endsWith('WebhookConfiguration')).flatMap((d) => d.webhooks as Array<{ clientConfig: { caBundle?: string } }>);
  t.ok(hooks.length > 0 && hooks.every((h) => h.clientConfig.caBundle === undefined), 'no caBundle: tenantguard sets it at runtime');
  const config = (docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'tenantguard-config')!.data as Record<string, string>)['config.yaml']!;
  t.match(config, /certificates:\s+selfManage: true/, 'the rendered config turns certificate renewal on');
});

t.test('an install that manages no certificate of its own is refused without a CA, saying what to do', async (t) => {
  const dir = await tempDir(t);
  const rel = (p: string): string => relative(dir, join(MANIFESTS_DIR, p));
  // What an operator might write: the base, with self-management turned off and no cert-manager.
  await writeFile(join(dir, 'kustomization.yaml'), `resources: [${rel('base')}]
patches:
  - target: {kind: Deployment, name: tenantguard}
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: TENANTGUARD_SELF_MANAGE_CERTIFICATES, value: "false"}
`);
  const refused = await run(['--out', join(dir, 'out'), '--kustomization', dir]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /no CA given, and nothing in this install sets the webhooks' caBundle \(certificates\.selfManage is off/);
  t.match(refused.stderr, /--ca-bundle FILE/);
  await t.rejects(stat(join(dir, 'out', 'install.yaml')), { code: 'ENOENT' }, 'nothing half-rendered is written');
  const certs = join(dir, 'certs');
  await issueCerts(certsOptions(certs));
  t.equal((await run(['--ca-bundle', join(certs, 'caBundle'), '--out', join(dir, 'out'), '--kustomization', dir])).code, 0, 'with the CA it renders');
  t.equal((await run(['--out', join(dir, 'out2'), '--kustomization', join(MANIFESTS_DIR, 'overlays/cert-manager')])).code, 0, 'cert-manager injects: no CA needed');
});
