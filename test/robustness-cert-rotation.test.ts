// Certificate rotation under load (SPEC 9): while keep-alive clients and clients opening a new
// connection per review send reviews continuously, the serving certificate files are replaced
// three times. No review fails, and new connections present the newest certificate.
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { Client } from 'undici';
import { issueCerts, type CertsOptions } from '../server/commands/certs.js';
import { startServer } from '../server/webhook-server.js';

const KEEP_ALIVE_CLIENTS = 10;
const FRESH_CLIENTS = 5;
const ROTATIONS = 3;

interface Tally {
  ok: number;
  failures: string[];
  /** Serial (lower-case hex) presented on each fresh connection, in order, with when it was made. */
  fresh: Array<{ serial: string; at: number }>;
}

function review(uid: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: uid, namespace: 'default' } },
    },
  });
}

function answered(status: number, text: string, uid: string): boolean {
  try {
    return status === 200 && JSON.parse(text).response?.uid === uid;
  } catch {
    return false;
  }
}

async function keepAliveClient(url: string, ca: string, id: number, tally: Tally, until: () => boolean): Promise<void> {
  const c = new Client(url, { connect: { ca }, pipelining: 1 });
  for (let i = 0; !until(); i++) {
    const uid = `k${id}-${i}`;
    try {
      const res = await c.request({ method: 'POST', path: '/validate', headers: { 'content-type': 'application/json' }, body: review(uid) });
      const text = await res.body.text();
      if (answered(res.statusCode, text, uid)) tally.ok++;
      else tally.failures.push(`${uid}: ${res.statusCode} ${text.slice(0, 200)}`);
    } catch (err) {
      tally.failures.push(`${uid}: ${(err as Error).message}`);
    }
  }
  await c.close();
}

/** One review on a new TLS connection; resolves with the serial the server presented. */
function freshReview(url: string, ca: string, uid: string): Promise<{ status: number; text: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const body = review(uid);
    const req = httpsRequest(new URL('/validate', url), { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase();
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, serial }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function freshClient(url: string, ca: string, id: number, tally: Tally, until: () => boolean): Promise<void> {
  for (let i = 0; !until(); i++) {
    const uid = `f${id}-${i}`;
    const at = Date.now();
    try {
      const res = await freshReview(url, ca, uid);
      if (answered(res.status, res.text, uid)) {
        tally.ok++;
        tally.fresh.push({ serial: res.serial, at });
      } else tally.failures.push(`${uid}: ${res.status} ${res.text.slice(0, 200)}`);
    } catch (err) {
      tally.failures.push(`${uid}: ${(err as Error).message}`);
    }
  }
}

t.test(`${ROTATIONS} certificate rotations under load: no review fails, new connections see the new serial`, async (t) => {
  const dir = t.testdir({ certs: {} });
  const certOptions: CertsOptions = {
    out: join(dir, 'certs'),
    service: 'tenantguard',
    namespace: 'tenantguard',
    days: 30,
    caDays: 365,
    rotateCA: false,
    pruneOldCAs: false,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  };
  const first = await issueCerts(certOptions);
  const ca = first.bundle[0]!;
  const logs: Array<Record<string, any>> = [];
  const server = await startServer({
    flags: { host: '127.0.0.1', port: '0', cert: join(certOptions.out, 'tls.crt'), key: join(certOptions.out, 'tls.key') },
    env: {},
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) },
    watchDebounceMs: 20,
  });
  t.teardown(() => server.stop());

  const tally: Tally = { ok: 0, failures: [], fresh: [] };
  let done = false;
  const hardStop = Date.now() + 30_000;
  const until = (): boolean => done || Date.now() > hardStop;
  const load = [
    ...Array.from({ length: KEEP_ALIVE_CLIENTS }, (_, id) => keepAliveClient(server.url, ca, id, tally, until)),
    ...Array.from({ length: FRESH_CLIENTS }, (_, id) => freshClient(server.url, ca, id, tally, until)),
  ];

  const serials = [first.serial.toLowerCase()];
  const reloadedAt: number[] = [];
  for (let r = 0; r < ROTATIONS; r++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = await issueCerts(certOptions);
    serials.push(next.serial.toLowerCase());
    const deadline = Date.now() + 5000;
    while (!logs.some((l) => l.msg === 'serving certificate reloaded' && l.serial?.toLowerCase() === next.serial.toLowerCase())) {
      if (Date.now() > deadline) throw new Error(`rotation ${r + 1}: the server did not reload serial ${next.serial}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    reloadedAt.push(Date.now());
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  done = true;
  await Promise.all(load);

  const bySerial = serials.map((s) => tally.fresh.filter((f) => f.serial === s).length);
  t.comment(`${tally.ok} reviews answered; fresh connections per serial (oldest first): ${bySerial.join(', ')}`);
  t.same(tally.failures, [], 'no review failed during the rotations');
  t.ok(tally.ok > 200, `the load was real (${tally.ok} reviews)`);
  t.equal(new Set(serials).size, ROTATIONS + 1, 'each rotation issued a new serial');
  for (let r = 0; r < ROTATIONS; r++) {
    const after = tally.fresh.filter((f) => f.at > reloadedAt[r]! && (r + 1 === ROTATIONS || f.at < reloadedAt[r + 1]! - 50));
    t.ok(after.length > 0, `connections were made after rotation ${r + 1}`);
    t.same([...new Set(after.map((f) => f.serial))], [serials[r + 1]], `connections opened after rotation ${r + 1} present serial ${serials[r + 1]}`);
  }
});
