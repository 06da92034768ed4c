// What storage costs (SPEC 6.6): PVCs as the built-in quota charges them, DataVolumes and a VM's
// dataVolumeTemplates as the PVC CDI will create for them. What a tenant really holds is its PVCs;
// a DataVolume or a VM's template is a PVC to come, charged ahead of it. A PVC's name is unique in
// its namespace and CDI's PVC for a DataVolume bears the DataVolume's name (creating it, or adopting
// one that exists: containerized-data-importer controller-base.go), so each disk is one name along
//
//   VM dataVolumeTemplate  ->  DataVolume (KubeVirt creates it)  ->  PVC (CDI creates it)
//
// and is paid once, by the last link that exists:
// - A PVC pays its claim, always.
// - A DataVolume pays its disk (datavolume-size.ts) while no PVC of its name exists.
// - A VM pays each template while neither a DataVolume of that name it controls (verified by uid,
//   owners.ts) nor a PVC of that name exists. Stopping the VM changes nothing: disks persist.
// At the CREATE of the next link, the new object pays only what it adds over what the previous
// link pays now (chargeBeyond): the DataVolume a VM controls, over that VM's template of its name;
// the PVC CDI's controller creates for a DataVolume (kube/cdi-pvc.ts: verified controller and
// requester), over that DataVolume. So a VM's disks are charged when the VM is created (the user's
// action) and never again, and a PVC bigger than foreseen (a StorageProfile minimum) pays the
// difference. A populator's PVC' (kube/cdi-pvc.ts) pays what it asks beyond its target PVC, which
// pays the one volume both use. Anyone else's PVC pays in full at its CREATE (a tenant's imitation
// of CDI's); once it exists the DataVolume of
// its name stops paying, since CDI can only bind or adopt that PVC. Nothing is freed by a review:
// the ledger observes the same total move from one link to the next.
// With ctx.terms, each disk is a term (its class, and CDI's filesystem overhead as a term of its own),
// and what the previous link already pays is one too.
import { cdiDataVolumeOf, cdiPrimeTargetOf, primeTargetOf } from '../kube/cdi-pvc.js';
import { formatUnits } from '../kube/quantity.js';
import type { AdmissionRequest, KubeObject, ModuleSettings } from '../types.js';
import { dataVolumeDisk, quantity, type DiskSize } from './datavolume-size.js';
import { verifiedController } from './owners.js';
import {
  COUNT_PVCS,
  REQUESTS_STORAGE,
  addCharge,
  chargeBeyond,
  storageClassResource,
  zeroCharge,
  type Charge,
} from './resources.js';
import { pvcStorageClass } from './storage-classes.js';
import { noteChange } from './terms.js';
import type { VmChargeContext } from './vm-charge.js';

export interface StorageChargeContext extends VmChargeContext {
  /** Set while judging the CREATE of the object being charged: who creates it. */
  creating?: { request: AdmissionRequest; settings: ModuleSettings };
  /** Told each disk whose size cannot be known (the quota module denies a CREATE or UPDATE that adds one). */
  onUnknownSize?: (problem: string) => void;
}

/** One claim of `bytes` in `storageClass` ('' for none), named as the built-in quota names it. */
export function claimCharge(storageClass: string, bytes: number): Charge {
  const charge = zeroCharge();
  charge[COUNT_PVCS] = 1;
  charge[REQUESTS_STORAGE] = bytes;
  if (storageClass !== '') {
    charge[storageClassResource(storageClass, COUNT_PVCS)] = 1;
    charge[storageClassResource(storageClass, REQUESTS_STORAGE)] = bytes;
  }
  return charge;
}

/**
 * The built-in quota's PVC storage usage (pvcEvaluator.getStorageUsage): spec.resources.requests
 * .storage, or status.allocatedResources.storage when larger (an expansion under way); whole bytes.
 */
export function pvcStorageBytes(pvc: KubeObject): number {
  const requested = pvc.spec?.resources?.requests?.storage;
  if (requested === undefined || requested === null) return 0;
  const bytes = quantity(requested, 'spec.resources.requests.storage');
  const allocated = pvc.status?.allocatedResources?.storage;
  return allocated === undefined || allocated === null ? bytes : Math.max(bytes, quantity(allocated, 'status.allocatedResources.storage'));
}

/** A disk CDI will create, as one term (and CDI's filesystem overhead as another) when explaining. */
function diskCharge(name: unknown, dvSpec: any, where: string, ctx: StorageChargeContext): Charge {
  let overhead = 0;
  const disk = dataVolumeDisk(dvSpec, ctx.namespace, ctx.view, where, ctx.terms && ((bytes) => (overhead = bytes)));
  if ('problem' in disk) {
    ctx.onUnknownSize?.(disk.problem);
    // The claim is counted; its size is what cannot be known.
    const claim = claimCharge('', 0);
    ctx.terms?.add(`disk ${String(name)} (size unknown)`, claim);
    return claim;
  }
  const charge = claimCharge(disk.storageClass, disk.bytes);
  if (ctx.terms) {
    const storage = (bytes: number) => (disk.storageClass === '' ? { [REQUESTS_STORAGE]: bytes } : { [REQUESTS_STORAGE]: bytes, [storageClassResource(disk.storageClass, REQUESTS_STORAGE)]: bytes });
    const disk_ = { ...charge, ...storage(disk.bytes - overhead) };
    ctx.terms.add(`disk ${String(name)} ${formatUnits(disk.bytes - overhead)} (class ${disk.storageClass || 'none'})`, disk_);
    if (overhead > 0) ctx.terms.add(`CDI filesystem overhead of disk ${String(name)}`, storage(overhead));
  }
  return charge;
}

function pvcExists(name: unknown, ctx: StorageChargeContext): boolean {
  const exists = typeof name === 'string' && ctx.view.get('PersistentVolumeClaim', ctx.namespace, name) !== undefined;
  if (exists) ctx.terms?.note(`disk ${String(name)}: its PVC exists and pays`);
  return exists;
}

/** What a DataVolume pays now, in the view as it is. */
function dataVolumeNow(dv: KubeObject, ctx: StorageChargeContext): Charge {
  return pvcExists(dv.metadata?.name, ctx) ? zeroCharge() : diskCharge(dv.metadata?.name, dv.spec, 'spec', ctx);
}

/** What a VM pays now for its template at `index`, in the view as it is. */
function templateNow(vm: KubeObject, index: number, ctx: StorageChargeContext): Charge {
  const template = vm.spec.dataVolumeTemplates[index];
  const name = template?.metadata?.name;
  if (pvcExists(name, ctx)) return zeroCharge();
  const dv = typeof name === 'string' ? ctx.view.get('DataVolume', ctx.namespace, name) : undefined;
  const uid = vm.metadata?.uid;
  if (dv !== undefined && uid !== undefined && verifiedController(dv, 'VirtualMachine', ctx.view, ctx.namespace)?.metadata?.uid === uid) {
    ctx.terms?.note(`disk ${String(name)}: its DataVolume exists and pays`);
    return zeroCharge();
  }
  return diskCharge(name, template?.spec, `spec.dataVolumeTemplates[${index}].spec`, ctx);
}

/** `total` beyond what the previous link of the disk chain pays, with the difference as a term. */
function beyondLink(total: Charge, paid: Charge, payer: string, ctx: StorageChargeContext): Charge {
  const out = chargeBeyond(total, paid);
  noteChange(ctx.terms, `already paid by ${payer}`, total, out);
  return out;
}

/** The context for what the previous link pays: no size problems (its own), no terms. */
function previousLink(ctx: StorageChargeContext): StorageChargeContext {
  return { ...ctx, onUnknownSize: undefined, terms: undefined };
}

/** A PVC's own claim, in full. */
function claimOf(pvc: KubeObject, ctx: StorageChargeContext): Charge {
  return claimCharge(pvcStorageClass(pvc, ctx.view), pvcStorageBytes(pvc));
}

export function persistentVolumeClaimCharge(pvc: KubeObject, ctx: StorageChargeContext): Charge {
  const storageClass = pvcStorageClass(pvc, ctx.view);
  const gross = claimCharge(storageClass, pvcStorageBytes(pvc));
  ctx.terms?.add(`claim ${formatUnits(gross[REQUESTS_STORAGE]!)} (class ${storageClass || 'none'})`, gross);
  // A populator's PVC' shares its target's one volume: it pays what it asks beyond the target.
  const target = ctx.creating ? cdiPrimeTargetOf(ctx.creating.request, pvc, ctx.view, ctx.creating.settings) : primeTargetOf(pvc, ctx.view, ctx.namespace);
  if (target) return beyondLink(gross, claimOf(target, ctx), `its target PVC ${target.metadata?.name ?? ''}`, ctx);
  const dv = ctx.creating && cdiDataVolumeOf(ctx.creating.request, pvc, ctx.view, ctx.creating.settings);
  return dv ? beyondLink(gross, dataVolumeNow(dv, previousLink(ctx)), `DataVolume ${dv.metadata?.name ?? ''}`, ctx) : gross;
}

export function dataVolumeCharge(dv: KubeObject, ctx: StorageChargeContext): Charge {
  const now = dataVolumeNow(dv, ctx);
  if (ctx.creating === undefined) return now;
  const vm = verifiedController(dv, 'VirtualMachine', ctx.view, ctx.namespace);
  const templates: unknown[] = Array.isArray(vm?.spec?.dataVolumeTemplates) ? vm!.spec.dataVolumeTemplates : [];
  const index = templates.findIndex((t: any) => t?.metadata?.name === dv.metadata?.name);
  return index < 0 ? now : beyondLink(now, templateNow(vm!, index, previousLink(ctx)), `VirtualMachine ${vm!.metadata?.name ?? ''}`, ctx);
}

/** What a VM pays for its dataVolumeTemplates now. */
export function dataVolumeTemplatesCharge(vm: KubeObject, ctx: StorageChargeContext): Charge {
  const total = zeroCharge();
  const templates = vm.spec?.dataVolumeTemplates;
  if (Array.isArray(templates)) for (let i = 0; i < templates.length; i++) addCharge(total, templateNow(vm, i, ctx));
  return total;
}
