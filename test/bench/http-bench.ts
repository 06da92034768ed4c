// End-to-end HTTPS benchmark (SPEC 12): tenantguard's /validate and /mutate with every module on,
// next to a no-op Fastify TLS route measured in the same run. Each server runs in its own process
// (one core) and autocannon drives it from this one (the other core). It prints a table and returns
// the numbers; it asserts nothing about time.
//   node --import=tsx test/bench/http-bench.ts [--duration S] [--json FILE]
//   node --import=tsx test/bench/http-bench.ts --serve noop|tenantguard   (internal: one server)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

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

/** A typical Deployment-made Pod: three containers with resources, as a user writes it. */
function webPod(podSecurityContext?: Record<string, unknown>): Record<string, unknown> {
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
      ...(podSecurityContext ? { securityContext: podSecurityContext } : {}),
      containers: [
        container('app', 'registry.example.com/web:1.4.2', '250m', '256Mi'),
        container('metrics', 'registry.example.com/exporter:0.9', '50m', '64Mi'),
        container('proxy', 'registry.example.com/envoy:1.30', '100m', '128Mi'),
      ],
      volumes: [{ name: 'cache', emptyDir: {} }, { name: 'config', configMap: { name: 'web' } }],
    },
  };
}

const POD = { group: '', version: 'v1', kind: 'Pod' };
/** What /mutate receives: pod-level secure defaults unset, so the mutation has work to do. */
export const POD_REVIEW = review(webPod(), POD, 'pods');
/** What /validate then receives: the same Pod as the mutating webhook left it. */
export const MUTATED_POD_REVIEW = review(
  webPod({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, seLinuxOptions: { level: 's0:c123,c456' } }),
  POD,
  'pods',
);

/** A VirtualMachine that runs: charged in pod mode (launcher requests + overhead). */
export const VM_REVIEW = review(
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

/** Starts one server in a child process and returns its URL. */
async function child(kind: 'noop' | 'tenantguard', env: NodeJS.ProcessEnv): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import=tsx', fileURLToPath(import.meta.url), '--serve', kind], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
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
  return { url, proc };
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
}

async function load(name: string, url: string, body: string, opts: { duration: number; rate?: number; traceparent: string }): Promise<LoadResult> {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: opts.traceparent },
    body,
    connections: opts.rate ? 8 : 16,
    duration: opts.duration,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  return {
    name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
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

export async function runHttpBench(duration: number): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  const rates = [200, 500, 1000];
  const fixed = Math.max(3, Math.round(duration / 2));

  const noop = await child('noop', {});
  try {
    await load('warm-up', `${noop.url}/validate`, POD_REVIEW, { duration: 2, traceparent: UNSAMPLED });
    results.push(await load('no-op TLS route', `${noop.url}/validate`, POD_REVIEW, { duration, traceparent: UNSAMPLED }));
    for (const rate of rates) {
      results.push(await load(`no-op @${rate}/s`, `${noop.url}/validate`, POD_REVIEW, { duration: fixed, rate, traceparent: UNSAMPLED }));
    }
  } finally {
    await stop(noop.proc);
  }

  const sink = await otlpSink();
  const tg = await child('tenantguard', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.endpoint });
  try {
    for (const [path, body] of [['/validate', MUTATED_POD_REVIEW], ['/validate', VM_REVIEW], ['/mutate', POD_REVIEW]] as const) {
      await expectAllowed(`${tg.url}${path}`, body);
    }
    await load('warm-up', `${tg.url}/validate`, MUTATED_POD_REVIEW, { duration: 2, traceparent: UNSAMPLED });
    results.push(await load('/validate Pod, unsampled', `${tg.url}/validate`, MUTATED_POD_REVIEW, { duration, traceparent: UNSAMPLED }));
    results.push(await load('/validate VM, unsampled', `${tg.url}/validate`, VM_REVIEW, { duration, traceparent: UNSAMPLED }));
    results.push(await load('/mutate Pod, unsampled', `${tg.url}/mutate`, POD_REVIEW, { duration, traceparent: UNSAMPLED }));
    results.push(await load('/validate Pod, sampled+exported', `${tg.url}/validate`, MUTATED_POD_REVIEW, { duration, traceparent: SAMPLED }));
    for (const rate of rates) {
      results.push(await load(`/validate Pod @${rate}/s`, `${tg.url}/validate`, MUTATED_POD_REVIEW, { duration: fixed, rate, traceparent: UNSAMPLED }));
    }
  } finally {
    await stop(tg.proc);
    sink.server.close();
  }
  if (sink.received() === 0) throw new Error('the sampled run exported no spans to the OTLP receiver');
  return results;
}

export function printHttpTable(results: LoadResult[]): void {
  const noop = results.find((r) => r.name === 'no-op TLS route')!;
  console.log('\nEnd-to-end HTTPS (1 server core, autocannon on the other)');
  console.log('scenario                              req/s    p50 ms  p99 ms  vs no-op  errors');
  for (const r of results) {
    const ratio = r.name.includes('@') ? '' : `${((100 * r.rps) / noop.rps).toFixed(0)}%`;
    console.log(
      `${r.name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(7)} ${ratio.padStart(9)} ${String(r.errors + r.non2xx).padStart(7)}`,
    );
  }
}

const { values } = parseArgs({
  options: { serve: { type: 'string' }, duration: { type: 'string', default: '10' }, json: { type: 'string' } },
});
if (values.serve === 'noop' || values.serve === 'tenantguard') {
  const url = values.serve === 'noop' ? await serveNoop() : await serveTenantguard();
  process.stdout.write(`URL ${url}\n`);
  process.on('SIGTERM', () => process.exit(0));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await runHttpBench(Number(values.duration));
  printHttpTable(results);
  if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
}
