// KubeVirt's and CDI's identities are found from their install, not hard-coded: with KubeVirt and
// CDI installed by the HyperConverged operator in openshift-cnv, virt-controller's launcher pods
// are exempt from pod security and CDI's PVCs recognised, though the server config names neither
// (only the upstream kubevirt/cdi defaults). A KubeVirt CR a tenant creates in its own namespace
// (never deployed by virt-operator) and a service account named like KubeVirt's in a tenant
// namespace earn nothing.
import t from 'tap';
import { PolicyEngine } from '../policies/engine.js';
import { cdiDataVolumeOf, isCdiController } from '../policies/kube/cdi-pvc.js';
import { isKubevirtController } from '../policies/kube/virt-launcher.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { DEFAULT_CONFIG } from '../server/config.js';
import { engineConfigOf } from '../server/config-load.js';
import { liveCluster, until } from './helpers/live-cluster.js';

const HCO = 'openshift-cnv';
const HCO_CONTROLLER = `system:serviceaccount:${HCO}:kubevirt-controller`;
const settings = engineConfigOf(DEFAULT_CONFIG).settings;

const kubevirtCR = (namespace: string, phase?: string): KubeObject => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt-kubevirt-hyperconverged', namespace, labels: { 'app.kubernetes.io/managed-by': 'hco-operator' } },
  spec: {},
  ...(phase ? { status: { phase } } : {}),
});

const VMI: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vm1', namespace: 'team-a', uid: 'vmi-uid-1' }, spec: {} };

const launcherPod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'virt-launcher-vm1-abcde',
    namespace: 'team-a',
    labels: { 'kubevirt.io': 'virt-launcher' },
    ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'vmi-uid-1', controller: true, blockOwnerDeletion: true }],
  },
  // What virt-launcher needs: forbidden by baseline.
  spec: { containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher', securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'SYS_NICE'] } } }] },
};

function view(...objects: KubeObject[]): SnapshotView {
  const v = new SnapshotView(DEFAULT_CONFIG.defaultTenant);
  v.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  v.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: HCO } });
  v.add({ apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: ['team-a'], podSecurity: { level: 'baseline', mode: 'enforce' } } });
  for (const o of objects) v.add(o);
  return v;
}

const create = (object: KubeObject, username: string): AdmissionRequest => ({
  uid: 'u1',
  kind: { group: '', version: 'v1', kind: object.kind! },
  resource: { group: '', version: 'v1', resource: object.kind === 'Pod' ? 'pods' : 'persistentvolumeclaims' },
  namespace: object.metadata!.namespace!,
  name: object.metadata!.name!,
  operation: 'CREATE',
  userInfo: { username, groups: ['system:serviceaccounts', 'system:authenticated'] },
  object,
  dryRun: false,
});

async function judge(v: SnapshotView, request: AdmissionRequest) {
  return new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view: v, ledger: new MemoryLedger(v) }).review(request, 'both');
}

t.test('HCO install: the launcher pods of the controller in the deployed KubeVirt CR\'s namespace are KubeVirt\'s', async (t) => {
  const deployed = view(kubevirtCR(HCO, 'Deployed'), VMI);
  t.ok(isKubevirtController(HCO_CONTROLLER, deployed, settings), 'found from the KubeVirt CR');
  const d = await judge(deployed, create(launcherPod, HCO_CONTROLLER));
  t.ok(d.allowed, 'the launcher pod is admitted');
  t.equal(d.auditAnnotations['tenantguard.io/pod-security'], 'virt-launcher pod of VMI vm1: exempt');
  t.equal(d.patchedObject?.metadata?.annotations?.['tenantguard.io/launcher-of'], 'vmi-uid-1', 'and stamped as the VMI\'s launcher for quota');
});

t.test('no deployed KubeVirt there, or a look-alike: judged like any pod', async (t) => {
  const cases: Array<[string, SnapshotView, string]> = [
    ['no KubeVirt CR', view(VMI), HCO_CONTROLLER],
    ['a KubeVirt CR virt-operator has not deployed', view(kubevirtCR(HCO, 'Deploying'), VMI), HCO_CONTROLLER],
    ['a KubeVirt CR a tenant created in its own namespace', view(kubevirtCR('team-a'), VMI), 'system:serviceaccount:team-a:kubevirt-controller'],
    ['a service account named kubevirt-controller in a tenant namespace', view(kubevirtCR(HCO, 'Deployed'), VMI), 'system:serviceaccount:team-a:kubevirt-controller'],
  ];
  for (const [what, v, user] of cases) {
    t.notOk(isKubevirtController(user, v, settings), `${what}: not KubeVirt's controller`);
    const d = await judge(v, create(launcherPod, user));
    t.notOk(d.allowed, `${what}: the pod is denied by pod security`);
  }
});

t.test('the server config still names KubeVirt where discovery cannot (snapshot without the CR)', async (t) => {
  t.ok(isKubevirtController('system:serviceaccount:kubevirt:kubevirt-controller', view(), settings));
});

t.test('KubeVirt\'s namespace is exempt server-side wherever it is installed', async (t) => {
  const pod: KubeObject = { ...launcherPod, metadata: { name: 'virt-handler-x', namespace: HCO } };
  const d = await judge(view(kubevirtCR(HCO, 'Deployed')), create(pod, 'system:serviceaccount:openshift-cnv:kubevirt-handler'));
  t.equal(d.exemptBy, `namespace ${HCO} (KubeVirt's install)`);
});

t.test('CDI installed by HCO: its namespace comes from its own webhook configuration, and its PVCs are recognised', async (t) => {
  const c = await liveCluster({ cdi: true, certificates: true });
  t.teardown(() => c.close());
  const v = await c.view();
  await v.waitForSync(AbortSignal.timeout(5000));
  t.equal(v.cdiNamespace(), undefined, 'CDI\'s webhook not registered yet: unknown');
  // As CDI's apiserver registers it: its cdi-api Service, in the namespace CDI runs in.
  c.api.apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'cdi-api-datavolume-validate', labels: { 'cdi.kubevirt.io': 'cdi-api' } },
    webhooks: [{ name: 'datavolume-validate.cdi.kubevirt.io', clientConfig: { service: { namespace: HCO, name: 'cdi-api', path: '/datavolume-validate' } } }],
  });
  await v.discover();
  t.equal(v.cdiNamespace(), HCO);
  const cdiSa = `system:serviceaccount:${HCO}:cdi-sa`;
  t.ok(isCdiController(cdiSa, v, settings), 'cdi-sa in CDI\'s namespace is CDI\'s controller');
  t.notOk(isCdiController('system:serviceaccount:team-a:cdi-sa', v, settings), 'a cdi-sa of a tenant\'s is not');
  c.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  c.api.apply({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'disk', namespace: 'team-a', uid: 'dv-uid' }, spec: { storage: { resources: { requests: { storage: '10Gi' } } } } });
  await until('view has the DataVolume', () => v.get('DataVolume', 'team-a', 'disk') !== undefined);
  const pvc: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'disk', namespace: 'team-a', ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'disk', uid: 'dv-uid', controller: true }] },
    spec: { resources: { requests: { storage: '10Gi' } } },
  };
  t.equal(cdiDataVolumeOf(create(pvc, cdiSa), pvc, v, settings)?.metadata?.name, 'disk', 'the PVC CDI creates for a DataVolume is taken as CDI\'s');
  t.equal(cdiDataVolumeOf(create(pvc, 'system:serviceaccount:team-a:cdi-sa'), pvc, v, settings), undefined, 'the same PVC from a tenant\'s look-alike is not');
  const inCdi = await new PolicyEngine([...MODULES], engineConfigOf(DEFAULT_CONFIG), { view: v, ledger: new MemoryLedger(v) }).review(
    create({ ...pvc, metadata: { name: 'scratch', namespace: HCO } }, cdiSa),
    'both',
  );
  t.equal(inCdi.exemptBy, `namespace ${HCO} (CDI's install)`, 'CDI\'s namespace is exempt server-side');
});
