// The expiry warning: past the renewal time, one log line per certificate per day.
import t from 'tap';
import type { CertPair } from '../certs/cert-watch.js';
import { CertExpiryWarning } from '../certs/expiry-warning.js';
import { createLogger } from '../server/telemetry/logging.js';

const DAY = 86_400_000;

t.test('silent before the renewal time, then once a day per certificate', async (t) => {
  const lines: Array<Record<string, any>> = [];
  let now = 0;
  let pair: CertPair = { key: '', cert: '', serial: 'aa', notBefore: new Date(0), notAfter: new Date(90 * DAY) };
  const warning = new CertExpiryWarning({
    pair: () => pair,
    renewBeforeMs: undefined,
    hint: 'renew it',
    logger: createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }),
    clock: () => new Date(now),
  });
  now = 59 * DAY;
  t.notOk(warning.check(), 'two thirds of the validity not over yet');
  now = 60 * DAY;
  t.ok(warning.check());
  t.equal(lines[0]!.msg, 'serving certificate expires in 30 days (at 1970-04-01T00:00:00.000Z) and was due for renewal at 1970-03-02T00:00:00.000Z: renew it');
  t.match(lines[0], { level: 'warn', serial: 'aa' });
  now = 60.9 * DAY;
  t.notOk(warning.check(), 'not again the same day');
  now = 61 * DAY;
  t.ok(warning.check(), 'again a day later');
  pair = { ...pair, serial: 'bb' };
  t.ok(warning.check(), 'at once for another certificate');
  now = 90 * DAY;
  pair = { ...pair, serial: 'cc' };
  t.ok(warning.check());
  t.match(lines.at(-1)!.msg, /^serving certificate has expired/);
  t.equal(lines.length, 4);
});
