// Recognising the PVCs CDI creates (SPEC 6.6) for disks already paid for, so that they are charged
// only what they add (storage-charge.ts):
//
// - The PVC of a DataVolume, at its CREATE: one controller ownerReference to a DataVolume
//   (cdi.kubevirt.io) that exists in the namespace with that uid, and a request made by CDI's
//   controller. CDI's DataVolume controller creates the PVC under the DataVolume's name with the
//   DataVolume as its controller (kubevirt/containerized-data-importer
//   pkg/controller/datavolume/controller-base.go createPvcForDatavolume, newPersistentVolumeClaim).
//   A tenant's imitation fails the requester check and pays in full.
// - A populator's PVC' ("prime"): for a target PVC whose dataSourceRef names a CDI populator source
//   (VolumeImportSource, VolumeUploadSource, VolumeCloneSource, Forklift's), CDI creates
//   `prime-<target uid>` with the target's size, class and access modes, the target as its
//   controller, populates it and then rebinds its volume to the target: one volume
//   (pkg/controller/populators/populator-base.go createPVCPrime, reconcileCommon, reconcileCleanup;
//   util.go PVCPrimeName). At its CREATE it is CDI's only when CDI's controller asks. Once it
//   exists it is recognised by its shape alone: there is one such name per target, CDI takes any
//   PVC of that name as the target's PVC' (getPVCPrime), and a target with a populator source is
//   bound only by CDI's rebind (the external provisioner leaves it to the populator). So it is
//   absorbed while the target is unbound, or once it has gone Lost to the target; a tenant's
//   look-alike, charged in full at its CREATE, can afterwards only be the one volume the target pays.
import { controllerRef } from './controller-ref.js';
import type { AdmissionRequest, ClusterView, KubeObject, ModuleSettings } from '../types.js';

const CDI_GROUP = 'cdi.kubevirt.io';
/** The API groups of the populator sources CDI's populators serve (CDI's own and Forklift's). */
const POPULATOR_GROUPS: ReadonlySet<unknown> = new Set([CDI_GROUP, 'forklift.konveyor.io']);
const PRIME_PREFIX = 'prime-';

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

/** The target PVC an existing populator PVC' stands in for (by its shape, see above), or undefined. */
export function primeTargetOf(pvc: KubeObject, view: ClusterView, namespace: string): KubeObject | undefined {
  const name = pvc.metadata?.name;
  if (name === undefined || !name.startsWith(PRIME_PREFIX)) return undefined;
  const owner = controllerRef(pvc);
  if (owner === undefined || owner.kind !== 'PersistentVolumeClaim' || owner.apiVersion !== 'v1' || !owner.uid) return undefined;
  if (name !== `${PRIME_PREFIX}${owner.uid}`) return undefined;
  const target = view.get('PersistentVolumeClaim', namespace, owner.name);
  if (target === undefined || target.metadata?.uid !== owner.uid) return undefined;
  if (!POPULATOR_GROUPS.has(target.spec?.dataSourceRef?.apiGroup)) return undefined;
  // Bound to the target's own volume while PVC' still holds one: two volumes, PVC' pays.
  if (target.status?.phase === 'Bound' && pvc.status?.phase !== 'Lost') return undefined;
  return target;
}

/** At a PVC's CREATE: the target PVC when CDI's controller creates this as its populator PVC'. */
export function cdiPrimeTargetOf(request: AdmissionRequest, pvc: KubeObject, view: ClusterView, settings: ModuleSettings): KubeObject | undefined {
  if (!isCdiController(request.userInfo.username, view, settings)) return undefined;
  const namespace = request.namespace ?? pvc.metadata?.namespace;
  return namespace ? primeTargetOf(pvc, view, namespace) : undefined;
}

/** Whether CDI's controller is creating this PVC for a disk already paid for (a DataVolume's, or a PVC'). */
export function cdiOwnPvc(request: AdmissionRequest, pvc: KubeObject, view: ClusterView, settings: ModuleSettings): boolean {
  return cdiDataVolumeOf(request, pvc, view, settings) !== undefined || cdiPrimeTargetOf(request, pvc, view, settings) !== undefined;
}
