// What PVC CDI will create for a DataVolume (SPEC 6.6): its storage class and requested size, as
// CDI renders them (kubevirt/containerized-data-importer, cited per rule), so that a DataVolume, or a
// VM's dataVolumeTemplate, is charged what its PVC will really request.
//
// - `spec.pvc`: the PVC spec is copied as written (pkg/controller/datavolume/util.go renderPvcSpec);
//   an unset class becomes the cluster default when the PVC is created (DefaultStorageClass).
// - `spec.storage`: an unset class becomes CDI's fallback (storage-classes.ts); the size is
//   inflated for filesystem overhead unless volumeMode is Block (renderPvcSpecVolumeSize ->
//   pkg/controller/common/util.go InflateSizeWithOverhead, GetRequiredSpace): the size rounded up
//   to 1MiB (pkg/util/util.go DefaultAlignBlockSize), divided by (1 - overhead), rounded up. The
//   overhead is CDIConfig `config` status.filesystemOverhead: the class's entry, else `global`;
//   0 for class "" or without a CDIConfig (GetFilesystemOverheadForStorageClass). CDI computes this
//   in float64, and so does this file, so that the bytes agree with CDI's to the byte.
// - No size, cloning a PVC (`source.pvc`): CDI takes the source's size (pvc-clone-controller.go
//   detectCloneSize): a Filesystem source holding KubeVirt content is measured by a size-detection
//   pod unless that pod already recorded the virtual size on the source (annotations
//   cdi.Kubervirt.io/virtualSize and sourceCapacity, matching its capacity); any other source gives
//   its status.capacity. The size is then inflated as above.
// - No size, cloning a VolumeSnapshot (`source.snapshot`): its status.restoreSize, as written
//   (snapshot-clone-controller.go detectCloneSize).
// - No size otherwise (a DataSource, an import), or a source that cannot be read: not knowable at
//   admission (the view holds no DataSources, and CDI itself requires a size for imports): a clear
//   problem, which denies the DataVolume or VM at its CREATE.
// Not modelled: a StorageProfile's minimum supported PVC size (GetEffectiveVolumeSize) and a
// volumeMode a StorageProfile picks when `storage` names none (taken as Filesystem, the larger).
import { parseUnits } from '../kube/quantity.js';
import type { ClusterView } from '../types.js';
import { cdiDefaultStorageClass, cdiFallbackStorageClass, defaultStorageClass } from './storage-classes.js';

export type DiskSize = { storageClass: string; bytes: number } | { problem: string };

const ALIGN = 1024 * 1024;
const CONTENT_TYPE = 'cdi.kubevirt.io/storage.contentType';
const VIRTUAL_SIZE = 'cdi.Kubervirt.io/virtualSize';
const SOURCE_CAPACITY = 'cdi.Kubervirt.io/sourceCapacity';

/** A quantity in units, or an error naming where it was read. */
export function quantity(value: unknown, where: string): number {
  try {
    return parseUnits(value as string);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/** The filesystem overhead CDI applies for a class, as a float64 fraction. */
function filesystemOverhead(view: ClusterView, storageClass: string): number {
  if (storageClass === '') return 0;
  const overhead = view.get('CDIConfig', undefined, 'config')?.status?.filesystemOverhead;
  if (overhead === undefined || overhead === null) return 0;
  // A class that does not exist is read as the default class (GetStorageClassByNameWithK8sFallback).
  const target = view.get('StorageClass', undefined, storageClass) !== undefined ? storageClass : cdiDefaultStorageClass(view);
  const perClass = target === '' ? undefined : overhead.storageClass?.[target];
  const value = Number.parseFloat(String(perClass ?? overhead.global ?? '0'));
  return Number.isFinite(value) && value >= 0 && value < 1 ? value : 0;
}

/** InflateSizeWithOverhead: what CDI requests on the PVC for `bytes` of disk. */
export function inflatedSize(view: ClusterView, bytes: number, storageClass: string, volumeMode: unknown): number {
  if (volumeMode === 'Block') return bytes;
  const aligned = Math.ceil(bytes / ALIGN) * ALIGN;
  return Math.ceil(aligned / (1 - filesystemOverhead(view, storageClass)));
}

/** detectCloneSize: the source PVC's size, when it can be known without CDI's size-detection pod. */
function cloneSourceSize(view: ClusterView, source: any, namespace: string, where: string): number | string {
  const ns = typeof source?.namespace === 'string' && source.namespace !== '' ? source.namespace : namespace;
  const name = source?.name;
  if (typeof name !== 'string' || name === '') return `${where}.source.pvc.name: must name the PVC to clone`;
  const pvc = view.get('PersistentVolumeClaim', ns, name);
  if (pvc === undefined) return `${where}: the size is not given and the source PVC ${ns}/${name} does not exist; give ${where}.resources.requests.storage`;
  const capacity = pvc.status?.capacity?.storage;
  const annotations = pvc.metadata?.annotations ?? {};
  const filesystem = (pvc.spec?.volumeMode ?? 'Filesystem') === 'Filesystem';
  if (filesystem && annotations[CONTENT_TYPE] === 'kubevirt') {
    const measured = annotations[VIRTUAL_SIZE];
    const at = annotations[SOURCE_CAPACITY];
    if (measured !== undefined && at !== undefined && capacity !== undefined && quantity(at, 'source capacity') === quantity(capacity, 'capacity')) {
      return quantity(measured, `PVC ${ns}/${name} ${VIRTUAL_SIZE}`);
    }
    return `${where}: the size is not given and CDI measures the disk image in source PVC ${ns}/${name} only while cloning; give ${where}.resources.requests.storage`;
  }
  if (capacity === undefined) return `${where}: the size is not given and source PVC ${ns}/${name} has no capacity yet (not bound); give ${where}.resources.requests.storage`;
  return quantity(capacity, `PVC ${ns}/${name} status.capacity.storage`);
}

/** detectCloneSize of a snapshot clone: the snapshot's restore size. */
function snapshotRestoreSize(view: ClusterView, source: any, namespace: string, where: string): number | string {
  const ns = typeof source?.namespace === 'string' && source.namespace !== '' ? source.namespace : namespace;
  const name = source?.name;
  if (typeof name !== 'string' || name === '') return `${where}.source.snapshot.name: must name the VolumeSnapshot to restore`;
  const snapshot = view.get('VolumeSnapshot', ns, name);
  if (snapshot === undefined) return `${where}: the size is not given and VolumeSnapshot ${ns}/${name} does not exist; give ${where}.resources.requests.storage`;
  const size = snapshot.status?.restoreSize;
  if (size === undefined || size === null) return `${where}: the size is not given and VolumeSnapshot ${ns}/${name} has no restoreSize yet; give ${where}.resources.requests.storage`;
  return quantity(size, `VolumeSnapshot ${ns}/${name} status.restoreSize`);
}

/**
 * The class and size of the PVC CDI will create for a DataVolume spec in `namespace`. `onOverhead`
 * (explaining a charge) hears the bytes CDI's filesystem overhead adds to that size.
 */
export function dataVolumeDisk(dvSpec: any, namespace: string, view: ClusterView, where: string, onOverhead?: (bytes: number) => void): DiskSize {
  const pvcForm = dvSpec?.pvc !== undefined && dvSpec?.pvc !== null;
  const claim = pvcForm ? dvSpec.pvc : dvSpec?.storage;
  const field = `${where}.${pvcForm ? 'pvc' : 'storage'}`;
  if (claim === undefined || claim === null) return { problem: `${where}: one of pvc or storage is required` };
  const named = claim.storageClassName;
  const storageClass =
    typeof named === 'string' ? named : ((pvcForm ? defaultStorageClass(view) : cdiFallbackStorageClass(view, dvSpec?.contentType)) ?? '');
  const requested = claim.resources?.requests?.storage;
  const bytes = requested === undefined || requested === null ? 0 : quantity(requested, `${field}.resources.requests.storage`);
  if (bytes > 0) {
    const size = pvcForm ? bytes : inflatedSize(view, bytes, storageClass, claim.volumeMode);
    onOverhead?.(size - bytes);
    return { storageClass, bytes: size };
  }
  const source = dvSpec?.source;
  if (source?.pvc !== undefined && source?.pvc !== null) {
    const size = cloneSourceSize(view, source.pvc, namespace, field);
    if (typeof size === 'string') return { problem: size };
    const inflated = inflatedSize(view, size, storageClass, claim.volumeMode);
    onOverhead?.(inflated - size);
    return { storageClass, bytes: inflated };
  }
  if (source?.snapshot !== undefined && source?.snapshot !== null) {
    const size = snapshotRestoreSize(view, source.snapshot, namespace, field);
    return typeof size === 'string' ? { problem: size } : { storageClass, bytes: size };
  }
  const from = dvSpec?.sourceRef ? 'a DataSource' : 'its source';
  return { problem: `${field}.resources.requests.storage: must be given: the size CDI would take from ${from} cannot be known at admission` };
}
