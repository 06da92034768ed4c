// Health, readiness, TLS (HTTP/1.1 only, mutual TLS) and graceful shutdown over real sockets.
import t from 'tap';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import type { PolicyModule } from '../policies/types.js';
import { buildApp } from '../server/app.js';
import { gracefulShutdown } from '../server/shutdown.js';
import { admissionReview, createTestPki, startFixture } from './helpers/https-fixture.js';

t.test('/healthz answers 200; /readyz answers 200 when ready and 503 with the reasons when not', async (t) => {
  let state = { ready: false, reasons: ['cluster view not synced: Pod', 'serving certificate expires in 2h'] };
  const fx = await startFixture({ readiness: () => state });
  t.teardown(() => fx.close());
  const health = await fx.request('/healthz');
  t.equal(health.status, 200);
  t.same(health.json(), { ok: true });
  const notReady = await fx.request('/readyz');
  t.equal(notReady.status, 503);
  t.same(notReady.json(), { ready: false, reasons: ['cluster view not synced: Pod', 'serving certificate expires in 2h'] });
  state = { ready: true, reasons: [] };
  const ready = await fx.request('/readyz');
  t.equal(ready.status, 200);
  t.same(ready.json(), { ready: true });
});

t.test('/metrics is not served when serveMetrics is off', async (t) => {
  const fx = await startFixture({ serveMetrics: false });
  t.teardown(() => fx.close());
  t.equal((await fx.request('/metrics')).status, 404);
});

t.test('ALPN negotiates http/1.1 even when the client offers h2 first', async (t) => {
  const fx = await startFixture();
  t.teardown(() => fx.close());
  const socket = tls.connect({ host: '127.0.0.1', port: fx.port, ca: fx.ca, ALPNProtocols: ['h2', 'http/1.1'] });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  t.equal(socket.alpnProtocol, 'http/1.1');
  t.ok(['TLSv1.2', 'TLSv1.3'].includes(socket.getProtocol() ?? ''), `TLS 1.2+ (${socket.getProtocol()})`);
  socket.destroy();
});

t.test('mutual TLS: a client certificate from the configured CA is served; none, or another CA, is refused', async (t) => {
  const fx = await startFixture({ mtls: true });
  t.teardown(() => fx.close());
  t.equal((await fx.request('/healthz')).status, 200, 'client cert from the CA');

  const noCert = new Agent({ connect: { ca: fx.ca } });
  t.teardown(() => noCert.close());
  await t.rejects(request(`${fx.url}/healthz`, { dispatcher: noCert }), 'no client certificate');

  const stranger = await (await createTestPki('another CA')).issueClient('intruder');
  const otherCa = new Agent({ connect: { ca: fx.ca, ...stranger } });
  t.teardown(() => otherCa.close());
  await t.rejects(request(`${fx.url}/healthz`, { dispatcher: otherCa }), 'client certificate from another CA');
  t.equal((await fx.request('/healthz')).status, 200, 'still serving');
});

t.test('asking for client certificates without a client CA is refused when the app is built', async (t) => {
  const fx = await startFixture();
  t.teardown(() => fx.close());
  t.throws(
    () =>
      buildApp({
        engine: fx.engine,
        telemetry: fx.telemetry,
        bodyLimitBytes: 1024,
        https: { key: fx.pki.server.key, cert: fx.pki.server.cert, requestCert: true },
        readiness: () => ({ ready: true, reasons: [] }),
        serveMetrics: false,
      }),
    { message: 'https.requestCert needs https.ca: the CA that client certificates must chain to' },
  );
});

/** A validator that waits until released, so a review is in flight for as long as the test needs. */
function slowModule(): { module: PolicyModule; entered: Promise<void>; release: () => void } {
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const enteredP = new Promise<void>((r) => (entered = r));
  return {
    module: {
      name: 'slow',
      type: 'validate',
      async evaluate() {
        entered();
        await gate;
        return {};
      },
    },
    entered: enteredP,
    release,
  };
}

function post(port: number, ca: string, agent: https.Agent, body: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, ca, agent, method: 'POST', path: '/validate', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function getSocket(port: number, ca: string, agent: https.Agent, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, ca, agent, path }, (res) => {
      res.resume().on('end', () => resolve(req.socket!));
    });
    req.on('error', reject);
  });
}

t.test('shutdown: readiness goes 503 first, an idle keep-alive socket is closed, the in-flight review completes, new connections are refused', async (t) => {
  const slow = slowModule();
  let ready = true;
  const fx = await startFixture({ modules: [slow.module], modulePolicies: { slow: { failureMode: 'fail', timeoutMs: 5000, enabled: true } }, readiness: () => ({ ready, reasons: ready ? [] : ['shutting down'] }) });
  t.teardown(() => fx.telemetry.tracing.shutdown());

  const idleAgent = new https.Agent({ keepAlive: true });
  const busyAgent = new https.Agent({ keepAlive: true });
  t.teardown(() => { idleAgent.destroy(); busyAgent.destroy(); });
  const idle = await getSocket(fx.port, fx.ca, idleAgent, '/healthz');
  t.notOk(idle.destroyed, 'the keep-alive socket is open and idle');
  const idleClosed = new Promise<number>((resolve) => idle.once('close', () => resolve(performance.now())));

  const inFlight = post(fx.port, fx.ca, busyAgent, JSON.stringify(admissionReview({ uid: 'uid-in-flight', object: { kind: 'Pod', metadata: { name: 'p' } } })));
  await slow.entered;

  const order: string[] = [];
  const started = performance.now();
  const done = gracefulShutdown(fx.app, {
    graceMs: 5000,
    markNotReady: () => {
      ready = false;
      order.push('not-ready');
    },
  }).then(() => order.push('closed'));
  t.same(order, ['not-ready'], 'readiness is marked down before anything else');

  const closedAt = await idleClosed;
  t.ok(closedAt - started < 1000, `idle keep-alive socket closed promptly (${(closedAt - started).toFixed(0)}ms)`);

  const refused = await new Promise<NodeJS.ErrnoException>((resolve) => {
    https.get({ host: '127.0.0.1', port: fx.port, ca: fx.ca, agent: false, path: '/healthz' }).on('error', resolve);
  });
  t.equal(refused.code, 'ECONNREFUSED', 'a new connection is refused while draining');

  await new Promise((r) => setTimeout(r, 300));
  t.same(order, ['not-ready'], 'shutdown waits for the in-flight review');
  slow.release();
  const res = await inFlight;
  t.equal(res.status, 200, 'the in-flight review completes');
  t.equal(JSON.parse(res.body).response.uid, 'uid-in-flight');
  t.equal(res.headers.connection, 'close', 'answered with Connection: close so the apiserver reconnects elsewhere');
  await done;
  t.same(order, ['not-ready', 'closed']);
});

t.test('shutdown: a review still running after graceMs has its connection destroyed and shutdown resolves', async (t) => {
  const slow = slowModule();
  const fx = await startFixture({ modules: [slow.module], modulePolicies: { slow: { failureMode: 'fail', timeoutMs: 60_000, enabled: true } } });
  t.teardown(() => { slow.release(); return fx.telemetry.tracing.shutdown(); });
  const agent = new https.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const stuck = post(fx.port, fx.ca, agent, JSON.stringify(admissionReview({ uid: 'uid-stuck', object: { kind: 'Pod' } })));
  await slow.entered;
  const started = performance.now();
  await gracefulShutdown(fx.app, { graceMs: 200, markNotReady: () => {} });
  const took = performance.now() - started;
  t.ok(took >= 190 && took < 2000, `resolved after the grace period (${took.toFixed(0)}ms)`);
  await t.rejects(stuck, { code: 'ECONNRESET' }, 'the stuck request was cut off');
});
