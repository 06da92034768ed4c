import t from 'tap';
import { formatMilli, formatUnits, parseMilli, parseUnits, QuantityError } from '../policies/kube/quantity.js';

const Ki = 1024;
const Mi = Ki * 1024;
const Gi = Mi * 1024;

t.test('every decimal suffix, in millicores and in units', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['1n', 1, 1], // below a millicore / a byte: rounds up, never to zero
    ['1u', 1, 1],
    ['1m', 1, 1],
    ['1', 1000, 1],
    ['1k', 1_000_000, 1000],
    ['1M', 1e9, 1e6],
    ['1G', 1e12, 1e9],
    ['1T', 1e15, 1e12],
    ['250M', 250e9, 250e6],
  ];
  for (const [q, milli, units] of cases) {
    t.equal(parseMilli(q), milli, `${q} in millicores`);
    t.equal(parseUnits(q), units, `${q} in units`);
  }
  t.equal(parseUnits('1P'), 1e15);
  t.equal(parseUnits('9E-3'), 1, 'an exponent below one unit rounds up');
});

t.test('every binary suffix', async (t) => {
  t.equal(parseUnits('1Ki'), Ki);
  t.equal(parseUnits('1Mi'), Mi);
  t.equal(parseUnits('1Gi'), Gi);
  t.equal(parseUnits('1Ti'), Gi * 1024);
  t.equal(parseUnits('7Pi'), 7 * 2 ** 50);
  t.equal(parseUnits('1.5Gi'), 1_610_612_736);
  t.equal(parseUnits('0.5Ki'), 512);
  t.equal(parseMilli('1Ki'), 1_024_000);
});

t.test('exponents, signs and decimal forms', async (t) => {
  t.equal(parseUnits('1e3'), 1000);
  t.equal(parseUnits('1E3'), 1000);
  t.equal(parseUnits('1e+3'), 1000);
  t.equal(parseMilli('1e-3'), 1);
  t.equal(parseMilli('12e-1'), 1200);
  t.equal(parseUnits('12e-1'), 2, 'fractional units round up');
  t.equal(parseUnits('1.5e3'), 1500);
  t.equal(parseMilli('+1'), 1000);
  t.equal(parseMilli('-1'), -1000);
  t.equal(parseMilli('-0.0001'), -1, 'rounding is away from zero, as ParseQuantity rounds the magnitude up');
  t.equal(parseMilli('.5'), 500);
  t.equal(parseMilli('1.'), 1000, 'apimachinery accepts a trailing dot (1.G is allowed)');
  t.equal(parseMilli('0001.500'), 1500);
});

t.test('sub-milli CPU rounds up as the apiserver does, and sums stay exact', async (t) => {
  t.equal(parseMilli('0.0001'), 1);
  t.equal(parseMilli('0.1'), 100);
  t.equal(parseMilli('100m'), 100);
  t.equal(parseMilli('100.5m'), 101);
  t.equal(parseMilli('1e-30'), 1);
  t.equal(parseUnits('100m'), 1, 'a tenth of a byte is a byte');
  t.equal(parseUnits('1.0001'), 2);
  const sum = parseMilli('0.1') + parseMilli('0.2');
  t.equal(sum, 300);
  t.equal(formatMilli(sum), '300m');
});

t.test('JSON numbers and surrounding spaces are read as Quantity.UnmarshalJSON reads them', async (t) => {
  t.equal(parseMilli(0.5), 500);
  t.equal(parseUnits(1e3), 1000);
  t.equal(parseUnits(' 1Gi '), Gi);
  t.equal(parseMilli(1e-7), 1, 'a number JavaScript prints with an exponent (1e-7) reads the same');
  t.throws(() => parseUnits(1e21), /too large/);
});

t.test('apimachinery parity for odd but accepted forms', async (t) => {
  // parseQuantityString treats a missing number as 0 and ParseQuantity accepts it.
  t.equal(parseUnits('Ki'), 0);
  t.equal(parseUnits('-'), 0);
  t.equal(parseUnits('0'), 0);
  t.equal(parseUnits('-0'), 0);
});

t.test('amounts beyond 2^53 are refused rather than rounded', async (t) => {
  t.equal(parseUnits('9007199254740991'), Number.MAX_SAFE_INTEGER);
  t.throws(() => parseUnits('9007199254740992'), /too large/);
  t.throws(() => parseUnits('8Pi'), /too large/);
  t.throws(() => parseUnits('1Ei'), /too large/);
  t.throws(() => parseUnits('1E'), /too large/);
  t.throws(() => parseMilli('1P'), /too large \(over 9007199254740991 millicores\)/);
  t.throws(() => parseUnits('1e400'), /too large/);
});

t.test('invalid quantities throw a QuantityError naming the bad value', async (t) => {
  const bad: unknown[] = ['', 'abc', '1Kb', '1e', '1 Gi', '1.2.3', '--1', '1e3.5', '1Mi3', '1K', 'two', NaN, Infinity, null, {}, true];
  for (const value of bad) {
    let error: unknown;
    try {
      parseUnits(value as string);
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof QuantityError, `rejects ${JSON.stringify(value)} with a QuantityError`);
    t.match((error as Error | undefined)?.message, `invalid quantity ${JSON.stringify(value)}`);
  }
  t.throws(() => parseUnits('1mi'), { message: 'invalid quantity "1mi": unknown suffix "mi"' });
  t.throws(() => parseUnits('1 Gi'), { message: /expected a number with an optional suffix/ });
});

t.test('formatting for messages', async (t) => {
  t.equal(formatMilli(2000), '2');
  t.equal(formatMilli(1500), '1500m');
  t.equal(formatMilli(9500), '9500m');
  t.equal(formatMilli(0), '0');
  t.equal(formatUnits(2 * Gi), '2Gi');
  t.equal(formatUnits(Gi + 270 * Mi), '1294Mi');
  t.equal(formatUnits(1536 * Mi), '1536Mi');
  t.equal(formatUnits(1000), '1k');
  t.equal(formatUnits(1500), '1500');
  t.equal(formatUnits(20), '20');
  t.equal(formatUnits(0), '0');
  t.equal(parseUnits(formatUnits(1294 * Mi)), 1294 * Mi, 'a formatted amount parses back to itself');
});
