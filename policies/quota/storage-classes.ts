// Which StorageClass a claim is charged to (SPEC 6.6), as Kubernetes and CDI decide it.
//
// - A PVC's class is what the built-in quota reads (k8s.io/component-helpers storage/volume
//   GetPersistentVolumeClaimClass): the beta annotation volume.beta.kubernetes.io/storage-class when
//   present, else spec.storageClassName. `""` means no class. Left unset, the cluster's default
//   class: the DefaultStorageClass admission plugin sets it at CREATE, and since Kubernetes 1.28 the
//   PV controller sets it on PVCs created while there was none (retroactive default assignment).
// - The default class (kubernetes pkg/volume/util/storageclass.go GetDefaultClass): a class with
//   storageclass.kubernetes.io/is-default-class or its beta form storageclass.beta.kubernetes.io/
//   is-default-class set to "true"; among several, the newest (creationTimestamp), then by name.
// - CDI renders a DataVolume's `storage` form without a class to its virt default class
//   (storageclass.kubevirt.io/is-default-virt-class) for KubeVirt content, else the Kubernetes
//   default, chosen by the same ordering but by the GA annotation only (containerized-data-importer
//   pkg/controller/common/util.go getFallbackStorageClass, GetPlatformDefaultStorageClass).
//
// The defaults are computed once per StorageClass list: the view keeps the list until a class changes.
import type { ClusterView, KubeObject } from '../types.js';

export const DEFAULT_CLASS = 'storageclass.kubernetes.io/is-default-class';
export const BETA_DEFAULT_CLASS = 'storageclass.beta.kubernetes.io/is-default-class';
export const DEFAULT_VIRT_CLASS = 'storageclass.kubevirt.io/is-default-virt-class';
export const BETA_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

interface Defaults {
  kubernetes: string | undefined;
  /** CDI's reading of the Kubernetes default: the GA annotation only. */
  cdiKubernetes: string | undefined;
  virt: string | undefined;
}

const defaultsByList = new WeakMap<readonly KubeObject[], Defaults>();

/** The newest of the classes `isDefault` picks, then the first by name; undefined when none. */
function newest(classes: readonly KubeObject[], isDefault: (annotations: Record<string, string>) => boolean): string | undefined {
  let best: KubeObject | undefined;
  let bestMs = 0;
  for (const sc of classes) {
    const name = sc.metadata?.name;
    if (name === undefined || !isDefault(sc.metadata?.annotations ?? {})) continue;
    const ms = Date.parse(sc.metadata?.creationTimestamp ?? '') || 0;
    if (best === undefined || ms > bestMs || (ms === bestMs && name < best.metadata!.name!)) {
      best = sc;
      bestMs = ms;
    }
  }
  return best?.metadata?.name;
}

function defaultsOf(view: ClusterView): Defaults {
  const classes = view.list('StorageClass');
  let d = defaultsByList.get(classes);
  if (d === undefined) {
    d = {
      kubernetes: newest(classes, (a) => a[DEFAULT_CLASS] === 'true' || a[BETA_DEFAULT_CLASS] === 'true'),
      cdiKubernetes: newest(classes, (a) => a[DEFAULT_CLASS] === 'true'),
      virt: newest(classes, (a) => a[DEFAULT_VIRT_CLASS] === 'true'),
    };
    defaultsByList.set(classes, d);
  }
  return d;
}

/** The cluster's default StorageClass, as the DefaultStorageClass admission plugin picks it. */
export function defaultStorageClass(view: ClusterView): string | undefined {
  return defaultsOf(view).kubernetes;
}

/** The class a PVC is charged to; '' for none. */
export function pvcStorageClass(pvc: KubeObject, view: ClusterView): string {
  const beta = pvc.metadata?.annotations?.[BETA_CLASS_ANNOTATION];
  if (beta !== undefined) return beta;
  const name = pvc.spec?.storageClassName;
  if (typeof name === 'string') return name;
  return defaultStorageClass(view) ?? '';
}

/** The Kubernetes default class as CDI reads it (GetStorageClassByNameWithK8sFallback); '' for none. */
export function cdiDefaultStorageClass(view: ClusterView): string {
  return defaultsOf(view).cdiKubernetes ?? '';
}

/** The class CDI renders a DataVolume's `storage` form to when it names none; '' for none. */
export function cdiFallbackStorageClass(view: ClusterView, contentType: unknown): string {
  const d = defaultsOf(view);
  const kubevirt = contentType === undefined || contentType === null || contentType === '' || contentType === 'kubevirt';
  return (kubevirt ? d.virt : undefined) ?? d.cdiKubernetes ?? '';
}
