// CDI's volume populators (SPEC 6.6): with CSI storage CDI fills a DataVolume's PVC through a
// temporary PVC' named prime-<target uid>, the same size and class, controlled by the target, and
// then rebinds its volume to the target (containerized-data-importer pkg/controller/populators
// populator-base.go). One volume: the DataVolume's import must finish at a quota the DataVolume fits.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { admissionSequence, CDI_SA, NS } from './helpers/admission-sequence.js';

const Gi = 1024 ** 3;
const STANDARD: KubeObject = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: 'standard', creationTimestamp: '2025-01-01T00:00:00Z', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
};
const HARD = { quota: { hard: { 'requests.storage': '10Gi' } } };

const controller = (apiVersion: string, kind: string, name: string, uid: string) => [{ apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true }];

const dataVolume = (name: string, size: string): KubeObject => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name, namespace: NS, uid: `uid-dv-${name}` },
  spec: { source: { http: { url: 'https://example.com/disk.qcow2' } }, pvc: { accessModes: ['ReadWriteOnce'], storageClassName: 'standard', resources: { requests: { storage: size } } } },
});

/** The target PVC: CDI's for a DataVolume, filled by the import populator. */
function target(name: string, size: string, opts: { ownedBy?: KubeObject; sourceKind?: string; phase?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, uid: `uid-pvc-${name}`, ...(opts.ownedBy ? { ownerReferences: controller('cdi.kubevirt.io/v1beta1', 'DataVolume', name, opts.ownedBy.metadata!.uid!) } : {}) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'standard',
      resources: { requests: { storage: size } },
      dataSourceRef: { apiGroup: 'cdi.kubevirt.io', kind: opts.sourceKind ?? 'VolumeImportSource', name: `volume-import-source-${name}` },
    },
    ...(opts.phase ? { status: { phase: opts.phase } } : {}),
  };
}

/** PVC' as createPVCPrime makes it: prime-<target uid>, the target's size and class, the target as controller. */
function prime(of: KubeObject, opts: { size?: string; phase?: string } = {}): KubeObject {
  const uid = of.metadata!.uid!;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `prime-${uid}`, namespace: NS, uid: `uid-prime-${uid}`, ownerReferences: controller('v1', 'PersistentVolumeClaim', of.metadata!.name!, uid) },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'standard', resources: { requests: { storage: opts.size ?? of.spec.resources.requests.storage } } },
    ...(opts.phase ? { status: { phase: opts.phase } } : {}),
  };
}

t.test('a DataVolume admitted at 6Gi of 10Gi finishes importing: CDI\'s PVC\' is one volume with its target', async (t) => {
  const seq = await admissionSequence(t, [STANDARD], HARD);
  const dv = dataVolume('disk', '6Gi');
  t.equal((await seq.send('CREATE', dv)).allowed, true);
  const pvc = target('disk', '6Gi', { ownedBy: dv });
  t.equal((await seq.send('CREATE', pvc, { user: CDI_SA })).allowed, true, 'CDI creates the DataVolume\'s PVC');
  t.equal(seq.used()['requests.storage'], 6 * Gi);

  const created = await seq.send('CREATE', prime(pvc), { user: CDI_SA });
  t.equal(created.allowed, true, created.message);
  t.same(created.warnings, [], 'nothing to warn about: it adds nothing');
  t.same([seq.used()['requests.storage'], seq.used().persistentvolumeclaims], [6 * Gi, 1], 'the PVC\' adds nothing, not even a claim: one volume');
  t.same(seq.observed(), seq.used(), 'recomputed from the objects: the same');

  // CDI rebinds the PVC\'s volume to the target: the target is Bound, the PVC\' Lost, then deleted.
  seq.fx.view.add({ ...structuredClone(pvc), status: { phase: 'Bound' } });
  seq.fx.view.add(prime(pvc, { phase: 'Lost' }));
  t.equal(seq.used()['requests.storage'], 6 * Gi, 'rebound: still one volume');
  seq.fx.view.store.remove('PersistentVolumeClaim', NS, `prime-${pvc.metadata!.uid}`);
  t.equal(seq.used()['requests.storage'], 6 * Gi, 'PVC\' deleted: the target alone');
  t.same(seq.observed(), seq.used());
});

t.test('a tenant\'s look-alike PVC\' is charged in full at its CREATE, and pays whenever it could be a second volume', async (t) => {
  const seq = await admissionSequence(t, [STANDARD], HARD);
  const mine = target('mine', '5Gi');
  t.equal((await seq.send('CREATE', mine)).allowed, true, 'a tenant may create a PVC with a populator source itself');
  t.equal((await seq.send('CREATE', target('other', '5Gi'))).allowed, true);
  t.equal(seq.used()['requests.storage'], 10 * Gi, 'the quota is full');

  const forged = await seq.send('CREATE', prime(mine));
  t.equal(forged.allowed, false, 'made by the tenant, not by CDI: charged in full');
  t.match(forged.message, 'exceeded quota: tenant-a, requested: requests.storage=5Gi');
  const bigger = await seq.send('CREATE', prime(mine, { size: '6Gi' }), { user: CDI_SA });
  t.equal(bigger.allowed, true, 'CDI\'s own PVCs are never refused');
  t.match(bigger.warnings.join(' '), 'requested: requests.storage=1Gi', 'but a PVC\' pays what it asks beyond its target, and says so');

  // A PVC' that exists while its target is bound to a volume of its own is a second volume.
  seq.fx.view.add({ ...structuredClone(mine), status: { phase: 'Bound' } });
  seq.fx.view.add(prime(mine, { phase: 'Bound' }));
  t.equal(seq.used()['requests.storage'], 15 * Gi, 'target bound and PVC\' bound: both pay');
  t.same(seq.observed(), seq.used());
});

t.test('only a PVC named for its controller\'s uid, controlled by a PVC that exists with that uid and fills from a populator, is a PVC\'', async (t) => {
  const seq = await admissionSequence(t, [STANDARD], { quota: { hard: { 'requests.storage': '100Gi' } } });
  const plain = { ...target('plain', '4Gi'), spec: { ...target('plain', '4Gi').spec, dataSourceRef: undefined } };
  const upload = target('upload', '4Gi', { sourceKind: 'VolumeUploadSource' });
  const clone = target('clone', '4Gi', { sourceKind: 'VolumeCloneSource' });
  for (const o of [plain, upload, clone]) t.equal((await seq.send('CREATE', o)).allowed, true);
  const base = seq.used()['requests.storage']!;
  t.equal(base, 12 * Gi);

  const cases: Array<[string, KubeObject, number]> = [
    ['the upload populator\'s PVC\'', prime(upload), 0],
    ['the clone populator\'s PVC\'', prime(clone), 0],
    ['a target without a populator source: no populator makes a PVC\' for it', prime(plain), 4 * Gi],
    ['a name that is not prime-<controller uid>', { ...prime(upload), metadata: { ...prime(upload).metadata, name: 'prime-uid-pvc-clone' } }, 4 * Gi],
    [
      'a controller uid that is not the target\'s',
      { ...prime(upload), metadata: { ...prime(upload).metadata, name: 'prime-uid-gone', ownerReferences: controller('v1', 'PersistentVolumeClaim', 'upload', 'uid-gone') } },
      4 * Gi,
    ],
  ];
  let expected = base;
  for (const [what, obj, adds] of cases) {
    const out = await seq.send('CREATE', obj, { user: CDI_SA });
    t.equal(out.allowed, true, `${what}: ${out.message}`);
    expected += adds;
    t.equal(seq.used()['requests.storage'], expected, what);
  }
  t.same(seq.observed(), seq.used(), 'the reconcile agrees');
});
