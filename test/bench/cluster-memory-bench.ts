// Heap bytes per cached Pod (SPEC 12: under 1 KiB): 100k pods, as the apiserver sends them,
// projected and held the way the live view holds them (the ObjectStore plus the informer's own
// namespace -> name index). Run: node --expose-gc --import=tsx test/bench/cluster-memory-bench.ts
import { DEFAULT_CONFIG } from '../../server/config.js';
import { ObjectStore } from '../../server/cluster/object-store.js';
import { internStats, projectPod } from '../../server/cluster/projections.js';
import type { KubeObject } from '../../policies/types.js';

const COUNT = 100_000;
const NAMESPACES = 200;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

/** A pod as the apiserver serves it, managedFields and status included (the projection drops them). */
function rawPod(i: number, workload: number, uniqueLabels: boolean, uniqueResources: boolean): KubeObject {
  const ns = `team-${workload % NAMESPACES}`;
  const app = `app-${workload}`;
  const rs = `${app}-7c9d8f6b5`;
  const cpu = uniqueResources ? `${100 + (i % 900)}m` : '250m';
  const memory = uniqueResources ? `${128 + (i % 512)}Mi` : '256Mi';
  const labels: Record<string, string> = { app, 'pod-template-hash': '7c9d8f6b5', tier: 'backend' };
  if (uniqueLabels) labels['statefulset.kubernetes.io/pod-name'] = `${app}-${i}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${rs}-${i.toString(36).padStart(5, 'x')}`,
      generateName: `${rs}-`,
      namespace: ns,
      uid: crypto.randomUUID(),
      resourceVersion: String(1_000_000 + i),
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels,
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: `00000000-0000-0000-0000-${String(workload).padStart(12, '0')}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } }],
    } as KubeObject['metadata'],
    spec: {
      containers: [
        { name: 'app', image: 'registry.example/app:1.2.3', resources: { requests: { cpu, memory }, limits: { cpu: '1', memory: '512Mi' } }, ports: [{ containerPort: 8080 }] },
        { name: 'proxy', image: 'registry.example/proxy:2', resources: { requests: { cpu: '50m', memory: '64Mi' } } },
      ],
      nodeName: `node-${i % 500}`,
      serviceAccountName: 'default',
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }],
    },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function measure(label: string, uniqueLabels: boolean, uniqueResources: boolean): { label: string; bytesPerPod: number; specs: number; labelSets: number } {
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const store = new ObjectStore(DEFAULT_CONFIG.defaultTenant);
  // The informer (client-node ListWatch) indexes the same projections by namespace and name.
  const informerIndex = new Map<string, Map<string, KubeObject>>();
  for (let i = 0; i < COUNT; i++) {
    // Through JSON, as pods arrive from the apiserver (flat strings, parsed objects).
    const pod = projectPod(JSON.parse(JSON.stringify(rawPod(i, i % 2000, uniqueLabels, uniqueResources))) as KubeObject);
    store.upsert('Pod', pod);
    const ns = pod.metadata!.namespace!;
    let byName = informerIndex.get(ns);
    if (!byName) informerIndex.set(ns, (byName = new Map()));
    byName.set(pod.metadata!.name!, pod);
  }
  gc!();
  gc!();
  const after = process.memoryUsage().heapUsed;
  const stats = internStats();
  const row = { label, bytesPerPod: Math.round((after - before) / COUNT), specs: stats.podSpecs, labelSets: stats.labelSets };
  // Keep both alive until measured.
  if (store.count('Pod') !== COUNT || informerIndex.size === 0) throw new Error('lost pods');
  return row;
}

const rows = [
  measure('replicas (2,000 ReplicaSets x 50 pods)', false, false),
  measure('StatefulSet-like (labels unique per pod)', true, false),
  measure('worst case (labels and resources unique)', true, true),
];
console.log(`cached Pod projections: ${COUNT.toLocaleString()} pods in ${NAMESPACES} namespaces (target < 1024 bytes each)`);
console.log('scenario                                    bytes/pod  distinct specs  distinct label sets');
for (const r of rows) {
  console.log(`${r.label.padEnd(44)}${String(r.bytesPerPod).padStart(9)}${String(r.specs).padStart(16)}${String(r.labelSets).padStart(21)}`);
}
