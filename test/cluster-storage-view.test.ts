// The cluster view's storage kinds (SPEC 7, 6.6): PVCs and StorageClasses always, CDI's DataVolumes
// and CDIConfig only where CDI is installed (found by discovery, as KubeVirt's kinds are), each
// projected to what storage quota reads.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { project } from '../server/cluster/projections.js';
import { liveCluster } from './helpers/live-cluster.js';

const claim: KubeObject = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: {
    name: 'disk',
    namespace: 'team-a',
    uid: 'u-pvc',
    resourceVersion: '7',
    labels: { app: 'db' },
    annotations: {
      'cdi.kubevirt.io/storage.contentType': 'kubevirt',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'pv.kubernetes.io/bind-completed': 'yes',
    },
    ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'disk', uid: 'u-dv', controller: true }],
    finalizers: ['kubernetes.io/pvc-protection'],
  },
  spec: {
    accessModes: ['ReadWriteOnce'],
    storageClassName: 'fast',
    volumeMode: 'Filesystem',
    volumeName: 'pv-1',
    resources: { requests: { storage: '10Gi' }, limits: { storage: '20Gi' } },
  },
  status: { phase: 'Bound', capacity: { storage: '10Gi' }, allocatedResources: { storage: '12Gi' }, accessModes: ['ReadWriteOnce'], conditions: [] },
};

t.test('a PVC keeps what storage quota reads: class, size, capacity, controller, CDI content type; nothing else', async (t) => {
  t.same(project('PersistentVolumeClaim', claim), {
    metadata: {
      name: 'disk',
      namespace: 'team-a',
      uid: 'u-pvc',
      resourceVersion: '7',
      ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'disk', uid: 'u-dv', controller: true }],
      annotations: { 'cdi.kubevirt.io/storage.contentType': 'kubevirt' },
    },
    spec: { storageClassName: 'fast', volumeMode: 'Filesystem', resources: { requests: { storage: '10Gi' } } },
    status: { phase: 'Bound', capacity: { storage: '10Gi' }, allocatedResources: { storage: '12Gi' } },
  });
});

t.test('a StorageClass keeps its name, age and default-class annotations; CDIConfig its filesystem overhead', async (t) => {
  const sc = project('StorageClass', {
    metadata: { name: 'fast', uid: 'u', resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true', other: 'x' } },
    provisioner: 'ebs.csi.aws.com',
    parameters: { type: 'gp3' },
  });
  t.same(sc, { metadata: { name: 'fast', uid: 'u', resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } });
  const config = project('CDIConfig', {
    metadata: { name: 'config', uid: 'c', resourceVersion: '2' },
    spec: { featureGates: ['HonorWaitForFirstConsumer'] },
    status: { filesystemOverhead: { global: '0.055', storageClass: { fast: '0.1' } }, uploadProxyURL: 'https://x', importProxy: {} },
  });
  t.same(config, { metadata: { name: 'config', uid: 'c', resourceVersion: '2' }, status: { filesystemOverhead: { global: '0.055', storageClass: { fast: '0.1' } } } });
});

t.test('a VolumeSnapshot keeps only its restore size', async (t) => {
  t.same(
    project('VolumeSnapshot', {
      metadata: { name: 'snap', namespace: 'team-a', uid: 's', resourceVersion: '3' },
      spec: { source: { persistentVolumeClaimName: 'disk' }, volumeSnapshotClassName: 'csi' },
      status: { readyToUse: true, restoreSize: '10Gi', boundVolumeSnapshotContentName: 'content-1' },
    }),
    { metadata: { name: 'snap', namespace: 'team-a', uid: 's', resourceVersion: '3' }, status: { restoreSize: '10Gi' } },
  );
});

t.test('without CDI: PVCs and StorageClasses are watched, CDI\'s groups never asked for', async (t) => {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(claim);
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  t.equal(view.get('PersistentVolumeClaim', 'team-a', 'disk')?.spec?.resources?.requests?.storage, '10Gi');
  t.same(view.list('DataVolume', 'team-a'), []);
  t.equal(c.api.requests.filter((r) => r.path.includes('cdi.kubevirt.io')).length, 0);
});

t.test('CDI installed: DataVolumes and CDIConfig are watched, projected', async (t) => {
  const c = await liveCluster({ cdi: true });
  t.teardown(() => c.close());
  c.api.apply({
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name: 'disk', namespace: 'team-a', uid: 'u-dv' },
    spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '10Gi' } } } },
    status: { phase: 'Succeeded', progress: '100.0%' },
  });
  c.api.apply({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDIConfig', metadata: { name: 'config' }, status: { filesystemOverhead: { global: '0.055' } } });
  const view = await c.view();
  await view.waitForSync(AbortSignal.timeout(5000));
  t.equal(view.syncState().DataVolume, true);
  const dv = view.get('DataVolume', 'team-a', 'disk');
  t.same(dv?.spec?.storage, { resources: { requests: { storage: '10Gi' } } });
  t.equal(dv?.status, undefined, 'CDI\'s progress is not cached');
  t.equal(view.get('CDIConfig', undefined, 'config')?.status?.filesystemOverhead?.global, '0.055');
});
