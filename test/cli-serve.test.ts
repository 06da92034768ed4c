import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { Agent, request as httpsRequest, type AgentOptions } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  X509CertificateGenerator,
} from '@peculiar/x509';
import t from 'tap';
import { createCA, createServingCert } from '../certs/authority.js';
import { issueCerts, type CertsOptions } from '../server/commands/certs.js';
import { main } from '../server/commands/cli.js';
import { startServer, type RunningServer, type ServeOptions } from '../server/webhook-server.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { replaceFile, waitFor } from './helpers/files.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const STATE = {
  'namespaces.yaml': `
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {tenant: tenant-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: sandbox}
`,
  'tenant.yaml': `
apiVersion: tenantguard.io/v1alpha1
kind: Tenant
metadata: {name: tenant-a}
spec:
  namespaceSelector: {matchLabels: {tenant: tenant-a}}
  podSecurity: {level: baseline, mode: warn}
`,
};

interface Reply {
  status: number;
  body: any;
  serial: string;
  reusedSocket: boolean;
}

interface Call {
  method?: string;
  body?: unknown;
  agent: Agent;
}

function call(base: string, path: string, opts: Call): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = httpsRequest(
      new URL(path, base),
      {
        method: opts.method ?? (payload ? 'POST' : 'GET'),
        agent: opts.agent,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text, serial, reusedSocket: req.reusedSocket }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** TLS peers report serials in upper-case hex; tenantguard in lower case. */
const serialOf = (hex: string): string => hex.toLowerCase();

function agentFor(ca: string, extra: AgentOptions = {}): Agent {
  return new Agent({ ca, keepAlive: true, maxSockets: 1, ...extra });
}

let uidCounter = 0;
function review(namespace: string | undefined, object: Record<string, unknown>, kind = 'Pod'): unknown {
  const resource = `${kind.toLowerCase()}s`;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind },
      resource: { group: '', version: 'v1', resource },
      ...(namespace ? { namespace } : {}),
      name: (object.metadata as { name: string }).name,
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
    },
  };
}

/** A Pod every policy level admits, so these tests hold whatever modules are registered. */
function pod(name: string, namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'registry.example.com/app:1.0',
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '10m', memory: '16Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

interface Started {
  server: RunningServer;
  logs: Array<Record<string, any>>;
}

async function start(t: { teardown(fn: () => unknown): void }, flags: ServeOptions['flags'], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const logs: Array<Record<string, any>> = [];
  const server = await startServer({
    flags: { host: '127.0.0.1', port: '0', ...flags },
    env,
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) },
    watchDebounceMs: 20,
  });
  t.teardown(() => server.stop());
  return { server, logs };
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const certOptions = (out: string, over: Partial<CertsOptions> = {}): CertsOptions => ({
  out,
  service: 'tenantguard',
  namespace: 'tenantguard',
  days: 30,
  caDays: 365,
  rotateCA: false,
  pruneOldCAs: false,
  dnsNames: [],
  ipAddresses: [],
  ...over,
});

t.test('serve --state with no certificate: a real HTTPS review against the in-memory dev CA', async (t) => {
  const dir = t.testdir(STATE);
  const { server, logs } = await start(t, { state: dir });
  t.equal(server.mode, 'snapshot');
  t.equal(server.certSource, 'generated in memory (development)');
  t.ok(server.devCA);
  const startup = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('tenantguard serving on'));
  t.match(startup, { address: server.url, mode: 'snapshot', cert: 'generated in memory (development)', state: dir }, 'one startup line');
  t.ok(logs.some((l) => l.level === 'warn' && /in-memory development certificate/.test(l.msg)), 'the dev cert is logged');

  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  const body = review('sandbox', pod('web', 'sandbox')) as { request: { uid: string } };
  const res = await call(server.url, '/validate', { agent, body });
  t.equal(res.status, 200);
  t.match(res.body, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request.uid, allowed: true } });
  t.equal((await call(server.url, '/healthz', { agent })).status, 200);
  t.same((await call(server.url, '/readyz', { agent })).body, { ready: true });
  t.equal((await call(server.url, '/metrics', { agent })).status, 200, 'no metrics port: /metrics on the HTTPS port');
  t.match(logs.find((l) => l.msg === 'admission review'), { uid: body.request.uid, namespace: 'sandbox', decision: 'allowed' });
});

t.test('snapshot mode applies what the validating webhook admitted, not what mutate saw', async (t) => {
  const { server, logs } = await start(t, { state: t.testdir(STATE) });
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  const tenantOfLastReview = (): unknown => logs.filter((l) => l.msg === 'admission review').at(-1)?.tenant;
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a-2', labels: { tenant: 'tenant-a' } } };

  await call(server.url, '/validate', { agent, body: review('team-a-2', pod('p1', 'team-a-2')) });
  t.equal(tenantOfLastReview(), undefined, 'unknown namespace: default tenant');

  t.equal((await call(server.url, '/mutate', { agent, body: review(undefined, namespace, 'Namespace') })).body.response.allowed, true);
  await call(server.url, '/validate', { agent, body: review('team-a-2', pod('p2', 'team-a-2')) });
  t.equal(tenantOfLastReview(), undefined, 'a mutate verdict does not change the state');

  t.equal((await call(server.url, '/validate', { agent, body: review(undefined, namespace, 'Namespace') })).body.response.allowed, true);
  await call(server.url, '/validate', { agent, body: review('team-a-2', pod('p3', 'team-a-2')) });
  t.equal(tenantOfLastReview(), 'tenant-a', 'the admitted Namespace joined tenant-a by its label');
});

t.test('snapshot mode charges what the state holds, and a delete frees its quota', async (t) => {
  const dir = t.testdir({
    ...STATE,
    'tenant.yaml': `
apiVersion: tenantguard.io/v1alpha1
kind: Tenant
metadata: {name: tenant-a}
spec:
  namespaceSelector: {matchLabels: {tenant: tenant-a}}
  quota: {hard: {count/pods: "2"}}
`,
    'pods.yaml': `
apiVersion: v1
kind: Pod
metadata: {name: existing, namespace: team-a}
spec: {containers: [{name: app, image: app}]}
status: {phase: Running}
`,
  });
  const { server } = await start(t, { state: dir });
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  const used = async (): Promise<number | undefined> =>
    metricValue(await server.metrics.render(), 'tenantguard_quota_used{tenant="tenant-a",resource="count/pods"}');
  t.equal(await used(), 1, 'the pod in the state is charged at startup');
  t.equal(metricValue(await server.metrics.render(), 'tenantguard_quota_hard{tenant="tenant-a",resource="count/pods"}'), 2);

  t.equal((await call(server.url, '/validate', { agent, body: review('team-a', pod('second', 'team-a')) })).body.response.allowed, true);
  t.equal(await used(), 2);
  const third = await call(server.url, '/validate', { agent, body: review('team-a', pod('third', 'team-a')) });
  t.equal(third.body.response.allowed, false, 'count/pods 2 is used up');

  const del = review('team-a', pod('existing', 'team-a')) as { request: Record<string, unknown> };
  Object.assign(del.request, { operation: 'DELETE', oldObject: del.request.object, object: null });
  t.equal((await call(server.url, '/validate', { agent, body: del })).body.response.allowed, true);
  t.equal(await used(), 1, 'the deleted pod no longer counts');
  t.equal((await call(server.url, '/validate', { agent, body: review('team-a', pod('third', 'team-a')) })).body.response.allowed, true);
});

t.test('no state and no cluster: the embedded example state', async (t) => {
  const { server, logs } = await start(t, {});
  t.equal(server.mode, 'embedded');
  t.match(logs.find((l) => l.mode)?.state, /server\/embedded-state$/);
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  await call(server.url, '/validate', { agent, body: review('tenant-a-dev', pod('web', 'tenant-a-dev')) });
  t.equal(logs.filter((l) => l.msg === 'admission review').at(-1)?.tenant, 'tenant-a', 'tenant-a owns tenant-a-dev by label');
});

t.test('with a kubeconfig: the live cluster view, and quota reserved in the Tenant status', async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tenant: 'tenant-a' } } });
  api.apply({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: { namespaceSelector: { matchLabels: { tenant: 'tenant-a' } }, quota: { hard: { 'count/pods': '1' } } },
  });
  const kubeconfig = await api.writeKubeconfig(t.testdir({}));
  const { server, logs } = await start(t, { kubeconfig });
  t.equal(server.mode, 'live');
  await waitFor('initial sync', () => server.readiness().ready);
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());

  const first = await call(server.url, '/validate', { agent, body: review('team-a', pod('one', 'team-a')) });
  t.equal(first.body.response.allowed, true);
  t.equal(logs.filter((l) => l.msg === 'admission review').at(-1)?.tenant, 'tenant-a', 'tenant resolved from the informers');
  t.same(api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.reserved?.['count/pods'], '1', 'the reservation is written to the Tenant status');

  const second = await call(server.url, '/validate', { agent, body: review('team-a', pod('two', 'team-a')) });
  t.equal(second.body.response.allowed, false, 'the second pod exceeds count/pods 1');
  t.match(second.body.response.status.message, /exceeded quota: tenant-a/);
});

t.test('config reload: exemptions change without a restart, a bad file is rejected', async (t) => {
  const dir = t.testdir({ state: STATE, 'config.yaml': 'logLevel: info\n' });
  const file = join(dir, 'config.yaml');
  const { server, logs } = await start(t, { state: join(dir, 'state'), config: file });
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  const exempt = async (): Promise<unknown> =>
    (await call(server.url, '/validate', { agent, body: review('sandbox', pod('web', 'sandbox')) })).body.response.auditAnnotations?.['tenantguard.io/exempt'];
  const reloads = async (result: string): Promise<number | undefined> =>
    metricValue(await server.metrics.render(), `tenantguard_config_reloads_total{result="${result}"}`);

  t.equal(await exempt(), undefined);
  await replaceFile(file, 'logLevel: info\nexemptions: {namespaces: [sandbox]}\n');
  await waitFor('reload', async () => (await reloads('success')) === 1);
  t.equal(await exempt(), 'namespace sandbox', 'the new exemption applies to the next review');
  t.same(server.config().exemptions.namespaces, ['sandbox', 'tenantguard']);

  await replaceFile(file, 'exemptions: {namespaces: [sandbox]}\nmodules: {pod-security: {failureMode: maybe}}\n');
  await waitFor('rejected reload', async () => (await reloads('failure')) === 1);
  t.equal(await exempt(), 'namespace sandbox', 'the last good config stays');
  t.ok(logs.some((l) => l.level === 'error' && l.errors?.[0] === 'modules.pod-security.failureMode: must be one of fail, ignore, got "maybe"'));

  await replaceFile(file, 'bodyLimitBytes: 2048\nlisten: {port: 1}\n');
  await waitFor('third reload', async () => (await reloads('success')) === 2);
  t.equal(await exempt(), undefined, 'exemption removed again');
  t.ok(logs.some((l) => l.level === 'warn' && l.msg === 'config fields bodyLimitBytes changed; they take effect after a restart'));
  t.equal(server.config().listen.port, 0, 'the --port flag still wins over the file');
  t.same((await call(server.url, '/readyz', { agent })).body, { ready: true });
});

t.test('certificate rotation: new connections get the new cert, a kept-alive one keeps working', async (t) => {
  const dir = t.testdir({ state: STATE, certs: {} });
  const certs = join(dir, 'certs');
  const first = await issueCerts(certOptions(certs));
  const { server, logs } = await start(t, { state: join(dir, 'state'), cert: join(certs, 'tls.crt'), key: join(certs, 'tls.key') });
  t.equal(server.certSource, `files ${join(certs, 'tls.crt')}, ${join(certs, 'tls.key')}`);
  const ca = first.bundle[0]!;

  const old = agentFor(ca);
  t.teardown(() => old.destroy());
  const before = await call(server.url, '/validate', { agent: old, body: review('sandbox', pod('a', 'sandbox')) });
  t.equal(serialOf(before.serial), serialOf(first.serial), 'first connection: first certificate');

  const second = await issueCerts(certOptions(certs));
  t.not(second.serial, first.serial);
  await waitFor('reload', () => logs.some((l) => l.msg === 'serving certificate reloaded'));

  const fresh = agentFor(ca);
  t.teardown(() => fresh.destroy());
  const after = await call(server.url, '/validate', { agent: fresh, body: review('sandbox', pod('b', 'sandbox')) });
  t.equal(after.status, 200);
  t.equal(serialOf(after.serial), serialOf(second.serial), 'a new connection sees the new certificate');

  const again = await call(server.url, '/validate', { agent: old, body: review('sandbox', pod('c', 'sandbox')) });
  t.ok(again.reusedSocket, 'the old connection was kept alive');
  t.equal(again.status, 200, 'and still completes a request');
  t.equal(serialOf(again.serial), serialOf(first.serial), 'on the handshake it made with the old certificate');

  const expiry = metricValue(await server.metrics.render(), 'tenantguard_cert_expiry_timestamp_seconds');
  t.equal(expiry, second.notAfter.getTime() / 1000, 'the expiry metric follows the new certificate');
});

async function clientCert(caKeys: webcrypto.CryptoKeyPair, caSubject: string): Promise<{ cert: string; key: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await X509CertificateGenerator.create({
    subject: 'CN=kube-apiserver',
    issuer: caSubject,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [
      new BasicConstraintsExtension(false),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { cert: cert.toString('pem'), key: PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') };
}

t.test('--client-ca: only clients with a certificate from that CA are served, also after a reload', async (t) => {
  const dir = t.testdir({ state: STATE, certs: {} });
  const certs = join(dir, 'certs');
  const serving = await issueCerts(certOptions(certs));
  const clientCA = await createCA({ commonName: 'apiserver clients' });
  await writeFile(join(dir, 'client-ca.crt'), clientCA.certPem);
  const client = await clientCert(clientCA.keys, clientCA.cert.subject);
  const { server, logs } = await start(t, {
    state: join(dir, 'state'),
    cert: join(certs, 'tls.crt'),
    key: join(certs, 'tls.key'),
    'client-ca': join(dir, 'client-ca.crt'),
  });
  const ca = serving.bundle[0]!;
  const check = async (): Promise<void> => {
    const anonymous = new Agent({ ca });
    await t.rejects(call(server.url, '/healthz', { agent: anonymous }), 'no client certificate: refused');
    anonymous.destroy();
    const trusted = new Agent({ ca, cert: client.cert, key: client.key });
    t.equal((await call(server.url, '/healthz', { agent: trusted })).status, 200, 'client certificate from the CA: served');
    trusted.destroy();
  };
  await check();
  await issueCerts(certOptions(certs));
  await waitFor('reload', () => logs.some((l) => l.msg === 'serving certificate reloaded'));
  await check();
});

t.test('a certificate near expiry keeps the server ready and logs a warning; an expired one makes it unready', async (t) => {
  const dir = t.testdir({ state: STATE, certs: {} });
  const certs = join(dir, 'certs');
  // 3 days left of 30: past the renewal time (a third of the validity) but not expired.
  const ca = await createCA();
  const near = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 30, now: new Date(Date.now() - 27 * 86_400_000) });
  await writeFile(join(certs, 'tls.key'), near.keyPem);
  await writeFile(join(certs, 'tls.crt'), near.certPem);
  const { server, logs } = await start(t, { state: join(dir, 'state'), cert: join(certs, 'tls.crt'), key: join(certs, 'tls.key') });
  const agent = agentFor(ca.certPem);
  t.teardown(() => agent.destroy());
  const res = await call(server.url, '/readyz', { agent });
  t.equal(res.status, 200, 'no readiness cliff: every replica stays in service');
  t.same(res.body, { ready: true });
  const warnings = logs.filter((l) => l.level === 'warn' && /^serving certificate expires in 2 days/.test(l.msg));
  t.equal(warnings.length, 1, 'one warning line');
  t.match(warnings[0]!.msg, /was due for renewal at .*: replace the certificate files/);
  t.equal(warnings[0]!.serial, near.serial.toLowerCase());

  const expired = await createServingCert(ca, { service: 'tenantguard', namespace: 'tenantguard', days: 1, now: new Date(Date.now() - 2 * 86_400_000) });
  await replaceFile(join(certs, 'tls.key'), expired.keyPem);
  await replaceFile(join(certs, 'tls.crt'), expired.certPem);
  await waitFor('reload', () => logs.some((l) => l.msg === 'serving certificate reloaded' && l.serial === expired.serial.toLowerCase()));
  const after = await call(server.url, '/readyz', { agent: agentFor(ca.certPem, { rejectUnauthorized: false }) });
  t.equal(after.status, 503);
  t.same(after.body, { ready: false, reasons: [`serving certificate expired at ${expired.notAfter.toISOString()}`] });
  t.ok(logs.some((l) => l.level === 'warn' && /^serving certificate has expired/.test(l.msg)), 'the expired certificate is logged at once');
});

t.test('--metrics-port: plain-HTTP /metrics, not on the HTTPS port', async (t) => {
  const { server } = await start(t, { state: t.testdir(STATE), 'metrics-port': '0' });
  t.ok(server.metricsUrl);
  const text = await new Promise<string>((resolve, reject) => {
    httpGet(server.metricsUrl!, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  t.match(text, /^# HELP tenantguard_/m);
  t.ok(metricValue(text, 'tenantguard_cert_expiry_timestamp_seconds')! > Date.now() / 1000, 'cert expiry published');
  const agent = agentFor(server.devCA!);
  t.teardown(() => agent.destroy());
  t.equal((await call(server.url, '/metrics', { agent })).status, 404);
});

t.test('startup failures say what is wrong', async (t) => {
  const capture = async (...args: string[]): Promise<{ code: number; err: string }> => {
    const err: string[] = [];
    const code = await main(['serve', ...args], { stdout: () => undefined, stderr: (l) => err.push(l) });
    return { code, err: err.join('\n') };
  };
  t.same(await capture('--port', 'https'), { code: 2, err: 'tenantguard serve: invalid configuration:\n  --port: must be an integer from 0 to 65535, got "https"' });
  t.same(await capture('--prot', '1'), { code: 2, err: "tenantguard serve: Unknown option '--prot'\nRun 'tenantguard serve --help' for usage." });
  const missing = await capture('--port', '0', '--state', '/nonexistent/state');
  t.equal(missing.code, 1);
  t.match(missing.err, /^tenantguard serve: cannot read state directory \/nonexistent\/state/);
  const dir = t.testdir({ 'tls.crt': 'x' });
  const badCert = await capture('--port', '0', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'));
  t.equal(badCert.code, 1);
  t.match(badCert.err, /cannot read private key .*tls\.key/);
  const help = await main(['serve', '--help'], { stdout: (l) => t.match(l, /^Usage: tenantguard serve/), stderr: () => undefined });
  t.equal(help, 0);
});

t.test('the tenantguard command: subcommands, help and usage errors', async (t) => {
  const run = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const help = await run('--help');
  t.equal(help.code, 0);
  for (const command of ['serve', 'certs', 'replay', 'audit']) t.match(help.out, new RegExp(`^  ${command} `, 'm'), `lists ${command}`);
  t.equal((await run()).code, 2, 'no command is a usage error');
  const unknown = await run('serv');
  t.equal(unknown.code, 2);
  t.match(unknown.err, /^tenantguard: unknown command "serv"/);
  t.equal((await run('toString')).code, 2, 'object prototype names are not commands');
  t.same(await run('serve', 'extra'), { code: 2, out: '', err: "tenantguard serve: Unexpected argument 'extra'. This command does not take positional arguments\nRun 'tenantguard serve --help' for usage." });
});

t.test('the CLI process serves and exits 0 on SIGTERM', async (t) => {
  const dir = t.testdir({ state: STATE, certs: {} });
  const issued = await issueCerts(certOptions(join(dir, 'certs')));
  const child = spawn(
    process.execPath,
    ['--import=tsx', 'server/commands/cli.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--state', join(dir, 'state'),
      '--cert', join(dir, 'certs', 'tls.crt'), '--key', join(dir, 'certs', 'tls.key')],
    { cwd: ROOT, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, any>> = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, any>;
      lines.push(entry);
      if (typeof entry.address === 'string') resolve(entry.address);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening`)));
  });
  const agent = new Agent({ ca: issued.bundle[0] });
  t.equal((await call(address, '/validate', { agent, body: review('sandbox', pod('a', 'sandbox')) })).body.response.allowed, true);
  agent.destroy();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit status 0 after SIGTERM');
  t.ok(lines.some((l) => l.msg === 'SIGTERM received, shutting down'));
  t.ok(lines.some((l) => l.msg === 'stopped'));
});
