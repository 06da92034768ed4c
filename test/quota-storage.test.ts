// Storage quota (SPEC 6.6) through the HTTPS admission server with every module, as a cluster
// would send the reviews: the user's VM, then KubeVirt creating its DataVolumes, then CDI creating
// their PVCs. Expected sizes are CDI's arithmetic done by hand (see datavolume-size.ts).
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { admissionSequence, CDI_SA, KUBEVIRT_SA, NS } from './helpers/admission-sequence.js';

const Gi = 1024 ** 3;
/** ceil(10Gi / (1 - 0.055)): what CDI requests for a 10Gi `storage` disk with the default overhead. */
const TEN_GI_INFLATED = 11362347344;
/** ceil(5Gi / (1 - 0.055)). */
const FIVE_GI_INFLATED = 5681173672;

const CLASS = (name: string, ts: string, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name, creationTimestamp: ts, annotations },
});
const STANDARD = CLASS('standard', '2025-01-01T00:00:00Z', { 'storageclass.kubernetes.io/is-default-class': 'true' });
const CDI_CONFIG: KubeObject = { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDIConfig', metadata: { name: 'config' }, status: { filesystemOverhead: { global: '0.055' } } };
const STORAGE_STATE = [STANDARD, CLASS('fast', '2025-01-01T00:00:00Z'), CDI_CONFIG];

const owner = (apiVersion: string, kind: string, name: string, uid: string) => [{ apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true }];

function pvc(name: string, size: string, extra: { storageClassName?: string | null; meta?: Record<string, unknown> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, uid: `uid-pvc-${name}`, ...extra.meta },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(extra.storageClassName === undefined ? {} : { storageClassName: extra.storageClassName }),
    },
  };
}

function dataVolume(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name, namespace: NS, uid: `uid-dv-${name}`, ...meta }, spec };
}

const DISK_A = { storage: { resources: { requests: { storage: '10Gi' } } }, source: { http: { url: 'https://example.com/fedora.qcow2' } } };
const DISK_B = { pvc: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } }, source: { blank: {} } };

const vmWithDisks: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm-disks', namespace: NS, uid: 'uid-vm-disks' },
  spec: {
    runStrategy: 'Halted',
    dataVolumeTemplates: [
      { metadata: { name: 'vm-disks-root' }, spec: DISK_A },
      { metadata: { name: 'vm-disks-data' }, spec: DISK_B },
    ],
    template: { spec: { domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } } } } },
  },
};

/** Per-class storage is accounted where the hard names the class (as the built-in quota): both classes, loosely. */
const CLASS_LIMITS = {
  'standard.storageclass.storage.k8s.io/requests.storage': '1Ti',
  'fast.storageclass.storage.k8s.io/requests.storage': '1Ti',
};

const storageOf = (used: Record<string, number>) => ({
  'requests.storage': used['requests.storage'] ?? 0,
  persistentvolumeclaims: used.persistentvolumeclaims ?? 0,
  'standard.storageclass.storage.k8s.io/requests.storage': used['standard.storageclass.storage.k8s.io/requests.storage'] ?? 0,
  'fast.storageclass.storage.k8s.io/requests.storage': used['fast.storageclass.storage.k8s.io/requests.storage'] ?? 0,
});

t.test('a VM with two dataVolumeTemplates is charged its disks at CREATE, and never again as KubeVirt and CDI create them', async (t) => {
  const seq = await admissionSequence(t, STORAGE_STATE, { quota: { hard: { 'requests.storage': '40Gi', persistentvolumeclaims: '4', ...CLASS_LIMITS } } });
  const disks = {
    'requests.storage': TEN_GI_INFLATED + 20 * Gi,
    persistentvolumeclaims: 2,
    'standard.storageclass.storage.k8s.io/requests.storage': TEN_GI_INFLATED,
    'fast.storageclass.storage.k8s.io/requests.storage': 20 * Gi,
  };

  const created = await seq.send('CREATE', vmWithDisks);
  t.equal(created.allowed, true, created.message);
  t.same(storageOf(seq.used()), disks, 'the VM CREATE charges both disks: the storage form inflated by 5.5%, the pvc form as written, each in its class');

  const vmOwner = owner('kubevirt.io/v1', 'VirtualMachine', 'vm-disks', 'uid-vm-disks');
  for (const [name, spec] of [['vm-disks-root', DISK_A], ['vm-disks-data', DISK_B]] as const) {
    const dv = await seq.send('CREATE', dataVolume(name, spec, { ownerReferences: vmOwner }), { user: KUBEVIRT_SA });
    t.equal(dv.allowed, true, `KubeVirt creates DataVolume ${name}: ${dv.message}`);
    t.same(storageOf(seq.used()), disks, `DataVolume ${name}: nothing more`);
  }
  const pvcs = [
    pvc('vm-disks-root', String(TEN_GI_INFLATED), { storageClassName: 'standard', meta: { ownerReferences: owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'vm-disks-root', 'uid-dv-vm-disks-root') } }),
    pvc('vm-disks-data', '20Gi', { storageClassName: 'fast', meta: { ownerReferences: owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'vm-disks-data', 'uid-dv-vm-disks-data') } }),
  ];
  for (const claim of pvcs) {
    const made = await seq.send('CREATE', claim, { user: CDI_SA });
    t.equal(made.allowed, true, `CDI creates PVC ${claim.metadata!.name}: ${made.message}`);
    t.same(storageOf(seq.used()), disks, `PVC ${claim.metadata!.name}: nothing more`);
  }
  t.same(storageOf(seq.observed()), disks, 'recomputed from the objects that now exist: the same, each disk once (paid by its PVC)');

  const stopped = await seq.send('UPDATE', { ...vmWithDisks, spec: { ...vmWithDisks.spec, runStrategy: 'Always' } }, { old: vmWithDisks });
  t.equal(stopped.allowed, true, stopped.message);
  t.same(storageOf(seq.observed()), disks, 'running or stopped, the disks are the same');

  const more = await seq.send('CREATE', pvc('scratch', '10Gi'));
  t.equal(more.allowed, false, 'the disks count against the limit');
  t.equal(
    more.message?.split('; ')[0],
    `[tenant-quota] exceeded quota: tenant-a, requested: requests.storage=10Gi, used: requests.storage=${TEN_GI_INFLATED + 20 * Gi}, limited: requests.storage=40Gi`,
  );
  t.match(more.message, '; largest users now: 20Gi PersistentVolumeClaim team-a/vm-disks-data, ', 'the disks that fill the quota are named, largest first');
});

t.test('a VM that grows a dataVolumeTemplate on UPDATE is charged the growth', async (t) => {
  const seq = await admissionSequence(t, STORAGE_STATE, { quota: { hard: { 'requests.storage': '100Gi' } } });
  t.equal((await seq.send('CREATE', vmWithDisks)).allowed, true);
  const bigger = structuredClone(vmWithDisks);
  bigger.spec.dataVolumeTemplates[1].spec.pvc.resources.requests.storage = '30Gi';
  const grown = await seq.send('UPDATE', bigger, { old: vmWithDisks });
  t.equal(grown.allowed, true, grown.message);
  t.equal(seq.used()['requests.storage'], TEN_GI_INFLATED + 30 * Gi);
});

t.test('storage-class quotas: each class limited on its own, counted as the built-in quota counts', async (t) => {
  const seq = await admissionSequence(t, STORAGE_STATE, {
    quota: { hard: { 'fast.storageclass.storage.k8s.io/requests.storage': '5Gi', 'fast.storageclass.storage.k8s.io/persistentvolumeclaims': '2' } },
  });
  t.equal((await seq.send('CREATE', pvc('f1', '4Gi', { storageClassName: 'fast' }))).allowed, true);
  const over = await seq.send('CREATE', pvc('f2', '2Gi', { storageClassName: 'fast' }));
  t.equal(over.allowed, false);
  t.equal(
    over.message?.split('; ')[0],
    '[tenant-quota] exceeded quota: tenant-a, requested: fast.storageclass.storage.k8s.io/requests.storage=2Gi, used: fast.storageclass.storage.k8s.io/requests.storage=4Gi, limited: fast.storageclass.storage.k8s.io/requests.storage=5Gi',
  );
  t.equal((await seq.send('CREATE', pvc('s1', '50Gi', { storageClassName: 'standard' }))).allowed, true, 'another class is not limited by it');
  t.equal((await seq.send('CREATE', pvc('f3', '1Gi', { storageClassName: 'fast' }))).allowed, true, 'a second fast claim fits');
  const third = await seq.send('CREATE', pvc('f4', '100Mi', { storageClassName: 'fast' }));
  t.match(third.message, 'requested: fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,', 'a third fast claim exceeds the class count');
  t.same(
    [seq.used()['fast.storageclass.storage.k8s.io/requests.storage'], seq.used()['standard.storageclass.storage.k8s.io/requests.storage'], seq.used().persistentvolumeclaims],
    [5 * Gi, undefined, 3],
    'the limited class and the claim count; a class the hard does not name is not accounted',
  );
});

t.test('a PVC expansion beyond quota is denied with the built-in quota\'s message; one that fits is charged the increase', async (t) => {
  const seq = await admissionSequence(t, STORAGE_STATE, { quota: { hard: { 'requests.storage': '10Gi' } } });
  const small = pvc('data', '8Gi', { storageClassName: 'standard' });
  t.equal((await seq.send('CREATE', small)).allowed, true);
  const denied = await seq.send('UPDATE', pvc('data', '12Gi', { storageClassName: 'standard' }), { old: small });
  t.equal(denied.allowed, false);
  t.equal(denied.message?.split('; ')[0], '[tenant-quota] exceeded quota: tenant-a, requested: requests.storage=4Gi, used: requests.storage=8Gi, limited: requests.storage=10Gi');
  t.match(denied.message, 'requests.storage of PersistentVolumeClaim team-a/data = 12Gi (+4Gi over what it was charged before): claim 12Gi (class standard)', 'an expansion explains the whole claim and the increase');
  const grown = await seq.send('UPDATE', pvc('data', '9Gi', { storageClassName: 'standard' }), { old: small });
  t.equal(grown.allowed, true, grown.message);
  t.equal(seq.used()['requests.storage'], 9 * Gi);
  t.equal(seq.used().persistentvolumeclaims, 1, 'an expansion is the same claim');
});

t.test('a forged "CDI" PVC is charged in full at its CREATE; only CDI\'s own, for that very DataVolume, is not', async (t) => {
  const dv = dataVolume('disk', DISK_A);
  const seq = await admissionSequence(t, [...STORAGE_STATE, dv], { quota: { hard: { 'requests.storage': '15Gi' } } });
  t.equal(seq.used()['requests.storage'], TEN_GI_INFLATED, 'the DataVolume pays its disk');
  const dvOwner = owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'disk', 'uid-dv-disk');

  const imitation = await seq.send('CREATE', pvc('disk', '10Gi', { meta: { ownerReferences: dvOwner } }));
  t.equal(imitation.allowed, false, 'owned by the DataVolume but not created by CDI: charged in full');
  t.match(imitation.message, 'exceeded quota: tenant-a, requested: requests.storage=10Gi');
  const wrongUid = await seq.send('CREATE', pvc('disk', '10Gi', { meta: { ownerReferences: owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'disk', 'other') } }), { user: CDI_SA });
  t.equal(wrongUid.allowed, false, 'CDI\'s identity, but an owner that is not this DataVolume: charged in full');
  const wrongKind = await seq.send('CREATE', pvc('disk', '10Gi', { meta: { ownerReferences: owner('evil.example.com/v1', 'DataVolume', 'disk', 'uid-dv-disk') } }), { user: CDI_SA });
  t.equal(wrongKind.allowed, false, 'an owner "DataVolume" of another API group: charged in full');

  const genuine = await seq.send('CREATE', pvc('disk', String(TEN_GI_INFLATED), { meta: { ownerReferences: dvOwner } }), { user: CDI_SA });
  t.equal(genuine.allowed, true, genuine.message);
  t.equal(seq.used()['requests.storage'], TEN_GI_INFLATED, 'the genuine PVC and its DataVolume: one disk');
  t.same(seq.observed(), seq.used(), 'as the objects add up');
});

t.test('default storage class: the newest default (GA or beta annotation) when unset; "" is no class', async (t) => {
  const seq = await admissionSequence(
    t,
    [
      CLASS('old-default', '2024-01-01T00:00:00Z', { 'storageclass.kubernetes.io/is-default-class': 'true' }),
      CLASS('new-default', '2025-06-01T00:00:00Z', { 'storageclass.beta.kubernetes.io/is-default-class': 'true' }),
      CLASS('not-default', '2026-01-01T00:00:00Z', { 'storageclass.kubernetes.io/is-default-class': 'false' }),
    ],
    {
      quota: {
        hard: {
          'requests.storage': '100Gi',
          ...Object.fromEntries(['old-default', 'new-default', 'not-default', 'ignored'].map((c) => [`${c}.storageclass.storage.k8s.io/requests.storage`, '100Gi'])),
        },
      },
    },
  );
  t.equal((await seq.send('CREATE', pvc('unset', '1Gi'))).allowed, true);
  t.equal((await seq.send('CREATE', pvc('none', '2Gi', { storageClassName: '' }))).allowed, true);
  t.equal((await seq.send('CREATE', pvc('beta', '4Gi', { storageClassName: 'ignored', meta: { annotations: { 'volume.beta.kubernetes.io/storage-class': 'old-default' } } }))).allowed, true);
  const used = seq.used();
  t.equal(used['new-default.storageclass.storage.k8s.io/requests.storage'], 1 * Gi, 'unset: the newest default class (kubernetes pkg/volume/util GetDefaultClass)');
  t.equal(used['old-default.storageclass.storage.k8s.io/requests.storage'], 4 * Gi, 'the beta annotation wins over spec.storageClassName, as the built-in quota reads it');
  t.equal(used['requests.storage'], 7 * Gi, '"" is charged without a class');
  t.equal(used['ignored.storageclass.storage.k8s.io/requests.storage'], undefined);
  t.same(seq.observed(), used, 'the reconcile resolves the classes the same way');
});

t.test('DataVolume sizes CDI infers: a clone takes its source PVC\'s or snapshot\'s size; what cannot be known is denied, saying why', async (t) => {
  const source = (name: string, annotations: Record<string, string>, capacity?: string): KubeObject => ({
    ...pvc(name, '5Gi', { storageClassName: 'standard', meta: { annotations } }),
    status: { phase: 'Bound', ...(capacity ? { capacity: { storage: capacity } } : {}) },
  });
  const seq = await admissionSequence(
    t,
    [
      ...STORAGE_STATE,
      source('plain', {}, '5Gi'),
      source('golden', { 'cdi.kubevirt.io/storage.contentType': 'kubevirt' }, '5Gi'),
      source('measured', { 'cdi.kubevirt.io/storage.contentType': 'kubevirt', 'cdi.Kubervirt.io/virtualSize': String(3 * Gi), 'cdi.Kubervirt.io/sourceCapacity': '5Gi' }, '5Gi'),
      { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'snap', namespace: NS }, status: { readyToUse: true, restoreSize: '7Gi' } },
    ],
    { quota: { hard: { 'requests.storage': '1Ti' } } },
  );
  const clone = (name: string, from: string) => dataVolume(name, { source: { pvc: { namespace: NS, name: from } }, storage: {} });
  const base = seq.used()['requests.storage']!;

  t.equal((await seq.send('CREATE', clone('c1', 'plain'))).allowed, true);
  t.equal(seq.used()['requests.storage']! - base, FIVE_GI_INFLATED, 'a clone of a plain PVC: its capacity, inflated (detectCloneSize)');

  const measured = await seq.send('CREATE', clone('c2', 'measured'));
  t.equal(measured.allowed, true, measured.message);
  t.equal(seq.used()['requests.storage']! - base, FIVE_GI_INFLATED + 3408704204, 'a KubeVirt disk image already measured: its virtual size, inflated');

  const golden = await seq.send('CREATE', clone('c3', 'golden'));
  t.equal(golden.allowed, false);
  t.equal(
    golden.message,
    '[tenant-quota] tenant quota: spec.storage: the size is not given and CDI measures the disk image in source PVC team-a/golden only while cloning; give spec.storage.resources.requests.storage',
  );
  const before = seq.used()['requests.storage']!;
  const restored = await seq.send('CREATE', dataVolume('s1', { source: { snapshot: { namespace: NS, name: 'snap' } }, storage: {} }));
  t.equal(restored.allowed, true, restored.message);
  t.equal(seq.used()['requests.storage']! - before, 7 * Gi, 'a snapshot clone: its restoreSize, as written (snapshot-clone-controller detectCloneSize)');
  const noSnapshot = await seq.send('CREATE', dataVolume('s2', { source: { snapshot: { namespace: NS, name: 'gone' } }, storage: {} }));
  t.equal(noSnapshot.allowed, false);
  t.equal(
    noSnapshot.message,
    '[tenant-quota] tenant quota: spec.storage: the size is not given and VolumeSnapshot team-a/gone does not exist; give spec.storage.resources.requests.storage',
  );
  const dataSource = await seq.send('CREATE', dataVolume('d1', { sourceRef: { kind: 'DataSource', name: 'fedora' }, storage: {} }));
  t.equal(
    dataSource.message,
    '[tenant-quota] tenant quota: spec.storage.resources.requests.storage: must be given: the size CDI would take from a DataSource cannot be known at admission',
  );
  const plain = seq.fx.view.get('PersistentVolumeClaim', NS, 'plain')!;
  t.equal((await seq.send('DELETE', undefined, { old: plain })).allowed, true, 'the clone source goes before CDI made the clone');
  await seq.fx.ledger.observed.repairNamespace(NS);
  t.same(
    seq.fx.ledger.observed.notices('tenant-a'),
    ['DataVolume team-a/c1: spec.storage: the size is not given and the source PVC team-a/plain does not exist; give spec.storage.resources.requests.storage'],
    'counted without its size, and reported on the Tenant (ChargeIncomplete)',
  );

  const vm = structuredClone(vmWithDisks);
  vm.spec.dataVolumeTemplates[0].spec = { source: { pvc: { namespace: NS, name: 'missing' } }, storage: {} };
  const vmDenied = await seq.send('CREATE', vm);
  t.equal(vmDenied.allowed, false);
  t.match(vmDenied.message, 'spec.dataVolumeTemplates[0].spec.storage: the size is not given and the source PVC team-a/missing does not exist', 'a VM template too');
});

t.test('each disk is one name: a PVC made before its DataVolume, and a DataVolume CDI garbage-collected and KubeVirt made again, are paid once', async (t) => {
  const seq = await admissionSequence(t, STORAGE_STATE, { quota: { hard: { 'requests.storage': '100Gi' } } });
  const dvOwner = owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'late', 'uid-dv-late');
  const claim = pvc('late', String(TEN_GI_INFLATED), { storageClassName: 'standard', meta: { ownerReferences: dvOwner } });
  t.equal((await seq.send('CREATE', claim, { user: CDI_SA })).allowed, true, 'CDI\'s PVC before tenantguard saw its DataVolume: charged in full');
  t.equal((await seq.send('CREATE', dataVolume('late', DISK_A))).allowed, true);
  t.equal(seq.used()['requests.storage'], TEN_GI_INFLATED, 'the DataVolume of an existing PVC\'s name adds nothing');

  t.equal((await seq.send('CREATE', vmWithDisks)).allowed, true);
  const vmOwner = owner('kubevirt.io/v1', 'VirtualMachine', 'vm-disks', 'uid-vm-disks');
  const root = dataVolume('vm-disks-root', DISK_A, { ownerReferences: vmOwner });
  t.equal((await seq.send('CREATE', root, { user: KUBEVIRT_SA })).allowed, true);
  const rootPvc = pvc('vm-disks-root', String(TEN_GI_INFLATED), { storageClassName: 'standard', meta: { ownerReferences: owner('cdi.kubevirt.io/v1beta1', 'DataVolume', 'vm-disks-root', 'uid-dv-vm-disks-root') } });
  t.equal((await seq.send('CREATE', rootPvc, { user: CDI_SA })).allowed, true);
  const oneEach = 2 * TEN_GI_INFLATED + 20 * Gi;
  t.equal(seq.used()['requests.storage'], oneEach);

  t.equal((await seq.send('DELETE', undefined, { old: root })).allowed, true, 'CDI garbage-collects the completed DataVolume');
  t.equal(seq.used()['requests.storage'], oneEach, 'its PVC stays, and the VM does not pay for that template again');
  const again = dataVolume('vm-disks-root', DISK_A, { uid: 'uid-dv-vm-disks-root-2', ownerReferences: vmOwner });
  t.equal((await seq.send('CREATE', again, { user: KUBEVIRT_SA })).allowed, true, 'KubeVirt makes it again; CDI will adopt the PVC');
  t.equal(seq.used()['requests.storage'], oneEach);
  t.same(seq.observed(), seq.used(), 'as the objects add up');
});

t.test('a tenant whose quota does not limit storage is never refused for a disk size it cannot know', async (t) => {
  const seq = await admissionSequence(t, [...STORAGE_STATE], { quota: { hard: { 'requests.cpu': '10', persistentvolumeclaims: '10' } } });
  const dataSource = await seq.send('CREATE', dataVolume('d1', { sourceRef: { kind: 'DataSource', name: 'fedora' }, storage: {} }));
  t.equal(dataSource.allowed, true, dataSource.message);
  t.equal(seq.used()['persistentvolumeclaims'], 1, 'its claim is still counted');
});
