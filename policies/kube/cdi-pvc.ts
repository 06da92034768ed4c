// Recognising the PVC that CDI creates for a DataVolume (SPEC 6.6), at its CREATE: the DataVolume
// already pays for that disk, so CDI's PVC is charged only what it adds (storage-charge.ts), but
// only when every sign is genuine: one controller ownerReference to a DataVolume (cdi.kubevirt.io)
// that exists in the namespace with that uid, and a request made by CDI's controller. CDI's
// DataVolume controller creates the PVC under the DataVolume's name with the DataVolume as its
// controller (kubevirt/containerized-data-importer pkg/controller/datavolume/controller-base.go
// createPvcForDatavolume, newPersistentVolumeClaim). A tenant's imitation fails the requester check
// and pays in full.
import { controllerRef } from '../quota/owners.js';
import type { AdmissionRequest, ClusterView, KubeObject, ModuleSettings } from '../types.js';

const CDI_GROUP = 'cdi.kubevirt.io';

/** CDI's operator runs cdi-deployment under this service account in CDI's install namespace
 * (containerized-data-importer pkg/operator/resources/namespaced/controller.go, createControllerServiceAccount). */
const CDI_SERVICE_ACCOUNT = 'cdi-sa';

/**
 * Whether `username` is CDI's controller: one the server config names, or cdi-sa in the namespace
 * CDI's install was found in (ClusterView.cdiNamespace).
 */
export function isCdiController(username: string | undefined, view: ClusterView, settings: ModuleSettings): boolean {
  if (username === undefined) return false;
  if ((settings.cdiServiceAccounts ?? []).includes(username)) return true;
  const namespace = view.cdiNamespace?.();
  return namespace !== undefined && username === `system:serviceaccount:${namespace}:${CDI_SERVICE_ACCOUNT}`;
}

/** The DataVolume whose genuine CDI-created PVC this is, or undefined for any other PVC. */
export function cdiDataVolumeOf(request: AdmissionRequest, pvc: KubeObject, view: ClusterView, settings: ModuleSettings): KubeObject | undefined {
  if (!isCdiController(request.userInfo.username, view, settings)) return undefined;
  const owner = controllerRef(pvc);
  if (owner === undefined || owner.kind !== 'DataVolume' || !owner.apiVersion?.startsWith(`${CDI_GROUP}/`)) return undefined;
  const namespace = request.namespace ?? pvc.metadata?.namespace;
  const dv = namespace ? view.get('DataVolume', namespace, owner.name) : undefined;
  return dv?.metadata?.uid !== undefined && dv.metadata.uid === owner.uid ? dv : undefined;
}
