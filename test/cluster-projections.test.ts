// What the live view keeps of each kind: the fields policies read, frozen, and for pods shared
// between replicas so 100k pods stay small.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { project, projectPod } from '../server/cluster/projections.js';

function replica(name: string, uid: string): KubeObject {
  // Through JSON, as objects arrive from the apiserver.
  return JSON.parse(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'team-a',
      uid,
      resourceVersion: '42',
      labels: { app: 'web', 'pod-template-hash': 'abc' },
      annotations: { note: 'x' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-1', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kubelet' }],
    },
    spec: {
      nodeName: 'node-1',
      volumes: [{ name: 'data', emptyDir: {} }],
      containers: [{ name: 'app', image: 'app:1', resources: { requests: { cpu: '100m' }, limits: { cpu: '1' } }, env: [{ name: 'A', value: 'b' }] }],
    },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [] },
  })) as KubeObject;
}

t.test('a Pod keeps identity, labels, its controller, resources and phase; nothing else', async (t) => {
  const p = projectPod(JSON.parse(JSON.stringify({
    metadata: {
      name: 'job-1',
      namespace: 'team-a',
      uid: 'u-1',
      resourceVersion: '7',
      deletionTimestamp: '2025-01-01T00:00:30Z',
      deletionGracePeriodSeconds: 30,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'n-1' }],
    },
    spec: {
      os: { name: 'windows' },
      overhead: { cpu: '10m', memory: '20Mi' },
      resources: { requests: { cpu: '2' } },
      initContainers: [
        { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { memory: '64Mi' } } },
        { name: 'setup', image: 'setup:1' },
      ],
      containers: [{ name: 'main' }],
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  })) as KubeObject);
  t.same(p, {
    metadata: {
      name: 'job-1',
      namespace: 'team-a',
      uid: 'u-1',
      resourceVersion: '7',
      deletionTimestamp: '2025-01-01T00:00:30Z',
      deletionGracePeriodSeconds: 30,
    },
    spec: {
      containers: [{ resources: {} }],
      initContainers: [{ resources: { requests: { memory: '64Mi' } }, restartPolicy: 'Always' }, { resources: {} }],
      overhead: { cpu: '10m', memory: '20Mi' },
      resources: { requests: { cpu: '2' } },
      os: { name: 'windows' },
    },
    status: { phase: 'Pending' },
  }, 'a non-controller ownerReference is dropped');
});

t.test('replicas share one copy of their spec, labels and controller reference', async (t) => {
  const a = projectPod(replica('web-abc-1', 'u-1'));
  const b = projectPod(replica('web-abc-2', 'u-2'));
  t.equal(a.spec, b.spec, 'same spec object');
  t.equal(a.metadata!.labels, b.metadata!.labels, 'same label map');
  t.equal(a.metadata!.ownerReferences, b.metadata!.ownerReferences, 'same owner reference');
  t.equal(a.status, b.status);
  t.not(a.metadata, b.metadata, 'identity stays per pod');
  t.same(a.metadata!.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-1', controller: true }]);
  t.same(a.spec, { containers: [{ resources: { requests: { cpu: '100m' }, limits: { cpu: '1' } } }] });
  t.ok(Object.isFrozen(a.spec.containers[0].resources.requests), 'shared parts are deeply frozen');
  t.throws(() => {
    'use strict';
    (a.spec.containers[0].resources.requests as Record<string, string>).cpu = '9';
  }, TypeError);

  const bigger = replica('web-abc-3', 'u-3');
  bigger.spec.containers[0].resources.requests.cpu = '200m';
  const c = projectPod(bigger);
  t.not(c.spec, a.spec, 'a different spec is its own');
  t.equal(c.spec.containers[0].resources.requests.cpu, '200m');
  t.equal(a.spec.containers[0].resources.requests.cpu, '100m');
});

t.test('a NetworkPolicy keeps its selector and types, and whether rules exist', async (t) => {
  const p = project('NetworkPolicy', {
    metadata: { name: 'np', namespace: 'team-a', uid: 'u', resourceVersion: '3', annotations: { a: 'b' } },
    spec: {
      podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      ingress: [],
    },
  });
  t.same(p, {
    metadata: { name: 'np', namespace: 'team-a', uid: 'u', resourceVersion: '3' },
    spec: { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, ingress: [], egress: [{}] },
  }, 'egress rules reduced to a non-empty marker (policyTypes defaulting needs only that)');
});

t.test('a Tenant keeps its spec and status.used and conditions', async (t) => {
  const p = project('Tenant', {
    metadata: { name: 'a', uid: 'u', resourceVersion: '9', generation: 2, managedFields: [{}] } as KubeObject['metadata'],
    spec: { namespaces: ['x'], quota: { hard: { 'count/pods': '3' } } },
    status: { used: { 'count/pods': '1' }, conditions: [{ type: 'NamespaceConflict', status: 'False' }], other: 1 },
  });
  t.same(p, {
    metadata: { name: 'a', uid: 'u', resourceVersion: '9', generation: 2 },
    spec: { namespaces: ['x'], quota: { hard: { 'count/pods': '3' } } },
    status: { used: { 'count/pods': '1' }, conditions: [{ type: 'NamespaceConflict', status: 'False' }] },
  });
});

t.test('KubeVirt objects keep their spec and the status fields quota reads', async (t) => {
  const vmi = project('VirtualMachineInstance', {
    metadata: {
      name: 'vm-1',
      namespace: 'team-a',
      uid: 'u',
      resourceVersion: '5',
      labels: { 'kubevirt.io/vm': 'vm-1' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'kubevirt.io/memory-overhead-bytes': '300Mi' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'vm-u', controller: true }],
    },
    spec: { domain: { cpu: { cores: 2 } } },
    status: {
      phase: 'Running',
      activePods: { 'pod-u': 'node-1' },
      memory: { memoryOverhead: '250Mi' },
      interfaces: [{ ipAddress: '10.0.0.9' }],
      conditions: [{ type: 'Ready' }],
      guestOSInfo: { name: 'Fedora' },
    },
  });
  t.same(vmi, {
    metadata: {
      name: 'vm-1',
      namespace: 'team-a',
      uid: 'u',
      resourceVersion: '5',
      labels: { 'kubevirt.io/vm': 'vm-1' },
      annotations: { 'kubevirt.io/memory-overhead-bytes': '300Mi' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', uid: 'vm-u', controller: true }],
    },
    spec: { domain: { cpu: { cores: 2 } } },
    status: { phase: 'Running', activePods: { 'pod-u': 'node-1' }, memory: { memoryOverhead: '250Mi' } },
  });
  t.ok(Object.isFrozen(vmi.spec.domain.cpu));
  const it = project('VirtualMachineClusterInstancetype', { metadata: { name: 'u1.small', uid: 'i', resourceVersion: '1' }, spec: { cpu: { guest: 1 }, memory: { guest: '2Gi' } } });
  t.same(it, { metadata: { name: 'u1.small', uid: 'i', resourceVersion: '1' }, spec: { cpu: { guest: 1 }, memory: { guest: '2Gi' } } });
});

t.test('a Namespace keeps its labels and phase', async (t) => {
  t.same(project('Namespace', { metadata: { name: 'team-a', uid: 'n', resourceVersion: '1', labels: { tenant: 'a' }, annotations: { x: 'y' } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Terminating' } }), {
    metadata: { name: 'team-a', uid: 'n', resourceVersion: '1', labels: { tenant: 'a' } },
    status: { phase: 'Terminating' },
  });
});
