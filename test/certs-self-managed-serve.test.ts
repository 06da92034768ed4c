// Two `serve` replicas in live mode with self-managed certificates (SPEC 11.1): they bootstrap a
// CA and a serving certificate in the fake apiserver; when the certificate comes due, the Lease
// holder renews it and both replicas present the new one to new TLS connections, while a
// connection opened before the renewal keeps working on the old one. No restart, no file.
import { X509Certificate } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { startServer, type RunningServer } from '../server/webhook-server.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { waitFor } from './helpers/files.js';

const DAY = 86_400_000;

interface Reply {
  status: number;
  serial: string;
  reused: boolean;
}

function healthz(url: string, agent: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL('/healthz', url), { agent }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase();
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a renewed certificate reaches both replicas without a restart; an open connection keeps working', async (t) => {
  const api = await FakeApiServer.start({ certificates: true, kubevirt: false });
  t.teardown(() => api.close());
  const dir = t.testdir({
    'config.yaml': 'certificates:\n  selfManage: true\n  checkInterval: 100ms\n',
  });
  const kubeconfig = await api.writeKubeconfig(dir);
  // The replicas' clock starts 340 days back: what they issue now expires in 25 days of real time,
  // past its renewal time (a third of 365 days) once the clock is set to the present.
  let offset = -340 * DAY;
  const clock = (): Date => new Date(Date.now() + offset);
  const logs: Record<string, Array<Record<string, any>>> = { a: [], b: [] };
  const replica = (name: 'a' | 'b'): Promise<RunningServer> =>
    startServer({
      flags: { host: '127.0.0.1', port: '0', kubeconfig, config: join(dir, 'config.yaml') },
      env: { HOSTNAME: `tenantguard-${name}` },
      logDestination: { write: (line: string) => void logs[name]!.push(JSON.parse(line)) },
      certificateClock: clock,
    });
  const [a, b] = await Promise.all([replica('a'), replica('b')]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  t.equal(a.certSource, 'Secret tenantguard/tenantguard-tls (self-managed, lease tenantguard-cert-renewal)');

  const secret = (): Record<string, string> => {
    const data = (api.get('v1', 'Secret', 'tenantguard', 'tenantguard-tls') as { data: Record<string, string> }).data;
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  };
  const ca = secret()['ca.crt']!;
  const keepAlive = { a: new Agent({ ca, keepAlive: true, maxSockets: 1 }), b: new Agent({ ca, keepAlive: true, maxSockets: 1 }) };
  t.teardown(() => {
    keepAlive.a.destroy();
    keepAlive.b.destroy();
  });
  const oldA = await healthz(a.url, keepAlive.a);
  const oldB = await healthz(b.url, keepAlive.b);
  t.equal(oldA.serial, oldB.serial, 'both replicas serve the certificate the holder issued');

  offset = 0;
  const reloaded = (name: 'a' | 'b'): boolean => logs[name]!.some((l) => l.msg === 'serving certificate reloaded' && l.serial !== oldA.serial);
  await waitFor('both replicas reload the renewed certificate', () => reloaded('a') && reloaded('b'));
  const issuers = [...logs.a!, ...logs.b!].filter((l) => l.msg === 'issued a new serving certificate');
  t.equal(issuers.length, 2, 'issued twice in all: the bootstrap and the renewal, by the Lease holder');
  const renewed = secret()['tls.crt']!;

  for (const [name, server] of [['a', a], ['b', b]] as const) {
    const fresh = new Agent({ ca, keepAlive: false });
    const reply = await healthz(server.url, fresh);
    fresh.destroy();
    t.equal(reply.status, 200);
    t.not(reply.serial, oldA.serial, `replica ${name}: a new connection gets the renewed certificate`);
    t.equal(reply.serial, new X509Certificate(renewed).serialNumber.toLowerCase(), `replica ${name}: the one in the Secret`);
    const again = await healthz(server.url, keepAlive[name]);
    t.equal(again.status, 200, `replica ${name}: the connection opened before the renewal still works`);
    t.ok(again.reused, 'on the same socket');
    t.equal(again.serial, oldA.serial, 'which keeps the old certificate');
  }
  const readyz = a.readiness();
  t.same(readyz, { ready: true, reasons: [] });
  const metrics = await a.metrics.render();
  const expiry = Number(/^tenantguard_cert_expiry_timestamp_seconds (\S+)$/m.exec(metrics)![1]);
  t.ok(expiry * 1000 > Date.now() + 364 * DAY, 'the expiry metric follows the renewed certificate');
});
