// Kubernetes resource.Quantity (k8s.io/apimachinery/pkg/api/resource/quantity.go), read exactly:
// the same scanner (parseQuantityString), the same suffixes (n u m "" k M G T P E, Ki..Ei, e/E
// exponents) and the same rounding (a non-zero amount rounds up, away from zero, never to zero).
// Amounts come back as integers in canonical units: CPU in millicores (MilliValue), everything else
// in units (Value, i.e. bytes or objects). The arithmetic is exact (integer doubles where every step
// stays below 2^53, BigInt otherwise); the result must be a safe integer, so sums of amounts stay
// exact too (0.1 + 0.2 CPU is exactly 300m).

export class QuantityError extends Error {}

const DECIMAL_SUFFIX: ReadonlyMap<string, number> = new Map([['n', -9], ['u', -6], ['m', -3], ['', 0], ['k', 3], ['M', 6], ['G', 9], ['T', 12], ['P', 15], ['E', 18]]);
const BINARY_SUFFIX: ReadonlyMap<string, number> = new Map([['Ki', 10], ['Mi', 20], ['Gi', 30], ['Ti', 40], ['Pi', 50], ['Ei', 60]]);
/** The characters parseQuantityString lets into a suffix: eEinumkKMGTP. */
const SUFFIX_CHAR = new Uint8Array(128);
for (const c of 'eEinumkKMGTP') SUFFIX_CHAR[c.charCodeAt(0)] = 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface Parsed {
  negative: boolean;
  /** The digits, numerator then denominator, read as one integer D: the value is D * 10^pow10 * 2^pow2. */
  str: string;
  numStart: number;
  numEnd: number;
  denomStart: number;
  denomEnd: number;
  /** D itself when it has at most 15 significant digits (exact as a double), else undefined. */
  small: number | undefined;
  pow10: number;
  pow2: number;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function bad(value: unknown, why: string): QuantityError {
  return new QuantityError(`invalid quantity ${JSON.stringify(value)}: ${why}`);
}

/** apimachinery's parseQuantityString and suffix interpretation; throws what ParseQuantity returns as errors. */
function scan(str: string, original: unknown): Parsed {
  if (str.length === 0) throw bad(original, 'empty');
  const end = str.length;
  let pos = 0;
  let negative = false;
  if (str[0] === '-') {
    negative = true;
    pos++;
  } else if (str[0] === '+') {
    pos++;
  }
  let small = 0;
  let significant = 0;
  const numStart = pos;
  for (; pos < end && isDigit(str.charCodeAt(pos)); pos++) {
    const digit = str.charCodeAt(pos) - 48;
    if (significant > 0 || digit !== 0) significant++;
    if (significant <= 15) small = small * 10 + digit;
  }
  const numEnd = pos;
  let denomStart = pos;
  if (pos < end && str[pos] === '.') {
    denomStart = ++pos;
    for (; pos < end && isDigit(str.charCodeAt(pos)); pos++) {
      const digit = str.charCodeAt(pos) - 48;
      if (significant > 0 || digit !== 0) significant++;
      if (significant <= 15) small = small * 10 + digit;
    }
  }
  const denomEnd = pos;
  const suffixStart = pos;
  while (pos < end && SUFFIX_CHAR[str.charCodeAt(pos)] === 1) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str.charCodeAt(pos))) pos++;
  if (pos < end) throw bad(original, 'expected a number with an optional suffix (n u m k M G T P E Ki Mi Gi Ti Pi Ei or an e/E exponent)');
  const suffix = str.slice(suffixStart);

  let pow10 = 0;
  let pow2 = 0;
  const decimal = DECIMAL_SUFFIX.get(suffix);
  const binary = decimal === undefined ? BINARY_SUFFIX.get(suffix) : undefined;
  if (decimal !== undefined) pow10 = decimal;
  else if (binary !== undefined) pow2 = binary;
  else if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?\d+$/.test(suffix.slice(1))) {
    pow10 = Number(suffix.slice(1));
  } else {
    throw bad(original, `unknown suffix "${suffix}"`);
  }
  return {
    negative,
    str,
    numStart,
    numEnd,
    denomStart,
    denomEnd,
    small: significant <= 15 ? small : undefined,
    pow10: pow10 - (denomEnd - denomStart),
    pow2,
  };
}

/** Exact with doubles when every intermediate is a safe integer; undefined when it would not be. */
function fastMagnitude(small: number, e: number, pow2: number): number | undefined {
  if (e >= 0) {
    if (e > 15) return undefined;
    const scaled = small * 10 ** e * 2 ** pow2;
    return scaled <= Number.MAX_SAFE_INTEGER ? scaled : undefined;
  }
  if (-e > 15) return undefined;
  const n = small * 2 ** pow2;
  if (n > Number.MAX_SAFE_INTEGER) return undefined;
  const divisor = 10 ** -e;
  const rest = n % divisor; // exact for doubles
  return (n - rest) / divisor + (rest > 0 ? 1 : 0);
}

function exactMagnitude(p: Parsed, e: number, value: unknown, unitPow10: number): number {
  const text = p.str.slice(p.numStart, p.numEnd) + p.str.slice(p.denomStart, p.denomEnd);
  const digits = BigInt(text);
  const digitCount = text.length;
  let magnitude: bigint;
  if (e >= 0) {
    // Any non-zero digit string times 10^e with e this large is past 2^53 already.
    if (e > 30) throw bad(value, 'too large');
    magnitude = (digits * 10n ** BigInt(e)) << BigInt(p.pow2);
  } else if (-e > digitCount + 19) {
    // digits * 2^60 < 10^(digitCount + 19): the amount is below one unit, and rounds up to it.
    magnitude = 1n;
  } else {
    const scaled = digits << BigInt(p.pow2);
    const divisor = 10n ** BigInt(-e);
    magnitude = scaled / divisor + (scaled % divisor === 0n ? 0n : 1n);
  }
  if (magnitude > MAX_SAFE) throw bad(value, `too large (over ${Number.MAX_SAFE_INTEGER} ${unitPow10 === -3 ? 'millicores' : 'units'})`);
  return Number(magnitude);
}

/** The amount in units of 10^unitPow10, rounded up in magnitude; throws beyond Number.MAX_SAFE_INTEGER. */
function toUnits(value: string | number, unitPow10: number): number {
  if (typeof value === 'number' && !Number.isFinite(value)) throw bad(value, 'not a finite number');
  if (typeof value !== 'string' && typeof value !== 'number') throw bad(value, 'must be a string or a number');
  // Quantity.UnmarshalJSON trims spaces and accepts JSON numbers.
  const p = scan(typeof value === 'number' ? String(value) : value.trim(), value);
  if (p.small === 0) return 0;
  const e = p.pow10 - unitPow10;
  const magnitude = (p.small !== undefined ? fastMagnitude(p.small, e, p.pow2) : undefined) ?? exactMagnitude(p, e, value, unitPow10);
  return p.negative ? -magnitude : magnitude;
}

/** A CPU quantity in millicores, as Quantity.MilliValue: "0.1" -> 100, "0.0001" -> 1, "2" -> 2000. */
export function parseMilli(value: string | number): number {
  return toUnits(value, -3);
}

/** A memory or count quantity in units, as Quantity.Value: "1Gi" -> 1073741824, "1.5" -> 2. */
export function parseUnits(value: string | number): number {
  return toUnits(value, 0);
}

const BINARY_NAMES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const DECIMAL_NAMES = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** Millicores the way Quantity.String prints them: 2000 -> "2", 1500 -> "1500m". */
export function formatMilli(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/**
 * Bytes or counts in the shortest exact form: the largest binary suffix that divides the amount
 * (from 1Ki up, as BinarySI prints), else the largest decimal one, else the plain number.
 */
export function formatUnits(units: number): string {
  if (units === 0) return '0';
  const sign = units < 0 ? '-' : '';
  let n = Math.abs(units);
  if (n >= 1024 && n % 1024 === 0) {
    let i = 0;
    while (n % 1024 === 0 && i < BINARY_NAMES.length - 1) {
      n /= 1024;
      i++;
    }
    return `${sign}${n}${BINARY_NAMES[i]}`;
  }
  let i = 0;
  while (n % 1000 === 0 && i < DECIMAL_NAMES.length - 1) {
    n /= 1000;
    i++;
  }
  return `${sign}${n}${DECIMAL_NAMES[i]}`;
}
