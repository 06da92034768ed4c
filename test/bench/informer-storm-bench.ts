// Informer work under event storms (issue 20 item 5): how long the event loop is held while the
// observed quota usage follows the store. Events arrive one per macrotask, as the informers deliver
// them; a review (a tenantUsage read, what every quota decision starts with) follows some of them.
// Reported: the longest stretch of informer work (the store listener, or a background slice), the
// objects recharged, the costliest review after an event, and the longest event-loop block seen by
// monitorEventLoopDelay (1 ms resolution: it also sees GC pauses). Wall times: on a shared machine
// other processes inflate them; the recharge count is exact. A smoke, not an assertion.
//   node --import=tsx test/bench/informer-storm-bench.ts [--quick]
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setImmediate as nextTask, setTimeout as sleep } from 'node:timers/promises';
import { LAUNCHER_STAMP } from '../../policies/kube/virt-launcher.js';
import type { KubeObject, ViewKind } from '../../policies/types.js';
import { MemoryLedger } from '../../server/quota-ledger/memory-ledger.js';
import { ObservedUsage } from '../../server/cluster/observed-usage.js';
import { project } from '../../server/cluster/projections.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';

const quick = process.argv.includes('--quick');

function put(view: SnapshotView, kind: ViewKind, obj: KubeObject): void {
  view.store.upsert(kind, project(kind, { kind, ...obj }));
}

function tenant(view: SnapshotView, name: string, selector: Record<string, string>): void {
  put(view, 'Tenant', {
    metadata: { name, uid: `uid-${name}` },
    spec: { namespaceSelector: { matchLabels: selector }, quota: { hard: { 'requests.cpu': '100k', 'requests.memory': '100Pi', 'requests.storage': '100Pi' } } },
  });
}

function pod(ns: string, name: string): KubeObject {
  return {
    metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs', controller: true }] },
    spec: { containers: [{ name: 'app', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } } }] },
    status: { phase: 'Running' },
  };
}

/** A running VM as KubeVirt leaves it: the VM, its VMI, its stamped launcher pod, and its root disk's PVC. */
function vm(view: SnapshotView, ns: string, i: number): void {
  const name = `vm-${i}`;
  const vmUid = `uid-${ns}-${name}`;
  const vmiUid = `uid-${ns}-${name}-vmi`;
  const domain = { cpu: { cores: 2 }, memory: { guest: '4Gi' }, devices: {} };
  put(view, 'VirtualMachine', {
    apiVersion: 'kubevirt.io/v1',
    metadata: { name, namespace: ns, uid: vmUid },
    spec: { runStrategy: 'Always', template: { spec: { domain } } },
    status: { printableStatus: 'Running', created: true, ready: true },
  });
  put(view, 'VirtualMachineInstance', vmi(ns, name, vmUid, vmiUid, 'node-0'));
  put(view, 'Pod', {
    metadata: {
      name: `virt-launcher-${name}-abcde`,
      namespace: ns,
      uid: `uid-${ns}-${name}-pod`,
      labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': vmiUid },
      annotations: { [LAUNCHER_STAMP]: vmiUid },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name, uid: vmiUid, controller: true }],
    },
    spec: { containers: [{ name: 'compute', resources: { requests: { cpu: '200m', memory: '4400Mi' }, limits: {} } }] },
    status: { phase: 'Running' },
  });
  put(view, 'PersistentVolumeClaim', {
    metadata: { name: `${name}-root`, namespace: ns, uid: `uid-${ns}-${name}-pvc` },
    spec: { resources: { requests: { storage: '20Gi' } } },
    status: { phase: 'Bound', capacity: { storage: '20Gi' } },
  });
}

function vmi(ns: string, name: string, vmUid: string, uid: string, node: string): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    metadata: { name, namespace: ns, uid, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name, uid: vmUid, controller: true }] },
    spec: { domain: { cpu: { cores: 2 }, memory: { guest: '4Gi' }, devices: {} } },
    status: { phase: 'Running', nodeName: node, activePods: { [`uid-${ns}-${name}-pod`]: node } },
  };
}

interface Storm {
  handlerMaxMs: number;
  handlerP99Ms: number;
  /** Informer work calls that held the loop over 10 ms. */
  over10ms: number;
  handlerTotalMs: number;
  recharged: number;
  loopMaxMs: number;
  reviewMaxMs: number;
}

/**
 * The observed usage's informer work, per call: the store listener (`changed`) and, where there is
 * one, each background slice (`drain`); also the objects recharged (a count no other process skews).
 */
const probe = { calls: [] as number[], recharged: 0, depth: 0 };


for (const method of ['changed', 'drain']) {
  const proto = ObservedUsage.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = proto[method];
  if (original === undefined) continue;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (probe.depth > 0) return original.apply(this, args);
    probe.depth++;
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      probe.depth--;
      probe.calls.push(performance.now() - t0);
    }
  };
}
{
  const proto = ObservedUsage.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const recharge = proto.recharge!;
  proto.recharge = function (this: unknown, ...args: unknown[]) {
    probe.recharged++;
    return recharge.apply(this, args);
  };
}

/** Delivers events one per macrotask, a review after each, and waits for background work to settle. */
async function storm(events: Array<() => void>, review: () => void): Promise<Storm> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  await nextTask();
  Object.assign(probe, { calls: [], recharged: 0 });
  h.enable();
  let reviewMaxMs = 0;
  for (const event of events) {
    event();
    await nextTask();
    const r0 = performance.now();
    review();
    reviewMaxMs = Math.max(reviewMaxMs, performance.now() - r0);
    await nextTask();
  }
  // Until the background slices (where the implementation has them) have stopped for 100 ms.
  for (let seen = -1; seen !== probe.calls.length; ) {
    seen = probe.calls.length;
    await sleep(100);
  }
  h.disable();
  const calls = [...probe.calls].sort((a, b) => a - b);
  return {
    handlerMaxMs: calls.at(-1) ?? 0,
    handlerP99Ms: calls[Math.floor(calls.length * 0.99)] ?? 0,
    over10ms: calls.filter((ms) => ms > 10).length,
    handlerTotalMs: calls.reduce((a, b) => a + b, 0),
    recharged: probe.recharged,
    loopMaxMs: h.max / 1e6,
    reviewMaxMs,
  };
}

type Row = [string, Storm];

function row(name: string, s: Storm): Row {
  return [name, s];
}

function printRows(rows: Row[]): void {
  const width = Math.max(...rows.map(([name]) => name.length));
  const cols = ['informer work: longest ms', 'p99 ms', 'calls > 10 ms', 'total ms', 'objects recharged', 'slowest review after ms', 'longest loop block ms'];
  console.log(`${'case'.padEnd(width)}  ${cols.map((c) => c.padStart(c.length)).join('  ')}`);
  for (const [name, s] of rows) {
    const values = [s.handlerMaxMs.toFixed(2), s.handlerP99Ms.toFixed(2), String(s.over10ms), s.handlerTotalMs.toFixed(1), String(s.recharged), s.reviewMaxMs.toFixed(2), s.loopMaxMs.toFixed(1)];
    console.log(`${name.padEnd(width)}  ${values.map((v, i) => v.padStart(cols[i]!.length)).join('  ')}`);
  }
}

async function vmiStorm(): Promise<Row> {
  const view = new SnapshotView({});
  const vms = 2000;
  put(view, 'Namespace', { metadata: { name: 'vms', labels: { team: 'vm' } } });
  tenant(view, 'tenant-vm', { team: 'vm' });
  for (let i = 0; i < vms; i++) vm(view, 'vms', i);
  // Another tenant, whose pod CREATE must not wait behind the storm.
  put(view, 'Namespace', { metadata: { name: 'web', labels: { team: 'web' } } });
  tenant(view, 'tenant-web', { team: 'web' });
  for (let i = 0; i < 10_000; i++) put(view, 'Pod', pod('web', `web-${i}`));
  const ledger = new MemoryLedger(view);
  ledger.used('tenant-vm');
  ledger.used('tenant-web');
  const updates = 200;
  const events = Array.from({ length: updates }, (_, k) => () => {
    const i = (k * 7) % vms;
    put(view, 'VirtualMachineInstance', vmi('vms', `vm-${i}`, `uid-vms-vm-${i}`, `uid-vms-vm-${i}-vmi`, `node-${k + 1}`));
  });
  const s = await storm(events, () => ledger.used('tenant-web'));
  return row(`VMI storm: ${vms} VMs, ${updates} VMI updates`, s);
}

async function bigCluster(): Promise<{ view: SnapshotView; ledger: MemoryLedger }> {
  const view = new SnapshotView({});
  const podNamespaces = quick ? 100 : 500;
  const vmNamespaces = quick ? 10 : 50;
  put(view, 'StorageClass', { metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' }, creationTimestamp: '2024-01-01T00:00:00Z' } });
  for (let n = 0; n < podNamespaces; n++) {
    const ns = `pods-${n}`;
    put(view, 'Namespace', { metadata: { name: ns, labels: { team: `t${n % 250}` } } });
    for (let i = 0; i < 200; i++) put(view, 'Pod', pod(ns, `web-${i}`));
  }
  for (let n = 0; n < vmNamespaces; n++) {
    const ns = `vms-${n}`;
    put(view, 'Namespace', { metadata: { name: ns, labels: { team: `t${n % 250}` } } });
    for (let i = 0; i < 200; i++) vm(view, ns, i);
  }
  for (let t = 0; t < 250; t++) tenant(view, `tenant-${t}`, { team: `t${t}` });
  const ledger = new MemoryLedger(view);
  for (let t = 0; t < 250; t++) ledger.used(`tenant-${t}`);
  return { view, ledger };
}

async function namespaceEvents(big: { view: SnapshotView; ledger: MemoryLedger }): Promise<Row[]> {
  const { view, ledger } = big;
  const pods = view.store.count('Pod');
  const vmCount = view.store.count('VirtualMachine');
  const label = (ns: string, team: string, extra: Record<string, string> = {}) => () => put(view, 'Namespace', { metadata: { name: ns, labels: { team, ...extra } } });
  const rows: Row[] = [];
  const relabel = await storm([label('vms-0', 't1')], () => ledger.used('tenant-1'));
  rows.push(row(`Namespace moved to another tenant (${pods} pods, ${vmCount} VMs)`, relabel));
  const unclaim = await storm([label('vms-1', 'nobody')], () => ledger.used('tenant-1'));
  rows.push(row(`Namespace leaves every tenant (${pods} pods, ${vmCount} VMs)`, unclaim));
  const claim = await storm([label('vms-1', 't1')], () => ledger.used('tenant-1'));
  rows.push(row(`Namespace claimed again (${pods} pods, ${vmCount} VMs)`, claim));
  const noop = await storm([label('pods-7', 't7', { owner: 'alice' })], () => ledger.used('tenant-7'));
  rows.push(row(`Namespace label no tenant reads (${pods} pods, ${vmCount} VMs)`, noop));
  const sc = await storm(
    [() => put(view, 'StorageClass', { metadata: { name: 'fast', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' }, creationTimestamp: '2025-01-01T00:00:00Z' } })],
    () => ledger.used('tenant-1'),
  );
  rows.push(row(`StorageClass becomes the default (${view.store.count('PersistentVolumeClaim')} PVCs)`, sc));
  return rows;
}

const rows = [await vmiStorm()];
const big = await bigCluster();
rows.push(...(await namespaceEvents(big)));
printRows(rows);
