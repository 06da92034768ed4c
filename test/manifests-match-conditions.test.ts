// An outage never stops the cluster's own controllers (SPEC 11.1): the rendered webhook
// configurations decide, as the kube-apiserver does (helpers/webhook-match.ts, CEL over the
// matchConditions), which requests reach a failurePolicy Fail webhook. The requests below are the
// ones the Kubernetes, KubeVirt and CDI controllers send (user, operation, old and new object as in
// their source, cited per case); none of them may reach a Fail webhook. The tenant requests after
// them could raise a charge or weaken security, and every one must still be reviewed.
import t from 'tap';
import type { AdmissionRequest, KubeObject, Operation } from '../policies/types.js';
import { findDoc, renderedInstall } from './helpers/manifests.js';
import { shouldCall, type Webhook } from './helpers/webhook-match.js';

const rendered = renderedInstall();
async function allWebhooks(): Promise<Webhook[]> {
  const { docs } = await rendered;
  return [...(findDoc(docs, 'MutatingWebhookConfiguration').webhooks as Webhook[]), ...(findDoc(docs, 'ValidatingWebhookConfiguration').webhooks as Webhook[])];
}

const NS = 'team-a';
const NAMESPACE_LABELS = { 'kubernetes.io/metadata.name': NS, 'tenantguard.io/tenant': 'tenant-a' };
const sa = (ns: string, name: string) => ({ username: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] });
const TENANT_USER = { username: 'alice', groups: ['system:authenticated'] };
const KUBEVIRT_CONTROLLER = sa('kubevirt', 'kubevirt-controller');

interface Req {
  group?: string;
  version?: string;
  resource: string;
  subResource?: string;
  kind: string;
  operation: Operation;
  user: { username: string; groups: string[] };
  object?: KubeObject;
  oldObject?: KubeObject;
}

function request(r: Req): AdmissionRequest {
  const subject = (r.object ?? r.oldObject)!;
  // The namespace of a Namespace request is its own name (predicates/rules/rules.go scope()).
  const namespace = r.resource === 'namespaces' ? subject.metadata!.name! : NS;
  return {
    uid: 'u',
    kind: { group: r.group ?? '', version: r.version ?? 'v1', kind: r.kind },
    resource: { group: r.group ?? '', version: r.version ?? 'v1', resource: r.resource },
    ...(r.subResource ? { subResource: r.subResource } : {}),
    namespace,
    name: subject.metadata?.name ?? '',
    operation: r.operation,
    userInfo: r.user,
    object: r.object ?? null,
    oldObject: r.oldObject ?? null,
    dryRun: false,
  };
}

/** The Fail webhooks the request reaches (or that refuse it because a condition erred). */
async function failClosed(r: Req): Promise<string[]> {
  const out: string[] = [];
  for (const hook of await allWebhooks()) {
    if (hook.failurePolicy !== 'Fail') continue;
    const d = shouldCall(hook, request(r), () => NAMESPACE_LABELS);
    if (d === 'call') out.push(hook.name);
    else if (d !== 'skip') out.push(`${hook.name} refuses: ${d.refuse}`);
  }
  return out;
}

const clone = <T>(o: T): T => structuredClone(o);
function edit(o: KubeObject, change: (o: KubeObject) => void): KubeObject {
  const c = clone(o);
  change(c);
  return c;
}

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-1',
    namespace: NS,
    labels: { app: 'web' },
    annotations: { note: 'x' },
    finalizers: ['batch.kubernetes.io/job-tracking', 'example.com/cleanup'],
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }],
  },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '1' } } }] },
};
const terminatingPod = edit(pod, (p) => (p.metadata!.deletionTimestamp = '2026-12-07T00:00:00Z'));

const replicaSet: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'web', namespace: NS, annotations: { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/revision': '2' } },
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: pod.spec } },
};

const pvc: KubeObject = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: 'data', namespace: NS, finalizers: ['kubernetes.io/pvc-protection'] },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, storageClassName: 'fast', volumeMode: 'Filesystem' },
};

const vmTemplate = { metadata: { labels: { app: 'vm' } }, spec: { domain: { cpu: { cores: 2 }, memory: { guest: '2Gi' }, devices: {} } } };
const vmirs: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstanceReplicaSet',
  metadata: { name: 'fleet', namespace: NS },
  spec: { replicas: 3, selector: { matchLabels: { app: 'vm' } }, template: vmTemplate },
};
const pool: KubeObject = {
  apiVersion: 'pool.kubevirt.io/v1alpha1',
  kind: 'VirtualMachinePool',
  metadata: { name: 'pool', namespace: NS },
  spec: { replicas: 3, selector: { matchLabels: { app: 'vm' } }, virtualMachineTemplate: { spec: { template: vmTemplate } } },
};
const scale = (name: string, replicas: number): KubeObject => ({
  apiVersion: 'autoscaling/v1',
  kind: 'Scale',
  metadata: { name, namespace: NS },
  // autoscaling/v1 ScaleSpec.replicas is omitempty: a scale to 0 carries no replicas at all.
  spec: replicas === 0 ? {} : { replicas },
});
const vm: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm', namespace: NS, finalizers: ['kubevirt.io/virtualMachineControllerFinalize'] },
  spec: { runStrategy: 'Always', template: vmTemplate },
};
const evacuation: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstanceMigration',
  metadata: { name: 'kubevirt-evacuation-x7k2p', generateName: 'kubevirt-evacuation-', namespace: NS, annotations: { 'kubevirt.io/evacuationMigration': 'node-1' } },
  spec: { vmiName: 'vm' },
};
const targetPod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'virt-launcher-vm-abcde',
    namespace: NS,
    labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'vmi-uid', 'kubevirt.io/migrationJobUID': 'mig-uid' },
    annotations: { 'kubevirt.io/migrationJobName': 'kubevirt-evacuation-x7k2p' },
    ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm', uid: 'vmi-uid', controller: true, blockOwnerDeletion: true }],
  },
  spec: { containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher:v1.5.0' }] },
};

const tenantNamespace: KubeObject = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', team: 'a', 'tenantguard.io/tenant': 'tenant-a' }, finalizers: ['example.com/keep'] },
  spec: { finalizers: ['kubernetes'] },
};
const terminatingNamespace = edit(tenantNamespace, (n) => (n.metadata!.deletionTimestamp = '2026-12-07T00:00:00Z'));

const CONTROLLERS: Array<[string, Req]> = [
  // kubernetes pkg/controller/namespace/deletion/namespaced_resources_deleter.go: the namespace
  // controller writes status and finalize (subresources), and other controllers drop their own
  // metadata.finalizers from a terminating namespace.
  ['namespace controller finalizes a deleted namespace', { resource: 'namespaces', subResource: 'finalize', kind: 'Namespace', operation: 'UPDATE', user: sa('kube-system', 'namespace-controller'), oldObject: terminatingNamespace, object: edit(terminatingNamespace, (n) => (n.spec.finalizers = [])) }],
  ['namespace controller writes the namespace status', { resource: 'namespaces', subResource: 'status', kind: 'Namespace', operation: 'UPDATE', user: sa('kube-system', 'namespace-controller'), oldObject: terminatingNamespace, object: terminatingNamespace }],
  ['a controller removes its finalizer from a terminating namespace', { resource: 'namespaces', kind: 'Namespace', operation: 'UPDATE', user: sa('kube-system', 'some-controller'), oldObject: terminatingNamespace, object: edit(terminatingNamespace, (n) => (n.metadata!.finalizers = [])) }],
  ['an annotation written on a namespace', { resource: 'namespaces', kind: 'Namespace', operation: 'UPDATE', user: sa('kube-system', 'some-controller'), oldObject: tenantNamespace, object: edit(tenantNamespace, (n) => (n.metadata!.annotations = { note: 'x' })) }],
  ['namespace controller deletes a namespace', { resource: 'namespaces', kind: 'Namespace', operation: 'DELETE', user: TENANT_USER, oldObject: tenantNamespace }],
  // kubernetes pkg/controller/garbagecollector/operations.go removeFinalizer (a JSON patch of
  // metadata.finalizers, reviewed as an UPDATE), on a pod whose deletion waits for it.
  ['garbage collector removes a finalizer from a terminating pod', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: sa('kube-system', 'generic-garbage-collector'), oldObject: terminatingPod, object: edit(terminatingPod, (p) => (p.metadata!.finalizers = ['batch.kubernetes.io/job-tracking'])) }],
  // garbagecollector/patch.go deleteOwnerRefStrategicMergePatch: orphaning drops the ownerReference.
  ['garbage collector orphans a pod (ownerReference removed)', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: sa('kube-system', 'generic-garbage-collector'), oldObject: pod, object: edit(pod, (p) => delete p.metadata!.ownerReferences) }],
  // pkg/controller/job/job_controller.go removeTrackingFinalizerPatch.
  ['job controller removes batch.kubernetes.io/job-tracking', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: sa('kube-system', 'job-controller'), oldObject: pod, object: edit(pod, (p) => (p.metadata!.finalizers = ['example.com/cleanup'])) }],
  // pkg/controller/volume/pvcprotection/pvc_protection_controller.go removeFinalizer.
  ['PVC protection controller removes kubernetes.io/pvc-protection', { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: sa('kube-system', 'pvc-protection-controller'), oldObject: edit(pvc, (p) => (p.metadata!.deletionTimestamp = '2026-12-07T00:00:00Z')), object: edit(pvc, (p) => { p.metadata!.deletionTimestamp = '2026-12-07T00:00:00Z'; p.metadata!.finalizers = []; }) }],
  // pkg/controller/volume/persistentvolume/pv_controller.go bindClaimToVolume: spec.volumeName and
  // the pv.kubernetes.io annotations.
  ['PV controller binds a claim', { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: sa('kube-system', 'persistent-volume-binder'), oldObject: pvc, object: edit(pvc, (p) => { p.spec.volumeName = 'pvc-123'; p.metadata!.annotations = { 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' }; }) }],
  // kube-scheduler's volume binding: the volume.kubernetes.io/selected-node annotation.
  ['scheduler selects a node for a WaitForFirstConsumer claim', { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: { username: 'system:kube-scheduler', groups: ['system:authenticated'] }, oldObject: pvc, object: edit(pvc, (p) => (p.metadata!.annotations = { 'volume.kubernetes.io/selected-node': 'node-1' })) }],
  // pkg/controller/deployment/sync.go scaleReplicaSet: replicas and the desired-replicas annotation.
  ['deployment controller scales an old ReplicaSet down', { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', operation: 'UPDATE', user: sa('kube-system', 'deployment-controller'), oldObject: replicaSet, object: edit(replicaSet, (r) => { r.spec.replicas = 0; r.metadata!.annotations!['deployment.kubernetes.io/desired-replicas'] = '0'; }) }],
  // KubeVirt pkg/virt-controller/watch/vm/vm.go removeVMFinalizer.
  ['KubeVirt removes its VM finalizer', { group: 'kubevirt.io', resource: 'virtualmachines', kind: 'VirtualMachine', operation: 'UPDATE', user: KUBEVIRT_CONTROLLER, oldObject: vm, object: edit(vm, (v) => (v.metadata!.finalizers = [])) }],
  // KubeVirt pkg/virt-controller/watch/drain/evacuation/evacuation.go GenerateNewMigration.
  ['KubeVirt evacuates a VMI from a draining node', { group: 'kubevirt.io', resource: 'virtualmachineinstancemigrations', kind: 'VirtualMachineInstanceMigration', operation: 'CREATE', user: KUBEVIRT_CONTROLLER, object: evacuation }],
  ['KubeVirt installed by HCO (openshift-cnv) evacuates a VMI', { group: 'kubevirt.io', resource: 'virtualmachineinstancemigrations', kind: 'VirtualMachineInstanceMigration', operation: 'CREATE', user: sa('openshift-cnv', 'kubevirt-controller'), object: evacuation }],
  // KubeVirt pkg/virt-controller/watch/migration/migration.go createTargetPod (MigrationJobLabel).
  ['KubeVirt creates the migration target pod', { resource: 'pods', kind: 'Pod', operation: 'CREATE', user: KUBEVIRT_CONTROLLER, object: targetPod }],
  // `kubectl scale vmirs --replicas=1` and a VMI replica set scaled to 0, through the scale subresource.
  ['scale-down of a VMI replica set (scale subresource)', { group: 'kubevirt.io', resource: 'virtualmachineinstancereplicasets', subResource: 'scale', kind: 'Scale', operation: 'UPDATE', user: TENANT_USER, oldObject: scale('fleet', 3), object: scale('fleet', 1) }],
  ['scale of a VM pool to 0 (scale subresource)', { group: 'pool.kubevirt.io', version: 'v1alpha1', resource: 'virtualmachinepools', subResource: 'scale', kind: 'Scale', operation: 'UPDATE', user: TENANT_USER, oldObject: scale('pool', 3), object: scale('pool', 0) }],
  ['scale-down of a VM pool (the object)', { group: 'pool.kubevirt.io', version: 'v1alpha1', resource: 'virtualmachinepools', kind: 'VirtualMachinePool', operation: 'UPDATE', user: TENANT_USER, oldObject: pool, object: edit(pool, (p) => (p.spec.replicas = 1)) }],
  // Status writes go to the status subresource, deletes are never sent to a Fail webhook.
  ['kubelet-independent status write (pods/status by the node lifecycle controller)', { resource: 'pods', subResource: 'status', kind: 'Pod', operation: 'UPDATE', user: sa('kube-system', 'node-controller'), oldObject: pod, object: pod }],
  ['PVC status write by the PV controller', { resource: 'persistentvolumeclaims', subResource: 'status', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: sa('kube-system', 'persistent-volume-binder'), oldObject: pvc, object: pvc }],
  ['namespace controller deletes the pods of a deleted namespace', { resource: 'pods', kind: 'Pod', operation: 'DELETE', user: sa('kube-system', 'namespace-controller'), oldObject: pod }],
  ['ReplicaSet controller deletes a pod on scale-down', { resource: 'pods', kind: 'Pod', operation: 'DELETE', user: sa('kube-system', 'replicaset-controller'), oldObject: pod }],
  ['CDI removes a DataVolume finalizer', { group: 'cdi.kubevirt.io', version: 'v1beta1', resource: 'datavolumes', kind: 'DataVolume', operation: 'UPDATE', user: sa('cdi', 'cdi-sa'), oldObject: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'disk', namespace: NS, finalizers: ['cdi.kubevirt.io/dataVolumeFinalizer'] }, spec: {} }, object: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'disk', namespace: NS }, spec: {} } }],
  ['kubelet writes a mirror pod', { resource: 'pods', kind: 'Pod', operation: 'CREATE', user: { username: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] }, object: pod }],
];

t.test('what the cluster\'s own controllers send never reaches a failing-closed webhook', async (t) => {
  for (const [what, r] of CONTROLLERS) t.same(await failClosed(r), [], what);
});

const forgedEvacuation = edit(evacuation, (m) => (m.metadata!.name = 'mine'));
const TENANT: Array<[string, Req]> = [
  ['a pod UPDATE adding the launcher stamp', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: TENANT_USER, oldObject: pod, object: edit(pod, (p) => (p.metadata!.annotations!['tenantguard.io/launcher-of'] = 'vmi-uid')) }],
  ['a pod UPDATE changing its labels (NetworkPolicy coverage)', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: TENANT_USER, oldObject: pod, object: edit(pod, (p) => (p.metadata!.labels = { app: 'other' })) }],
  ['a pod UPDATE that also removes a finalizer but changes the image', { resource: 'pods', kind: 'Pod', operation: 'UPDATE', user: TENANT_USER, oldObject: pod, object: edit(pod, (p) => { p.metadata!.finalizers = []; p.spec.containers[0].image = 'other:1'; }) }],
  ['an ephemeral container', { resource: 'pods', subResource: 'ephemeralcontainers', kind: 'Pod', operation: 'UPDATE', user: TENANT_USER, oldObject: pod, object: edit(pod, (p) => (p.spec.ephemeralContainers = [{ name: 'debug', image: 'busybox', securityContext: { privileged: true } }])) }],
  ['an in-place resize', { resource: 'pods', subResource: 'resize', kind: 'Pod', operation: 'UPDATE', user: TENANT_USER, oldObject: pod, object: edit(pod, (p) => (p.spec.containers[0].resources.requests.cpu = '8')) }],
  ['a ReplicaSet whose pod template turns privileged while scaling down', { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', operation: 'UPDATE', user: TENANT_USER, oldObject: replicaSet, object: edit(replicaSet, (r) => { r.spec.replicas = 1; r.spec.template.spec = { containers: [{ name: 'app', image: 'x', securityContext: { privileged: true } }] }; }) }],
  ['a PVC expansion', { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: TENANT_USER, oldObject: pvc, object: edit(pvc, (p) => (p.spec.resources.requests.storage = '100Gi')) }],
  ['a PVC moved to another class by the beta annotation', { resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', operation: 'UPDATE', user: TENANT_USER, oldObject: pvc, object: edit(pvc, (p) => (p.metadata!.annotations = { 'volume.beta.kubernetes.io/storage-class': 'premium' })) }],
  ['scale-up of a VMI replica set (scale subresource)', { group: 'kubevirt.io', resource: 'virtualmachineinstancereplicasets', subResource: 'scale', kind: 'Scale', operation: 'UPDATE', user: TENANT_USER, oldObject: scale('fleet', 0), object: scale('fleet', 5) }],
  ['scale-up of a VMI replica set (the object)', { group: 'kubevirt.io', resource: 'virtualmachineinstancereplicasets', kind: 'VirtualMachineInstanceReplicaSet', operation: 'UPDATE', user: TENANT_USER, oldObject: vmirs, object: edit(vmirs, (r) => (r.spec.replicas = 9)) }],
  ['a VMI replica set growing its VMs while scaling down', { group: 'kubevirt.io', resource: 'virtualmachineinstancereplicasets', kind: 'VirtualMachineInstanceReplicaSet', operation: 'UPDATE', user: TENANT_USER, oldObject: vmirs, object: edit(vmirs, (r) => { r.spec.replicas = 1; r.spec.template.spec.domain.cpu.cores = 64; }) }],
  ['a pool whose replicas field is removed (defaults to 1) from 0', { group: 'pool.kubevirt.io', version: 'v1alpha1', resource: 'virtualmachinepools', kind: 'VirtualMachinePool', operation: 'UPDATE', user: TENANT_USER, oldObject: edit(pool, (p) => (p.spec.replicas = 0)), object: edit(pool, (p) => delete p.spec.replicas) }],
  ['a VM started (runStrategy)', { group: 'kubevirt.io', resource: 'virtualmachines', kind: 'VirtualMachine', operation: 'UPDATE', user: TENANT_USER, oldObject: edit(vm, (v) => (v.spec.runStrategy = 'Halted')), object: vm }],
  ['a migration a tenant creates, even annotated as an evacuation', { group: 'kubevirt.io', resource: 'virtualmachineinstancemigrations', kind: 'VirtualMachineInstanceMigration', operation: 'CREATE', user: TENANT_USER, object: forgedEvacuation }],
  ['a migration created by a service account named kubevirt-controller in the tenant\'s namespace', { group: 'kubevirt.io', resource: 'virtualmachineinstancemigrations', kind: 'VirtualMachineInstanceMigration', operation: 'CREATE', user: sa(NS, 'kubevirt-controller'), object: forgedEvacuation }],
  ['a pod a tenant labels as a migration target', { resource: 'pods', kind: 'Pod', operation: 'CREATE', user: TENANT_USER, object: targetPod }],
  ['a launcher pod KubeVirt creates for a new VMI (charged and stamped at its CREATE)', { resource: 'pods', kind: 'Pod', operation: 'CREATE', user: KUBEVIRT_CONTROLLER, object: edit(targetPod, (p) => delete p.metadata!.labels!['kubevirt.io/migrationJobUID']) }],
  ['a pod without groups in its userInfo', { resource: 'pods', kind: 'Pod', operation: 'CREATE', user: { username: 'bot' } as never, object: pod }],
];

t.test('tenant requests that could raise a charge or weaken security are still reviewed', async (t) => {
  for (const [what, r] of TENANT) t.same(await failClosed(r), ['validate.tenantguard.io'], what);
});

t.test('a namespace created or relabelled reaches the failing-closed namespace-label webhook; system namespaces never', async (t) => {
  const created = edit(tenantNamespace, (n) => delete n.metadata!.labels!['tenantguard.io/tenant']);
  t.same(await failClosed({ resource: 'namespaces', kind: 'Namespace', operation: 'CREATE', user: TENANT_USER, object: created }), ['namespace-label.tenantguard.io'], 'CREATE');
  const generated: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: '', generateName: 'team-a-' } };
  t.same(await failClosed({ resource: 'namespaces', kind: 'Namespace', operation: 'CREATE', user: TENANT_USER, object: generated }), ['namespace-label.tenantguard.io'], 'CREATE with generateName (no kubernetes.io/metadata.name yet)');
  t.same(await failClosed({ resource: 'namespaces', kind: 'Namespace', operation: 'UPDATE', user: TENANT_USER, oldObject: tenantNamespace, object: edit(tenantNamespace, (n) => delete n.metadata!.labels!['tenantguard.io/tenant']) }), ['namespace-label.tenantguard.io'], 'UPDATE stripping the label');
  t.same(await failClosed({ resource: 'namespaces', kind: 'Namespace', operation: 'UPDATE', user: TENANT_USER, oldObject: edit(tenantNamespace, (n) => delete n.metadata!.labels), object: tenantNamespace }), ['namespace-label.tenantguard.io'], 'UPDATE adding labels to a namespace that had none');
  for (const name of ['kube-system', 'kube-public', 'kube-node-lease', 'default', 'tenantguard', 'kubevirt', 'cdi', 'openshift-cnv', 'kubevirt-hyperconverged']) {
    const system: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } };
    t.same(await failClosed({ resource: 'namespaces', kind: 'Namespace', operation: 'CREATE', user: TENANT_USER, object: system }), [], `${name}: never`);
  }
});

t.test('matchConditions stay cheap: no comprehension over a list or map, at most a handful per webhook', async (t) => {
  for (const hook of await allWebhooks()) {
    const conditions = hook.matchConditions ?? [];
    t.ok(conditions.length <= 8, `${hook.name}: ${conditions.length} conditions`);
    for (const c of conditions) t.notMatch(c.expression, /\.(all|exists|exists_one|map|filter)\(/, `${hook.name} ${c.name}: no macro iterates`);
  }
});
