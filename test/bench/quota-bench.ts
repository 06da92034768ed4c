// In-process cost of a tenant-quota decision (evaluate + commit through the engine) for a Pod, a
// VirtualMachine and a VirtualMachine with two dataVolumeTemplates, with 100, 10,000 and 100,000
// Pods in the tenant's namespace: the decision must not grow with the cluster (SPEC 12). Also the
// one-off reconcile over the same views. A smoke, not an assertion.
//   node --import=tsx test/bench/quota-bench.ts [iterations]
import { pathToFileURL } from 'node:url';
import { PolicyEngine } from '../../policies/engine.js';
import { tenantQuota } from '../../policies/quota/module.js';
import { tenantUsage } from '../../policies/quota/usage.js';
import type { AdmissionRequest, KubeObject } from '../../policies/types.js';
import { MemoryLedger } from '../../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { measureAsync, printTable, type BenchRow } from './measure.js';

const NS = 'team-a';
const SETTINGS = { kubevirtServiceAccounts: ['system:serviceaccount:kubevirt:kubevirt-controller'] };

function pod(i: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${i}`, namespace: NS, uid: `uid-${i}`, labels: { app: 'web' } },
    spec: {
      initContainers: [{ name: 'migrate', image: 'migrate:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
      containers: [
        { name: 'app', image: 'web:2', resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } } },
        { name: 'proxy', image: 'proxy:1', resources: { requests: { cpu: '50m', memory: '32Mi' } } },
      ],
    },
    status: { phase: 'Running' },
  };
}

const vm: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm-1', namespace: NS, uid: 'uid-vm-1' },
  spec: {
    runStrategy: 'Always',
    template: { spec: { domain: { cpu: { sockets: 2, cores: 1, threads: 1 }, memory: { guest: '4Gi' }, devices: { tpm: {} } } } },
  },
};

/** A VM with two disks CDI makes from dataVolumeTemplates (storage quota, SPEC 6.6). */
const vmWithDisks: KubeObject = {
  ...vm,
  metadata: { name: 'vm-disks', namespace: NS, uid: 'uid-vm-disks' },
  spec: {
    ...vm.spec,
    dataVolumeTemplates: [
      { metadata: { name: 'vm-disks-root' }, spec: { source: { http: { url: 'https://example.com/f.qcow2' } }, storage: { resources: { requests: { storage: '20Gi' } } } } },
      { metadata: { name: 'vm-disks-data' }, spec: { source: { blank: {} }, pvc: { storageClassName: 'fast', resources: { requests: { storage: '100Gi' } } } } },
    ],
  },
};

function viewWith(pods: number): SnapshotView {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  view.add({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    // Generous limits: every measured request is admitted and committed.
    spec: { namespaces: [NS], quota: { hard: { 'count/pods': '1e9', 'requests.cpu': '1e9', 'requests.memory': '4Pi', 'limits.cpu': '1e9', 'limits.memory': '4Pi', 'count/virtualmachines.kubevirt.io': '1e9', 'requests.storage': '4Pi' } } },
  });
  view.add({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } });
  view.add({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDIConfig', metadata: { name: 'config' }, status: { filesystemOverhead: { global: '0.055' } } });
  view.add({ apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: 'kubevirt' }, spec: { configuration: {} } });
  for (let i = 0; i < pods; i++) view.add(pod(i));
  return view;
}

function request(object: KubeObject, group: string): AdmissionRequest {
  return {
    uid: 'bench',
    kind: { group, version: 'v1', kind: object.kind! },
    resource: { group, version: 'v1', resource: `${object.kind!.toLowerCase()}s` },
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
  };
}

export async function runQuotaBench(iterations = 20_000): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const pods of [100, 10_000, 100_000]) {
    const view = viewWith(pods);
    const ledger = new MemoryLedger(view);
    const started = process.hrtime.bigint();
    ledger.used('tenant-a');
    const reconcileUs = Number(process.hrtime.bigint() - started) / 1000;
    rows.push({ case: `observed usage built, ${pods} pods`, iterations: 1, p50us: reconcileUs, p99us: reconcileUs, meanUs: reconcileUs });
    const engine = new PolicyEngine(
      [tenantQuota],
      { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: SETTINGS },
      { view, ledger },
    );
    const podReview = request(pod(pods + 1), '');
    const vmReview = request(vm, 'kubevirt.io');
    const disksReview = request(vmWithDisks, 'kubevirt.io');
    for (const r of [podReview, vmReview, disksReview]) {
      const d = await engine.review(r, 'validate');
      if (!d.allowed || d.modules[0]?.result !== 'allow' || d.modules[0].error) throw new Error(`not a clean admit: ${JSON.stringify(d.modules)}`);
    }
    rows.push(await measureAsync(`Pod CREATE decision, ${pods} pods in view`, iterations, () => engine.review(podReview, 'validate')));
    rows.push(await measureAsync(`VM CREATE decision (pod charging), ${pods} pods in view`, iterations, () => engine.review(vmReview, 'validate')));
    rows.push(await measureAsync(`VM with 2 disks CREATE decision, ${pods} pods in view`, iterations, () => engine.review(disksReview, 'validate')));
    // Keeps the incremental sums honest: they agree with a recompute from the objects.
    if (tenantUsage(view, [NS], SETTINGS, 'pod')['count/pods'] !== ledger.observed.tenantUsage('tenant-a')['count/pods']) throw new Error('observed usage miscounted the pods');
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const iterations = Number(process.argv[2] ?? 20_000);
  printTable(await runQuotaBench(iterations));
}
