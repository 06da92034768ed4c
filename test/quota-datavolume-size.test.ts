// The PVC CDI will create for a DataVolume spec (policies/quota/datavolume-size.ts): class and
// size as CDI renders them, checked against CDI's arithmetic done by hand.
import t from 'tap';
import { dataVolumeDisk } from '../policies/quota/datavolume-size.js';
import type { KubeObject } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const Gi = 1024 ** 3;
const Mi = 1024 ** 2;

function view(objects: KubeObject[]): SnapshotView {
  const v = new SnapshotView({});
  for (const o of objects) v.add(structuredClone(o));
  return v;
}
const sc = (name: string, annotations: Record<string, string> = {}): KubeObject => ({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name, creationTimestamp: '2025-01-01T00:00:00Z', annotations } });
const cdiConfig = (filesystemOverhead: unknown): KubeObject => ({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDIConfig', metadata: { name: 'config' }, status: { filesystemOverhead } });
const storage = (size: string, extra: Record<string, unknown> = {}) => ({ source: { blank: {} }, storage: { resources: { requests: { storage: size } }, ...extra } });

t.test('storage form: inflated by the class\'s overhead, else the global one; Block and class "" are not', async (t) => {
  const v = view([
    sc('standard', { 'storageclass.kubernetes.io/is-default-class': 'true' }),
    sc('thin'),
    cdiConfig({ global: '0.055', storageClass: { thin: '0.1' } }),
  ]);
  t.same(dataVolumeDisk(storage('10Gi'), 'ns', v, 'spec'), { storageClass: 'standard', bytes: 11362347344 }, 'default class, global 5.5%');
  // ceil(ceil(1000Mi / 1Mi) * 1Mi / 0.9): the size is aligned to 1MiB first.
  t.same(dataVolumeDisk(storage('1000Mi', { storageClassName: 'thin' }), 'ns', v, 'spec'), { storageClass: 'thin', bytes: Math.ceil((1000 * Mi) / 0.9) });
  t.same(dataVolumeDisk(storage('1000000001', { storageClassName: 'thin' }), 'ns', v, 'spec'), { storageClass: 'thin', bytes: Math.ceil((954 * Mi) / 0.9) }, 'rounded up to 954Mi, then inflated');
  t.same(dataVolumeDisk(storage('10Gi', { volumeMode: 'Block' }), 'ns', v, 'spec'), { storageClass: 'standard', bytes: 10 * Gi }, 'Block: no filesystem, no overhead');
  t.same(dataVolumeDisk(storage('10Gi', { storageClassName: '' }), 'ns', v, 'spec'), { storageClass: '', bytes: 10 * Gi }, 'class "": overhead 0');
  t.same(dataVolumeDisk(storage('10Gi', { storageClassName: 'gone' }), 'ns', v, 'spec'), { storageClass: 'gone', bytes: 11362347344 }, 'a class that does not exist: the default class\'s overhead');
});

t.test('pvc form: as written, in the default class when unset; no CDIConfig: no overhead', async (t) => {
  const v = view([sc('standard', { 'storageclass.beta.kubernetes.io/is-default-class': 'true' })]);
  t.same(dataVolumeDisk({ source: { blank: {} }, pvc: { resources: { requests: { storage: '10Gi' } } } }, 'ns', v, 'spec'), { storageClass: 'standard', bytes: 10 * Gi });
  t.same(dataVolumeDisk(storage('10Gi'), 'ns', v, 'spec'), { storageClass: '', bytes: 10 * Gi }, 'CDI reads the GA default annotation only, and without CDIConfig inflates nothing');
});

t.test('storage form without a class: the virt default class first, for KubeVirt content only', async (t) => {
  const v = view([sc('standard', { 'storageclass.kubernetes.io/is-default-class': 'true' }), sc('rbd-virt', { 'storageclass.kubevirt.io/is-default-virt-class': 'true' })]);
  t.equal((dataVolumeDisk(storage('1Gi'), 'ns', v, 'spec') as { storageClass: string }).storageClass, 'rbd-virt');
  t.equal((dataVolumeDisk({ ...storage('1Gi'), contentType: 'archive' }, 'ns', v, 'spec') as { storageClass: string }).storageClass, 'standard');
});

t.test('neither pvc nor storage: a problem naming the field', async (t) => {
  t.same(dataVolumeDisk({ source: { blank: {} } }, 'ns', view([]), 'spec.dataVolumeTemplates[1].spec'), { problem: 'spec.dataVolumeTemplates[1].spec: one of pvc or storage is required' });
});
