// `make bench`: every benchmark in one run, one table after another, and the raw output as JSON in
// bench-results/. Each runs in its own process so that one's heap and JIT state do not colour the
// next (the memory benchmarks also need --expose-gc). Nothing here asserts anything about time.
// The headline (SPEC 12) comes first: end-to-end HTTPS against the no-op, then heap over 1M reviews.
// Shorter runs: --duration 4 --rounds 2 --reviews 200000 --quick (about 3 minutes).
//   node --import=tsx test/bench/run.ts [--duration S] [--rounds N] [--reviews N] [--iterations N] [--quick]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    reviews: { type: 'string', default: '1000000' },
    iterations: { type: 'string', default: '20000' },
    quick: { type: 'boolean', default: false },
  },
});
const out = fileURLToPath(new URL('../../bench-results/', import.meta.url));
mkdirSync(out, { recursive: true });

const httpArgs = ['--duration', values.duration!, '--rounds', values.rounds!, '--json', `${out}http.json`, ...(values.quick ? ['--quick'] : [])];
const benches: Array<{ name: string; args: string[] }> = [
  { name: 'end-to-end HTTPS vs a no-op Fastify TLS route', args: [`${here}http-bench.ts`, ...httpArgs] },
  { name: 'where a review\'s microseconds go, stage by stage', args: [`${here}review-stages-bench.ts`, '--iterations', values.iterations!] },
  { name: 'heap and cost per review over a long run', args: ['--expose-gc', `${here}review-heap-bench.ts`, '--reviews', values.reviews!] },
  { name: 'in-process pod-security and secure-defaults', args: [`${here}pod-security-bench.ts`, values.iterations!] },
  { name: 'quota ledger writes per create, creates through the webhook at 1, 20, 200 in flight', args: [`${here}ledger-write-bench.ts`, '--replicas', '1,3'] },
  { name: 'in-process tenant-quota decision vs cluster size', args: [`${here}quota-bench.ts`, values.iterations!] },
  { name: 'memory per cached Pod projection', args: ['--expose-gc', `${here}cluster-memory-bench.ts`] },
  { name: 'worst-case reviews: huge pods, a crowded NetworkPolicy namespace', args: [`${here}worst-case-bench.ts`, '30'] },
  { name: 'memory to load a 35 MB state file', args: [`${here}snapshot-load-bench.ts`, '35'] },
  { name: 'informer work under event storms: 2,000 VMs, 200 VMI updates; Namespace events at 100k pods', args: [`${here}informer-storm-bench.ts`, ...(values.quick ? ['--quick'] : [])] },
];

const report: Record<string, { status: number | null; output: string }> = {};
let failed = false;
for (const bench of benches) {
  console.log(`\n=== ${bench.name}`);
  const run = spawnSync(process.execPath, ['--import=tsx', ...bench.args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(run.stdout);
  report[bench.name] = { status: run.status, output: run.stdout };
  if (run.status !== 0) failed = true;
}
const http = existsSync(`${out}http.json`) ? (JSON.parse(readFileSync(`${out}http.json`, 'utf8')) as unknown) : null;
writeFileSync(`${out}bench.json`, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, http, report }, null, 2)}\n`);
console.log(`\nraw results: ${out}bench.json`);
process.exit(failed ? 1 : 0);
