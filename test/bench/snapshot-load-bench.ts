// Memory to load a large `serve --state` snapshot (SPEC 7): generates a 35 MB state file (Pods as
// the apiserver serves them, managedFields and status included, as `kubectl get -o yaml` exports
// them: one multi-document YAML file and the same objects as a JSON List), then loads each in a
// fresh process and prints its peak RSS and the heap still used after a full GC. A smoke, not an
// assertion.
//   node --import=tsx test/bench/snapshot-load-bench.ts [megabytes]
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';

const MiB = 1024 * 1024;

function pod(i: number): Record<string, unknown> {
  const app = `app-${i % 500}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${app}-7c9d8f6b5-${i.toString(36).padStart(5, 'x')}`,
      namespace: `team-${i % 50}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(1_000_000 + i),
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app, 'pod-template-hash': '7c9d8f6b5', tier: 'backend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7c9d8f6b5`, uid: `rs-${i % 500}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:05Z', fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:phase': {}, 'f:podIP': {} } } },
      ],
    },
    spec: {
      containers: [
        { name: 'app', image: 'registry.example/app:1.2.3', resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } }, ports: [{ containerPort: 8080, protocol: 'TCP' }], volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] },
        { name: 'proxy', image: 'registry.example/proxy:2', resources: { requests: { cpu: '50m', memory: '64Mi' } } },
      ],
      nodeName: `node-${i % 200}`,
      serviceAccountName: 'default',
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
    },
    status: {
      phase: 'Running',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:05Z' }],
      containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'registry.example/app:1.2.3', imageID: `registry.example/app@sha256:${'ab'.repeat(32)}`, containerID: `containerd://${'cd'.repeat(32)}`, started: true, state: { running: { startedAt: '2026-01-01T00:00:04Z' } } }],
    },
  };
}

/** Writes `megabytes` of pods to dir/pods.yaml (multi-document) or dir/pods.json (a List). */
async function generate(dir: string, format: 'yaml' | 'json', megabytes: number): Promise<number> {
  const file = join(dir, `pods.${format}`);
  const out = createWriteStream(file);
  const write = (s: string) => new Promise<void>((resolve) => (out.write(s) ? resolve() : out.once('drain', resolve)));
  let bytes = 0;
  let n = 0;
  if (format === 'json') await write('{"apiVersion":"v1","kind":"List","items":[');
  while (bytes < megabytes * MiB) {
    const text = format === 'yaml' ? `---\n${stringify(pod(n))}` : `${n > 0 ? ',' : ''}${JSON.stringify(pod(n))}`;
    await write(text);
    bytes += text.length;
    n++;
  }
  if (format === 'json') await write(']}');
  await new Promise<void>((resolve) => out.end(resolve));
  return n;
}

/** In the child: load the directory, then report peak RSS and the heap kept after a full GC. */
async function child(dir: string): Promise<void> {
  const start = performance.now();
  const view = await SnapshotView.load(dir, {});
  const ms = performance.now() - start;
  (globalThis as { gc?: () => void }).gc!();
  const heap = process.memoryUsage().heapUsed;
  const rssPeak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ pods: view.store.count('Pod'), ms, heap, rssPeak }));
}

async function main(megabytes: number): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  console.log(`${'state file'.padEnd(28)}  ${'objects'.padStart(8)}  ${'load s'.padStart(7)}  ${'peak RSS MiB'.padStart(12)}  ${'heap kept MiB'.padStart(13)}  ${'bytes/object kept'.padStart(17)}`);
  for (const format of ['yaml', 'json'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'tenantguard-state-'));
    try {
      mkdirSync(dir, { recursive: true });
      await generate(dir, format, megabytes);
      const size = statSync(join(dir, `pods.${format}`)).size;
      const run = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=4096', '--import=tsx', self, '--child', dir], { encoding: 'utf8' });
      const label = `${(size / MiB).toFixed(1)} MB ${format}`;
      if (run.status !== 0) {
        console.log(`${label.padEnd(28)}  failed: ${run.stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}`);
        continue;
      }
      const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as { pods: number; ms: number; heap: number; rssPeak: number };
      console.log(
        `${label.padEnd(28)}  ${String(r.pods).padStart(8)}  ${(r.ms / 1000).toFixed(1).padStart(7)}  ${(r.rssPeak / MiB).toFixed(0).padStart(12)}  ${(r.heap / MiB).toFixed(0).padStart(13)}  ${(r.heap / r.pods).toFixed(0).padStart(17)}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main(Number(process.argv[2] ?? 35));
