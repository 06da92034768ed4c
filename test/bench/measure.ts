// Timing for the in-process benchmarks: warm up, then one hrtime sample per call, reported as
// p50/p99/mean in microseconds, and the table they print.
export interface BenchRow {
  case: string;
  iterations: number;
  p50us: number;
  p99us: number;
  meanUs: number;
}

function percentiles(samples: BigUint64Array): { p50us: number; p99us: number; meanUs: number } {
  const sorted = samples.slice().sort();
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!) / 1000;
  let total = 0n;
  for (const s of samples) total += s;
  return { p50us: at(0.5), p99us: at(0.99), meanUs: Number(total / BigInt(samples.length)) / 1000 };
}

export function measureSync(name: string, iterations: number, fn: () => unknown): BenchRow {
  for (let i = 0; i < Math.min(5000, iterations); i++) fn();
  const samples = new BigUint64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    fn();
    samples[i] = process.hrtime.bigint() - start;
  }
  return { case: name, iterations, ...percentiles(samples) };
}

export async function measureAsync(name: string, iterations: number, fn: () => Promise<unknown>): Promise<BenchRow> {
  for (let i = 0; i < Math.min(5000, iterations); i++) await fn();
  const samples = new BigUint64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples[i] = process.hrtime.bigint() - start;
  }
  return { case: name, iterations, ...percentiles(samples) };
}

export function printTable(rows: BenchRow[]): void {
  const width = Math.max(...rows.map((r) => r.case.length));
  console.log(`${'case'.padEnd(width)}  ${'p50 µs'.padStart(10)}  ${'p99 µs'.padStart(10)}  ${'mean µs'.padStart(10)}  n`);
  for (const r of rows) {
    console.log(`${r.case.padEnd(width)}  ${r.p50us.toFixed(2).padStart(10)}  ${r.p99us.toFixed(2).padStart(10)}  ${r.meanUs.toFixed(2).padStart(10)}  ${r.iterations}`);
  }
}
