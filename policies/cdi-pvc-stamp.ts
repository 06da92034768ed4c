// The CDI PVC stamp (SPEC 6.6): a PVC is absorbed as the PVC CDI made for a DataVolume only as
// decided at its CREATE (cdi-pvc.ts: controller reference to a DataVolume that exists with that
// uid, created by CDI's controller), remembered as tenantguard.io/datavolume-of=<DataVolume uid>
// (creation-stamp.ts). Quota trusts, for every PVC that already exists, only that stamp plus a
// DataVolume with the stamped uid (policies/quota/storage-charge.ts). A tenant cannot forge it: a
// PVC CREATE carrying it unverified and an UPDATE adding or changing it are refused. CDI's PVC for a
// DataVolume the view has not observed yet is refused too, so that CDI retries it once it has.
import { CDI_PVC_STAMP, cdiDataVolumeOf, unobservedDataVolume } from './cdi-pvc.js';
import { stampModules } from './creation-stamp.js';

export const CDI_PVC_STAMP_MODULE = 'datavolume-stamp';

const modules = stampModules({
  name: CDI_PVC_STAMP_MODULE,
  annotation: CDI_PVC_STAMP,
  group: '',
  kind: 'PersistentVolumeClaim',
  verifiedOwnerUid: (input, pvc) => cdiDataVolumeOf(input.request, pvc, input.view, input.settings)?.metadata?.uid,
  stamped: (uid) => `stamped as CDI's PVC of DataVolume uid ${uid}`,
  onlyFor: "only the PVCs CDI creates for the DataVolume of uid",
  setWhen: 'when CDI creates the PVC for a DataVolume',
  unobservedOwner: (input, pvc) => unobservedDataVolume(input.request, pvc, input.view, input.settings),
});

export const cdiPvcStampMutate = modules.mutate;
export const cdiPvcStampValidate = modules.validate;
