// The review log line: identifiers and verdict only, never object content.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, logReview } from '../server/telemetry/logging.js';
import { admissionReview, startFixture } from './helpers/https-fixture.js';

t.test('a Secret review logs one line with identifiers, and none of the Secret data', async (t) => {
  const fx = await startFixture();
  t.teardown(() => fx.close());
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db-credentials', namespace: 'team-a', annotations: { note: 'rotate-me' } },
    data: { password: Buffer.from('hunter2-very-secret').toString('base64') },
    stringData: { token: 'plain-text-token' },
  };
  const res = await fx.request('/validate', {
    body: JSON.stringify(admissionReview({ uid: 'uid-secret', name: 'db-credentials', kind: { group: '', version: 'v1', kind: 'Secret' }, resource: { group: '', version: 'v1', resource: 'secrets' }, object: secret })),
  });
  t.equal(res.status, 200);
  const lines = fx.logs.filter((l) => l.uid === 'uid-secret');
  t.equal(lines.length, 1, 'exactly one line per review');
  const line = lines[0]!;
  t.match(line, {
    level: 'info',
    msg: 'admission review',
    webhook: 'validate',
    namespace: 'team-a',
    kind: 'Secret',
    name: 'db-credentials',
    operation: 'CREATE',
    user: 'alice',
    decision: 'allowed',
    warnings: 0,
    dryRun: false,
  });
  const text = JSON.stringify(line);
  for (const leaked of ['hunter2', secret.data.password, 'plain-text-token', 'rotate-me']) t.notOk(text.includes(leaked), `does not contain ${leaked}`);
});

t.test('an exempt review logs what exempted it as the reason', async (t) => {
  const fx = await startFixture({ exemptions: { namespaces: ['kube-system'], usernames: [], groups: [] } });
  t.teardown(() => fx.close());
  await fx.request('/validate', { body: JSON.stringify(admissionReview({ uid: 'uid-exempt', namespace: 'kube-system', object: { kind: 'Pod' } })) });
  const line = fx.logs.find((l) => l.uid === 'uid-exempt');
  t.equal(line?.reasons, 'namespace kube-system');
  t.equal(line?.decision, 'allowed');
});

t.test('below info level no review line is written', async (t) => {
  const written: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (written.push(String(chunk)), done()) });
  const logger = createLogger({ level: 'warn', destination: sink });
  logReview(logger, {
    webhook: 'validate', uid: 'u', namespace: 'n', kind: 'Pod', name: 'p', operation: 'CREATE', user: 'a', tenant: undefined,
    decision: 'allowed', reasons: undefined, warnings: 0, dryRun: false, durationMs: 1, trace_id: '0'.repeat(31) + '1', span_id: '0'.repeat(15) + '1',
  });
  logger.warn('kept');
  t.equal(written.length, 1);
  t.match(JSON.parse(written[0]!), { level: 'warn', msg: 'kept' });
});
