// Slow-loris (SPEC 3, issue 6): clients that trickle their headers, never finish their body or
// never finish the TLS handshake are cut off by the server's connection timeouts within a bounded
// time, while other clients keep getting their reviews answered.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { PolicyEngine } from '../policies/engine.js';
import { buildApp, DEFAULT_CONNECTION_TIMEOUTS, type AdmissionApp, type ConnectionTimeouts } from '../server/app.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { createLogger } from '../server/telemetry/logging.js';
import { Metrics } from '../server/telemetry/metrics.js';
import { createTracing } from '../server/telemetry/tracing.js';
import { admissionReview, testPki } from './helpers/https-fixture.js';

const TIMEOUTS: ConnectionTimeouts = { handshakeMs: 1000, headersMs: 1000, requestMs: 2000, keepAliveMs: 5000 };

interface Server {
  app: AdmissionApp;
  port: number;
  ca: string;
}

async function startApp(t: Test, timeouts: Partial<ConnectionTimeouts>): Promise<Server> {
  const pki = await testPki();
  const view = new SnapshotView({});
  const tracing = createTracing({ serviceName: 'slow-loris-test', env: {} });
  const engine = new PolicyEngine(
    [],
    { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [] } },
    { view, ledger: new MemoryLedger(view), tracer: tracing.tracer },
  );
  const app = buildApp({
    engine,
    telemetry: { tracing, logger: createLogger({ level: 'silent' }), metrics: new Metrics({ defaultMetrics: false }) },
    bodyLimitBytes: 1024 * 1024,
    https: { key: pki.server.key, cert: pki.server.cert },
    readiness: () => ({ ready: true, reasons: [] }),
    serveMetrics: false,
    connectionTimeouts: timeouts,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    app.server.closeAllConnections();
    await app.close();
    await tracing.shutdown();
  });
  return { app, port: (app.server.address() as AddressInfo).port, ca: pki.ca };
}

interface CutOff {
  /** Milliseconds from connecting until the server closed the connection. */
  afterMs: number;
  /** What the server wrote before closing (a 408, or nothing). */
  received: string;
}

/** Resolves when the server closes `socket`; rejects if it is still open after `limitMs`. */
function closedBy(socket: Socket | TLSSocket, startedAt: number, limitMs: number): Promise<CutOff> {
  return new Promise((resolve, reject) => {
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for more than ${limitMs} ms`));
    }, limitMs);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ afterMs: Date.now() - startedAt, received });
    });
  });
}

/** Fastify's answer to a client timeout: a 408 with a JSON body. */
function timedOut(received: string): boolean {
  const [head, body] = received.split('\r\n\r\n');
  return head!.startsWith('HTTP/1.1 408 ') && /content-type: application\/json/i.test(head!) && JSON.parse(body ?? 'null')?.statusCode === 408;
}

function openTls(server: Server): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: server.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes. */
function trickle(socket: TLSSocket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!, () => {});
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

/** A well-behaved client reviewing continuously until `stop` resolves; returns statuses seen. */
async function reviewUntil(server: Server, stop: Promise<unknown>): Promise<{ ok: number; failed: string[] }> {
  const agent = new Agent({ connect: { ca: server.ca } });
  let done = false;
  void stop.finally(() => (done = true));
  const result = { ok: 0, failed: [] as string[] };
  for (let i = 0; !done && i < 10_000; i++) {
    try {
      const res = await request(`https://127.0.0.1:${server.port}/validate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(admissionReview({ uid: `good-${i}` })),
        dispatcher: agent,
      });
      const body = (await res.body.json()) as { response?: { uid?: string; allowed?: boolean } };
      if (res.statusCode === 200 && body.response?.uid === `good-${i}` && body.response.allowed === true) result.ok++;
      else result.failed.push(`${res.statusCode} ${JSON.stringify(body)}`);
    } catch (err) {
      result.failed.push((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await agent.close();
  return result;
}

t.test('the production defaults bound every phase of a request', async (t) => {
  t.same(DEFAULT_CONNECTION_TIMEOUTS, { handshakeMs: 10_000, headersMs: 10_000, requestMs: 10_000, keepAliveMs: 72_000 });
  const server = await startApp(t, {});
  t.equal(server.app.server.headersTimeout, 10_000, 'headers within 10 s');
  t.equal(server.app.server.requestTimeout, 10_000, 'the whole request within 10 s');
  t.equal(server.app.server.keepAliveTimeout, 72_000);
});

t.test('bad timeouts are refused with the field named', async (t) => {
  const deps = { telemetry: {}, https: {} };
  t.throws(() => buildApp({ ...deps, connectionTimeouts: { headersMs: 0 } } as never), { message: 'connectionTimeouts.headersMs: must be a positive integer of milliseconds, got 0' });
  t.throws(() => buildApp({ ...deps, connectionTimeouts: { headersMs: 5000, requestMs: 1000 } } as never), {
    message: 'connectionTimeouts.requestMs (1000) must be at least headersMs (5000)',
  });
});

t.test('slow clients are cut off while others are served', async (t) => {
  const server = await startApp(t, TIMEOUTS);
  // The cut-off comes at the timeout plus at most one connection sweep (headersMs / 4).
  const slack = 1000;

  const startedAt = Date.now();
  // Ten clients trickling their headers one byte per 100 ms: they never finish within 1 s.
  const headerLoris = await Promise.all(Array.from({ length: 10 }, () => openTls(server)));
  const headerCuts = headerLoris.map((s) => closedBy(s, startedAt, TIMEOUTS.headersMs + slack + 1000));
  for (const s of headerLoris) trickle(s, `POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`, 100);

  // Ten clients that send complete headers and then only 10 of the 1000 body bytes announced.
  const bodyLoris = await Promise.all(Array.from({ length: 10 }, () => openTls(server)));
  const bodyCuts = bodyLoris.map((s) => closedBy(s, startedAt, TIMEOUTS.requestMs + slack + 1000));
  for (const s of bodyLoris) s.write('POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersi');

  // Ten clients that open TCP and never start the TLS handshake.
  const handshakeLoris = await Promise.all(
    Array.from({ length: 10 }, () => new Promise<Socket>((resolve) => {
      const s = netConnect(server.port, '127.0.0.1', () => resolve(s));
    })),
  );
  const handshakeCuts = handshakeLoris.map((s) => closedBy(s, startedAt, TIMEOUTS.handshakeMs + slack + 1000));

  const everything = Promise.allSettled([...headerCuts, ...bodyCuts, ...handshakeCuts]);
  const good = await reviewUntil(server, everything);

  const headers = await Promise.all(headerCuts);
  const bodies = await Promise.all(bodyCuts);
  const handshakes = await Promise.all(handshakeCuts);
  const worst = (cuts: CutOff[]): number => Math.max(...cuts.map((c) => c.afterMs));
  t.comment(`cut off after (ms): trickled headers ${worst(headers)}, unfinished body ${worst(bodies)}, no handshake ${worst(handshakes)}`);

  for (const c of headers) {
    t.ok(c.afterMs >= TIMEOUTS.headersMs - 100 && c.afterMs <= TIMEOUTS.headersMs + slack, `trickled headers cut off at ${c.afterMs} ms`);
    t.ok(timedOut(c.received), 'answered 408 with a JSON body before closing');
  }
  for (const c of bodies) {
    t.ok(c.afterMs >= TIMEOUTS.requestMs - 100 && c.afterMs <= TIMEOUTS.requestMs + slack, `unfinished body cut off at ${c.afterMs} ms`);
    t.ok(timedOut(c.received), 'answered 408 with a JSON body before closing');
  }
  for (const c of handshakes) {
    t.ok(c.afterMs >= TIMEOUTS.handshakeMs - 100 && c.afterMs <= TIMEOUTS.handshakeMs + slack, `stalled handshake cut off at ${c.afterMs} ms`);
    t.equal(c.received, '', 'no bytes: there is no TLS session to answer in');
  }
  t.same(good.failed, [], 'every review of the well-behaved client succeeded meanwhile');
  t.ok(good.ok >= 20, `the well-behaved client got ${good.ok} reviews answered while the slow ones were held`);
});
