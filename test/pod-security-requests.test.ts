// Which requests pod-security judges and how (PSA's request handling): operations, subresources,
// pod templates of every controller kind, pod updates, and KubeVirt's virt-launcher pods.
import t from 'tap';
import { podSecurityModule } from '../policies/pod-security/module.js';
import { isVirtLauncherPod } from '../policies/kube/virt-launcher.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { engineWith, KUBEVIRT_CONTROLLER } from './fixtures/pod-security/engine.js';
import { createRequest } from './fixtures/pod-security/load.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const IMAGE = 'registry.example/app:1.0';
const BASELINE = { tenant: { podSecurity: { level: 'baseline', mode: 'enforce' } as const } };

const privilegedSpec = () => ({ containers: [{ name: 'app', image: IMAGE, securityContext: { privileged: true } }] });
const privilegedPod = (meta: KubeObject['metadata'] = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'team-a', ...meta },
  spec: privilegedSpec(),
});

async function judge(request: AdmissionRequest, setup: Parameters<typeof engineWith>[1] = BASELINE) {
  const decision = await engineWith([podSecurityModule], setup).review(request, 'validate');
  const outcome = decision.modules.find((m) => m.module === 'pod-security')!;
  return { decision, outcome };
}

t.test('DELETE and CONNECT are not judged', async (t) => {
  for (const operation of ['DELETE', 'CONNECT'] as const) {
    const request = { ...createRequest(privilegedPod()), operation, oldObject: privilegedPod() };
    const { decision, outcome } = await judge(request);
    t.equal(decision.allowed, true, operation);
    t.same(outcome.findings, []);
  }
});

t.test('pod subresources PSA ignores are skipped; others are evaluated (fail safe)', async (t) => {
  const old = privilegedPod();
  for (const sub of ['status', 'exec', 'attach', 'binding', 'eviction', 'log', 'portforward', 'proxy']) {
    const { decision } = await judge({ ...createRequest(privilegedPod()), operation: 'UPDATE', subResource: sub, oldObject: old });
    t.equal(decision.allowed, true, sub);
  }
  const added = privilegedPod();
  added.spec.ephemeralContainers = [{ name: 'dbg', image: IMAGE }];
  const { decision } = await judge({ ...createRequest(added), operation: 'UPDATE', subResource: 'some-future-subresource', oldObject: old });
  t.equal(decision.allowed, false, 'an unknown subresource that adds a container is judged');
});

t.test('a resize that changes only resources is not a significant update', async (t) => {
  const old = privilegedPod();
  const resized = privilegedPod();
  resized.spec.containers[0].resources = { requests: { cpu: '2' } };
  const { decision } = await judge({ ...createRequest(resized), operation: 'UPDATE', subResource: 'resize', oldObject: old });
  t.equal(decision.allowed, true);
});

t.test('pod updates: seccomp annotation changes are significant, other metadata is not', async (t) => {
  const old = privilegedPod({ annotations: { team: 'a' } });
  const relabelled = privilegedPod({ annotations: { team: 'b' }, labels: { x: 'y' } });
  t.equal((await judge({ ...createRequest(relabelled), operation: 'UPDATE', oldObject: old })).decision.allowed, true);
  const seccomp = privilegedPod({ annotations: { team: 'a', 'container.seccomp.security.alpha.kubernetes.io/app': 'runtime/default' } });
  t.equal((await judge({ ...createRequest(seccomp), operation: 'UPDATE', oldObject: old })).decision.allowed, false);
});

t.test('pod templates of every controller kind are evaluated, warn only', async (t) => {
  const template = { metadata: { labels: { app: 'x' } }, spec: privilegedSpec() };
  const objects: KubeObject[] = [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: {}, template } },
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs' }, spec: { selector: {}, template } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'ss' }, spec: { selector: {}, template } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds' }, spec: { selector: {}, template } },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'cj' }, spec: { schedule: '@daily', jobTemplate: { spec: { template } } } },
  ];
  for (const object of objects) {
    for (const operation of ['CREATE', 'UPDATE'] as const) {
      const request = { ...createRequest(object), operation, ...(operation === 'UPDATE' ? { oldObject: object } : {}) };
      const { decision, outcome } = await judge(request);
      t.equal(decision.allowed, true, `${object.kind} ${operation} is not denied`);
      t.same(outcome.findings.map((f) => `${f.mode} ${f.rule}`), ['warn Privileged Containers'], `${object.kind} ${operation} warns`);
    }
  }
  const rc: AdmissionRequest = {
    ...createRequest(privilegedPod()),
    kind: { group: '', version: 'v1', kind: 'ReplicationController' },
    resource: { group: '', version: 'v1', resource: 'replicationcontrollers' },
    object: { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'rc' }, spec: { template } },
  };
  t.equal((await judge(rc)).outcome.findings.length, 1, 'ReplicationController templates too');
});

t.test('controller subresources (scale) and templateless controllers are skipped', async (t) => {
  const deployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: privilegedSpec() } } };
  const scale = { ...createRequest(deployment), operation: 'UPDATE' as const, subResource: 'scale', oldObject: deployment };
  t.same((await judge(scale)).outcome.findings, []);
  const rc: AdmissionRequest = {
    ...createRequest(privilegedPod()),
    kind: { group: '', version: 'v1', kind: 'ReplicationController' },
    object: { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'rc' }, spec: { replicas: 0 } },
  };
  t.same((await judge(rc)).outcome.findings, [], 'no template, nothing to judge');
});

t.test('kinds without a pod spec are not judged', async (t) => {
  const request: AdmissionRequest = {
    ...createRequest(privilegedPod()),
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { spec: 'x' } },
  };
  t.same((await judge(request)).outcome.findings, []);
});

t.test('a malformed pod is judged without the module failing', async (t) => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'm' }, spec: { containers: null, volumes: null, securityContext: null } };
  const { decision, outcome } = await judge(createRequest(pod), { tenant: { podSecurity: { level: 'restricted', mode: 'enforce' } } });
  t.equal(outcome.error, undefined);
  t.equal(decision.allowed, true, 'no containers, nothing violated');
});

// --- virt-launcher pods

const VMI: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'vm1', namespace: 'team-a', uid: 'vmi-uid-1' },
  spec: {},
};

function launcherPod(over: Partial<NonNullable<KubeObject['metadata']>> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-vm1-abcde',
      namespace: 'team-a',
      labels: { 'kubevirt.io': 'virt-launcher' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'vmi-uid-1', controller: true, blockOwnerDeletion: true }],
      ...over,
    },
    // What virt-launcher needs: forbidden by baseline.
    spec: { containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher', securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'SYS_NICE', 'SYS_PTRACE'] } } }] },
  };
}

const byController = (pod: KubeObject): AdmissionRequest => ({ ...createRequest(pod), userInfo: { username: KUBEVIRT_CONTROLLER } });

t.test('a genuine virt-launcher pod is exempt, with an audit annotation', async (t) => {
  const { decision, outcome } = await judge(byController(launcherPod()), { ...BASELINE, objects: [VMI] });
  t.equal(decision.allowed, true);
  t.same(outcome.findings, []);
  t.equal(decision.auditAnnotations['tenantguard.io/pod-security'], 'virt-launcher pod of VMI vm1: exempt');
});

t.test('imitations of virt-launcher pods are judged like any pod', async (t) => {
  const cases: Array<[string, AdmissionRequest, KubeObject[]]> = [
    ['created by a user', { ...createRequest(launcherPod()) }, [VMI]],
    ['VMI does not exist', byController(launcherPod()), []],
    ['VMI uid differs', byController(launcherPod()), [{ ...VMI, metadata: { ...VMI.metadata, uid: 'other' } }]],
    ['VMI in another namespace', byController(launcherPod()), [{ ...VMI, metadata: { ...VMI.metadata, namespace: 'team-b' } }]],
    ['no label', byController(launcherPod({ labels: { app: 'x' } })), [VMI]],
    [
      'owner is not the controller',
      byController(launcherPod({ ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'vmi-uid-1' }] })),
      [VMI],
    ],
    [
      'two controller references',
      byController(
        launcherPod({
          ownerReferences: [
            { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'vmi-uid-1', controller: true },
            { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-uid', controller: true },
          ],
        }),
      ),
      [VMI],
    ],
    [
      'wrong API group',
      byController(launcherPod({ ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'vmi-uid-1', controller: true }] })),
      [VMI],
    ],
  ];
  for (const [name, request, objects] of cases) {
    const { decision, outcome } = await judge(request, { ...BASELINE, objects });
    t.equal(decision.allowed, false, `${name}: denied`);
    t.same(outcome.findings.map((f) => f.rule), ['Capabilities'], `${name}: judged at baseline`);
  }
});

t.test('isVirtLauncherPod answers the same questions directly', async (t) => {
  const view = new SnapshotView({});
  view.add(structuredClone(VMI));
  const settings = { kubevirtServiceAccounts: [KUBEVIRT_CONTROLLER] };
  t.equal(isVirtLauncherPod(byController(launcherPod()), launcherPod(), view, settings), true);
  t.equal(isVirtLauncherPod(createRequest(launcherPod()), launcherPod(), view, settings), false);
  t.equal(isVirtLauncherPod(byController(launcherPod()), launcherPod(), view, { kubevirtServiceAccounts: [] }), false);
});
