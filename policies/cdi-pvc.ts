// Recognising the PVC that CDI creates for a DataVolume (SPEC 6.6). The DataVolume already pays for
// its disk, so CDI's PVC is absorbed, as KubeVirt's launcher pods are (virt-launcher.ts), but only
// when every sign is genuine: one controller ownerReference to a DataVolume (cdi.kubevirt.io) that
// exists in the namespace with that uid, and a request made by CDI's controller. CDI's DataVolume
// controller creates the PVC under the DataVolume's name with the DataVolume as its controller
// (kubevirt/containerized-data-importer pkg/controller/datavolume/controller-base.go createPvcForDatavolume,
// newPersistentVolumeClaim). A tenant's imitation fails the requester check and pays like any PVC.
import { stampedOwner } from './creation-stamp.js';
import { controllerRef } from './quota/owners.js';
import type { AdmissionRequest, ClusterView, KubeObject, ModuleSettings, OwnerReference } from './types.js';

/**
 * The annotation tenantguard puts on a PVC when, at its CREATE, it is verified as CDI's PVC of a
 * DataVolume; its value is the DataVolume's uid. Only the stamp says so later (cdi-pvc-stamp.ts).
 */
export const CDI_PVC_STAMP = 'tenantguard.io/datavolume-of';

const CDI_GROUP = 'cdi.kubevirt.io';

/** The DataVolume a PVC names as its controller, when CDI's controller is the one creating it. */
function dataVolumeClaimedByCdi(request: AdmissionRequest, pvc: KubeObject, settings: ModuleSettings): { namespace: string; owner: OwnerReference } | undefined {
  const username = request.userInfo.username;
  if (username === undefined || !(settings.cdiServiceAccounts ?? []).includes(username)) return undefined;
  const owner = controllerRef(pvc);
  if (owner === undefined || owner.kind !== 'DataVolume' || !owner.apiVersion?.startsWith(`${CDI_GROUP}/`)) return undefined;
  const namespace = request.namespace ?? pvc.metadata?.namespace;
  return namespace ? { namespace, owner } : undefined;
}

/** The DataVolume whose genuine CDI-created PVC this is, or undefined for any other PVC. */
export function cdiDataVolumeOf(request: AdmissionRequest, pvc: KubeObject, view: ClusterView, settings: ModuleSettings): KubeObject | undefined {
  const claimed = dataVolumeClaimedByCdi(request, pvc, settings);
  const dv = claimed && view.get('DataVolume', claimed.namespace, claimed.owner.name);
  return dv?.metadata?.uid !== undefined && dv.metadata.uid === claimed?.owner.uid ? dv : undefined;
}

/**
 * For a PVC CDI's controller creates for a DataVolume the view has not observed yet (its informer
 * lags CDI's by moments): why it must be retried. Admitted unverified, it would stay unstamped and
 * be charged beside its DataVolume for as long as both exist.
 */
export function unobservedDataVolume(request: AdmissionRequest, pvc: KubeObject, view: ClusterView, settings: ModuleSettings): string | undefined {
  const claimed = dataVolumeClaimedByCdi(request, pvc, settings);
  if (claimed === undefined || cdiDataVolumeOf(request, pvc, view, settings) !== undefined) return undefined;
  const { namespace, owner } = claimed;
  return `DataVolume ${namespace}/${owner.name} (uid ${owner.uid}) is not in tenantguard's view yet; its PVC is admitted once it is (CDI retries)`;
}

/** The DataVolume of an existing PVC stamped as CDI's at its CREATE, while that DataVolume exists. */
export function persistedDataVolumeOf(pvc: KubeObject, view: ClusterView): KubeObject | undefined {
  return stampedOwner(pvc, CDI_PVC_STAMP, 'DataVolume', view);
}
