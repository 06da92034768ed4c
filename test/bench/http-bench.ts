// End-to-end HTTPS benchmark (SPEC 12): tenantguard's /validate with every module on, next to a
// no-op Fastify TLS route measured in the same run. Both servers run at once, each in its own
// process (one core); autocannon drives one at a time from this process (the other core), and the
// headline alternates them so that noise from other work on the machine hits both. Every headline
// request is a new ~6 KB Pod CREATE (bench-reviews.ts). It prints tables and returns the numbers;
// it asserts nothing about time.
//   node --import=tsx test/bench/http-bench.ts [--duration S] [--rounds N] [--rates R,R] [--quick] [--profile DIR] [--json FILE]
//   node --import=tsx test/bench/http-bench.ts --serve noop|tenantguard   (internal: one server)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { parseAllDocuments } from 'yaml';
import { PLAIN_NAMESPACE, podReviews, TENANT_NAMESPACE, type ReviewMaker } from './bench-reviews.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const UNSAMPLED = `00-${TRACE_ID}-00f067aa0ba902b7-00`;
const SAMPLED = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

function review(object: Record<string, unknown>, kind: { group: string; version: string; kind: string }, resource: string) {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind,
      resource: { group: kind.group, version: kind.version, resource },
      namespace: 'bench',
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
      dryRun: false,
    },
  });
}

const container = (name: string, image: string, cpu: string, memory: string) => ({
  name,
  image,
  ports: [{ containerPort: 8080 }],
  resources: { requests: { cpu, memory }, limits: { cpu, memory } },
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
});

/** A Pod as a user writes it (three containers, pod-level defaults unset): /mutate has work to do. */
function webPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-7d9c5b8f4-abcde',
      namespace: 'bench',
      labels: { app: 'web', 'pod-template-hash': '7d9c5b8f4' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9c5b8f4', uid: 'a1b2', controller: true }],
    },
    spec: {
      containers: [
        container('app', 'registry.example.com/web:1.4.2', '250m', '256Mi'),
        container('metrics', 'registry.example.com/exporter:0.9', '50m', '64Mi'),
        container('proxy', 'registry.example.com/envoy:1.30', '100m', '128Mi'),
      ],
      volumes: [{ name: 'cache', emptyDir: {} }, { name: 'config', configMap: { name: 'web' } }],
    },
  };
}

const POD_REVIEW = review(webPod(), { group: '', version: 'v1', kind: 'Pod' }, 'pods');

/** A VirtualMachine that runs: charged in pod mode (launcher requests + overhead). */
const VM_REVIEW = review(
  {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'db', namespace: 'bench' },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: { 'kubevirt.io/domain': 'db' } },
        spec: {
          domain: {
            cpu: { cores: 2 },
            memory: { guest: '4Gi' },
            resources: { requests: { memory: '4Gi' } },
            devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] },
          },
          volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
        },
      },
    },
  },
  { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
  'virtualmachines',
);

async function serveNoop(): Promise<string> {
  const { default: Fastify } = await import('fastify');
  const { createTestPki } = await import('../helpers/https-fixture.js');
  const pki = await createTestPki('bench CA');
  const app = Fastify({ https: { key: pki.server.key, cert: pki.server.cert, minVersion: 'TLSv1.2' }, logger: false });
  app.post('/validate', async (req) => {
    const body = req.body as { request: { uid: string } };
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request.uid, allowed: true } };
  });
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function serveTenantguard(): Promise<string> {
  const { startServer } = await import('../../server/webhook-server.js');
  const { Writable } = await import('node:stream');
  // The review log line is part of the cost; it goes to a sink, not a terminal.
  const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const running = await startServer({
    flags: { state: `${here}state`, port: '0', host: '127.0.0.1', 'log-level': 'info' },
    logDestination: sink as never,
  });
  return running.url;
}

/** The V8 flags the shipped Deployment runs tenantguard with (heap sizes), so the bench measures them. */
async function deploymentNodeOptions(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(fileURLToPath(new URL('../../manifests/base/deployment.yaml', import.meta.url)), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } } };
    if (obj?.kind !== 'Deployment') continue;
    const value = obj.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
    if (value !== undefined) return value;
  }
  throw new Error('manifests/base/deployment.yaml: no NODE_OPTIONS on the tenantguard container');
}

/** What a server process reports about itself between loads. */
interface ServerUsage {
  cpuMicros: number;
  heapUsed: number;
}

interface BenchServer {
  kind: string;
  url: string;
  proc: ChildProcess;
  usage(): Promise<ServerUsage>;
}

/** Starts one server in a child process; it answers `usage` messages with its CPU time and heap. */
async function child(kind: 'noop' | 'tenantguard', env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<BenchServer> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import=tsx', fileURLToPath(import.meta.url), '--serve', kind], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let buffered = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = /^URL (\S+)$/m.exec(buffered);
      if (m) resolve(m[1]!);
    });
  });
  proc.removeAllListeners('exit');
  proc.stdout!.resume();
  const usage = async (): Promise<ServerUsage> => {
    proc.send('usage');
    const [message] = (await once(proc, 'message')) as [ServerUsage];
    return message;
  };
  return { kind, url, proc, usage };
}

function answerUsage(): void {
  process.on('message', (message) => {
    if (message !== 'usage') return;
    const cpu = process.cpuUsage();
    process.send!({ cpuMicros: cpu.user + cpu.system, heapUsed: process.memoryUsage().heapUsed } satisfies ServerUsage);
  });
}

async function stop(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM');
  await once(proc, 'exit');
}

export interface LoadResult {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Server CPU (user + system) per completed request. */
  cpuMicrosPerRequest: number;
  /** The server's heap after the load. */
  heapMB: number;
}

interface Load {
  name: string;
  server: BenchServer;
  path: string;
  /** A fixed body, or a new one per request. */
  body: string | ReviewMaker;
  traceparent?: string;
}

/** Request numbers continue across loads, so a server never sees a pod name twice. */
let sequence = 0;

async function load(l: Load, opts: { duration: number; rate?: number }): Promise<LoadResult> {
  const before = await l.server.usage();
  const make = l.body;
  const result = await autocannon({
    url: `${l.server.url}${l.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: l.traceparent ?? UNSAMPLED },
    ...(typeof make === 'string'
      ? { body: make }
      : { requests: [{ method: 'POST', setupRequest: (req: autocannon.Request) => ({ ...req, body: make(sequence++) }) }] }),
    connections: opts.rate ? 8 : 16,
    duration: opts.duration,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  const after = await l.server.usage();
  return {
    name: opts.rate ? `${l.name} @${opts.rate}/s` : l.name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    cpuMicrosPerRequest: (after.cpuMicros - before.cpuMicros) / Math.max(1, result.requests.total),
    heapMB: after.heapUsed / 2 ** 20,
  };
}

/** A loopback OTLP/HTTP receiver that accepts and drops spans, so exporting costs what it costs. */
async function otlpSink(): Promise<{ endpoint: string; server: Server; received: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { endpoint: `http://127.0.0.1:${port}/v1/traces`, server, received: () => n };
}

/** Measuring denials would flatter nothing: each scenario's review must be admitted as a whole. */
async function expectAllowed(url: string, body: string): Promise<void> {
  const { request: send, Agent } = await import('undici');
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const res = await send(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher });
  const review = (await res.body.json()) as { response?: { allowed?: boolean; status?: { message?: string } } };
  await dispatcher.close();
  if (res.statusCode !== 200 || review.response?.allowed !== true) {
    throw new Error(`${url} did not admit the benchmark review (${res.statusCode}): ${review.response?.status?.message ?? JSON.stringify(review)}`);
  }
}

export interface HttpBenchOptions {
  /** Seconds per measured load. */
  duration: number;
  /** Headline alternations: no-op, plain namespace, tenant namespace, no-op, per round. */
  rounds: number;
  /** Fixed request rates for the latency table. */
  rates: number[];
  /** Only the headline and the latency table (no VM, /mutate or sampled loads). */
  quick: boolean;
  /** Write a V8 CPU profile of the tenantguard server here (node --cpu-prof). */
  profileDir?: string;
}

export interface HttpBenchResults {
  /** Per round: the two tenantguard loads against the mean of the round's two no-op windows. */
  rounds: Array<{
    noop: LoadResult[];
    plain: LoadResult;
    tenant: LoadResult;
    plainRatio: number;
    tenantRatio: number;
    /** No-op server CPU per request over tenantguard's: the throughput ratio were the server the bottleneck. */
    plainCpuRatio: number;
    tenantCpuRatio: number;
  }>;
  latency: LoadResult[];
  other: LoadResult[];
}

export async function runHttpBench(opts: HttpBenchOptions): Promise<HttpBenchResults> {
  const sink = await otlpSink();
  const noopServer = await child('noop', {});
  const profile = opts.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`];
  const nodeOptions = await deploymentNodeOptions();
  const tg = await child('tenantguard', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.endpoint, NODE_OPTIONS: nodeOptions }, profile);
  console.log(`tenantguard runs with NODE_OPTIONS="${nodeOptions}" (manifests/base/deployment.yaml)`);
  const results: HttpBenchResults = { rounds: [], latency: [], other: [] };
  try {
    const plainPods = podReviews(PLAIN_NAMESPACE).create;
    const tenantPods = podReviews(TENANT_NAMESPACE).create;
    await expectAllowed(`${tg.url}/validate`, plainPods(sequence++));
    await expectAllowed(`${tg.url}/validate`, tenantPods(sequence++));
    const noop: Load = { name: 'no-op TLS route', server: noopServer, path: '/validate', body: tenantPods };
    const plain: Load = { name: '/validate Pod, namespace no Tenant claims', server: tg, path: '/validate', body: plainPods };
    const tenant: Load = { name: '/validate Pod, tenant namespace, all modules', server: tg, path: '/validate', body: tenantPods };

    for (const warm of [noop, plain, tenant]) await load(warm, { duration: 2 });
    for (let r = 0; r < opts.rounds; r++) {
      const first = await load(noop, opts);
      const p = await load(plain, opts);
      const t = await load(tenant, opts);
      const last = await load(noop, opts);
      const base = (first.rps + last.rps) / 2;
      const cpu = (first.cpuMicrosPerRequest + last.cpuMicrosPerRequest) / 2;
      results.rounds.push({
        noop: [first, last],
        plain: p,
        tenant: t,
        plainRatio: p.rps / base,
        tenantRatio: t.rps / base,
        plainCpuRatio: cpu / p.cpuMicrosPerRequest,
        tenantCpuRatio: cpu / t.cpuMicrosPerRequest,
      });
    }
    const fixed = Math.max(3, Math.round(opts.duration / 2));
    for (const rate of opts.rates) {
      for (const l of [noop, plain, tenant]) results.latency.push(await load(l, { duration: fixed, rate }));
    }

    if (!opts.quick) {
      for (const [path, body] of [['/validate', VM_REVIEW], ['/mutate', POD_REVIEW]] as const) await expectAllowed(`${tg.url}${path}`, body);
      results.other.push(await load({ name: '/validate VM, unsampled', server: tg, path: '/validate', body: VM_REVIEW }, opts));
      results.other.push(await load({ name: '/mutate Pod needing defaults, unsampled', server: tg, path: '/mutate', body: POD_REVIEW }, opts));
      results.other.push(await load({ ...tenant, name: '/validate Pod, tenant, sampled+exported', traceparent: SAMPLED }, opts));
      if (sink.received() === 0) throw new Error('the sampled run exported no spans to the OTLP receiver');
    }
  } finally {
    await stop(noopServer.proc);
    await stop(tg.proc);
    sink.server.close();
  }
  return results;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const range = (xs: number[]) => (xs.length === 1 ? pct(xs[0]!) : `${pct(Math.min(...xs))}-${pct(Math.max(...xs))}`);

function row(r: LoadResult, ratio = '', cpuRatio = ''): string {
  return `${r.name.padEnd(48)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(7)} ${r.cpuMicrosPerRequest.toFixed(0).padStart(7)} ${r.heapMB.toFixed(0).padStart(7)} ${ratio.padStart(9)} ${cpuRatio.padStart(9)} ${String(r.errors + r.non2xx).padStart(6)}`;
}

export function printHttpTable(results: HttpBenchResults): void {
  const header = `${'load'.padEnd(48)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'CPU µs'.padStart(7)} ${'heap MB'.padStart(7)} ${'vs no-op'.padStart(9)} ${'CPU ratio'.padStart(9)} ${'errors'.padStart(6)}`;
  console.log('\nEnd-to-end HTTPS, alternating (1 server core, autocannon on the other)');
  console.log('CPU µs: server CPU (all threads) per request; CPU ratio: no-op CPU µs / this load\'s, the req/s ratio a server-bound load would show');
  console.log(header);
  results.rounds.forEach((round, i) => {
    console.log(`round ${i + 1}`);
    console.log(row(round.noop[0]!));
    console.log(row(round.plain, pct(round.plainRatio), pct(round.plainCpuRatio)));
    console.log(row(round.tenant, pct(round.tenantRatio), pct(round.tenantCpuRatio)));
    console.log(row(round.noop[1]!));
  });
  const ratios = (f: (r: HttpBenchResults['rounds'][number]) => number) => range(results.rounds.map(f));
  console.log('\nvs no-op, goal >= 70% (req/s ratio; CPU ratio)');
  console.log(`  namespace no Tenant claims:            ${ratios((r) => r.plainRatio)}; ${ratios((r) => r.plainCpuRatio)}`);
  console.log(`  tenant namespace, every module works:  ${ratios((r) => r.tenantRatio)}; ${ratios((r) => r.tenantCpuRatio)}`);
  console.log('\nLatency at fixed request rates (autocannon resolution 1 ms)');
  console.log(header);
  for (const r of results.latency) console.log(row(r));
  if (results.other.length > 0) {
    const noops = results.rounds.flatMap((r) => r.noop);
    const mean = (f: (r: LoadResult) => number) => noops.reduce((sum, r) => sum + f(r), 0) / noops.length;
    const rps = mean((r) => r.rps);
    const cpu = mean((r) => r.cpuMicrosPerRequest);
    console.log('\nOther loads (ratios vs the mean no-op above)');
    console.log(header);
    for (const r of results.other) console.log(row(r, pct(r.rps / rps), pct(cpu / r.cpuMicrosPerRequest)));
  }
}

const isMain = process.argv[1] === fileURLToPath(import.meta.url);
const { values } = parseArgs({
  args: isMain ? process.argv.slice(2) : [],
  options: {
    serve: { type: 'string' },
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    rates: { type: 'string', default: '500,2000' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    json: { type: 'string' },
  },
});
if (!isMain) {
  // Imported for its exports (runHttpBench, printHttpTable): nothing to run here.
} else if (values.serve === 'noop' || values.serve === 'tenantguard') {
  const url = values.serve === 'noop' ? await serveNoop() : await serveTenantguard();
  answerUsage();
  process.stdout.write(`URL ${url}\n`);
  process.on('SIGTERM', () => process.exit(0));
} else {
  const numbers = (name: string, raw: string) => {
    const list = raw.split(',').map(Number);
    if (list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name}: expected positive integers, got "${raw}"`);
    return list;
  };
  const results = await runHttpBench({
    duration: numbers('duration', values.duration!)[0]!,
    rounds: numbers('rounds', values.rounds!)[0]!,
    rates: numbers('rates', values.rates!),
    quick: values.quick!,
    ...(values.profile !== undefined ? { profileDir: values.profile } : {}),
  });
  printHttpTable(results);
  if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
}
