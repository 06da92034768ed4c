// Where a V8 CPU profile (node --cpu-prof, e.g. http-bench.ts --profile DIR) spends its samples:
// self time by function and by package or source file, and time including callees, as shares of
// all busy samples, so that a cost can be named and measured before and after a change.
//   node --import=tsx test/bench/profile-summary.ts FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

/** node_modules/<package> for dependencies, the project-relative path for our own files. */
function origin(url: string): string {
  if (url === '') return '(native)';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1]!;
  const own = /\/((?:server|policies|certs|test)\/.*)$/.exec(url);
  if (own) return own[1]!;
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

function top(counts: Map<string, number>, total: number, n: number): string[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, c]) => `${((100 * c) / total).toFixed(1).padStart(5)}%  ${name}`);
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
if (positionals.length !== 1) {
  console.error('usage: profile-summary.ts FILE.cpuprofile [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node.id);
const label = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${origin(url)}${url ? `:${lineNumber + 1}` : ''}`;
};
const inclusive = new Map<string, number>();
const selfByFunction = new Map<string, number>();
const selfByOrigin = new Map<string, number>();
let total = 0;
for (const id of profile.samples) {
  const node = byId.get(id)!;
  const { functionName, url } = node.callFrame;
  if (functionName === '(idle)') continue;
  total++;
  const where = origin(url);
  const fn = label(node);
  selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + 1);
  selfByOrigin.set(where, (selfByOrigin.get(where) ?? 0) + 1);
  // Each function once per sample, however deep it recurses.
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) seen.add(label(byId.get(at)!));
  for (const f of seen) inclusive.set(f, (inclusive.get(f) ?? 0) + 1);
}
const n = Number(values.top);
console.log(`${total} busy samples\n\nself time by package or file`);
for (const line of top(selfByOrigin, total, n)) console.log(line);
console.log('\nself time by function');
for (const line of top(selfByFunction, total, n)) console.log(line);
console.log('\ntime including callees, by function');
for (const line of top(inclusive, total, n)) console.log(line);
