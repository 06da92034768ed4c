// What storage costs (SPEC 6.6): PVCs as the built-in quota charges them, DataVolumes and a VM's
// dataVolumeTemplates as the PVC CDI will create for them. Each disk is paid once along the chain
// a VM's disk goes through, always by the last link that exists:
//
//   VM dataVolumeTemplate  ->  DataVolume (KubeVirt creates it)  ->  PVC (CDI creates it)
//
// - A VM pays for each template whose DataVolume does not exist yet (one whose verified controller
//   is this VM, by uid; owners.ts). Stopping the VM changes nothing: disks persist.
// - A DataVolume pays its disk (datavolume-size.ts) until its PVC exists: a PVC of its name
//   stamped at CREATE as CDI's PVC of this DataVolume uid (cdi-pvc.ts, cdi-pvc-stamp.ts).
// - A PVC pays its claim. At the CREATE of the next link, it pays only what it adds over what the
//   previous link pays now (chargeBeyond): the DataVolume a VM owns, over that VM's template of
//   that name; CDI's own PVC of a DataVolume, over that DataVolume. So a VM's disks are charged
//   when the VM is created (the user's action) and never again, and a PVC bigger than foreseen (a
//   StorageProfile minimum) pays the difference. Nothing is freed by a review: when the DataVolume
//   or PVC appears, the ledger observes the same total moving to it.
// A PVC nobody verified (a tenant's imitation of CDI's, or CDI's populator scratch PVCs, which the
// built-in quota charges too) pays in full.
import { cdiDataVolumeOf, persistedDataVolumeOf } from '../cdi-pvc.js';
import { parseUnits } from '../quantity.js';
import type { AdmissionRequest, KubeObject, ModuleSettings } from '../types.js';
import { dataVolumeDisk, type DiskSize } from './datavolume-size.js';
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

function parsed(value: unknown, where: string): number {
  try {
    return parseUnits(value as string);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/**
 * The built-in quota's PVC storage usage (pvcEvaluator.getStorageUsage): spec.resources.requests
 * .storage, or status.allocatedResources.storage when larger (an expansion under way); whole bytes.
 */
export function pvcStorageBytes(pvc: KubeObject): number {
  const requested = pvc.spec?.resources?.requests?.storage;
  if (requested === undefined || requested === null) return 0;
  const bytes = parsed(requested, 'spec.resources.requests.storage');
  const allocated = pvc.status?.allocatedResources?.storage;
  return allocated === undefined || allocated === null ? bytes : Math.max(bytes, parsed(allocated, 'status.allocatedResources.storage'));
}

function pvcGross(pvc: KubeObject, ctx: StorageChargeContext): Charge {
  return claimCharge(pvcStorageClass(pvc, ctx.view), pvcStorageBytes(pvc));
}

function diskCharge(disk: DiskSize, ctx: StorageChargeContext): Charge {
  if ('problem' in disk) {
    ctx.onUnknownSize?.(disk.problem);
    // The claim is counted; its size is what cannot be known.
    return claimCharge('', 0);
  }
  return claimCharge(disk.storageClass, disk.bytes);
}

/** The disk of a DataVolume, whoever pays for it. */
function dataVolumeGross(dv: KubeObject, ctx: StorageChargeContext): Charge {
  return diskCharge(dataVolumeDisk(dv.spec, ctx.namespace, ctx.view, 'spec'), ctx);
}

/** Whether the PVC CDI made for this DataVolume exists (so it pays instead). */
function hasOwnPvc(dv: KubeObject, ctx: StorageChargeContext): boolean {
  const name = dv.metadata?.name;
  const pvc = name === undefined ? undefined : ctx.view.get('PersistentVolumeClaim', ctx.namespace, name);
  return pvc !== undefined && persistedDataVolumeOf(pvc, ctx.view) === dv;
}

/** What a DataVolume pays now, in the view as it is. */
function dataVolumeNow(dv: KubeObject, ctx: StorageChargeContext): Charge {
  return hasOwnPvc(dv, ctx) ? zeroCharge() : dataVolumeGross(dv, ctx);
}

/** The template of `name` in a VM's spec.dataVolumeTemplates, if any. */
function templateNamed(vm: KubeObject, name: string): any {
  const templates = vm.spec?.dataVolumeTemplates;
  return Array.isArray(templates) ? templates.find((t) => t?.metadata?.name === name) : undefined;
}

function templateCharge(template: any, index: number, ctx: StorageChargeContext): Charge {
  return diskCharge(dataVolumeDisk(template?.spec, ctx.namespace, ctx.view, `spec.dataVolumeTemplates[${index}].spec`), ctx);
}

export function persistentVolumeClaimCharge(pvc: KubeObject, ctx: StorageChargeContext): Charge {
  const gross = pvcGross(pvc, ctx);
  if (ctx.creating === undefined) return gross;
  const dv = cdiDataVolumeOf(ctx.creating.request, pvc, ctx.view, ctx.creating.settings);
  return dv === undefined ? gross : chargeBeyond(gross, dataVolumeNow(dv, { ...ctx, onUnknownSize: undefined }));
}

export function dataVolumeCharge(dv: KubeObject, ctx: StorageChargeContext): Charge {
  if (ctx.creating === undefined) return dataVolumeNow(dv, ctx);
  const gross = dataVolumeGross(dv, ctx);
  const vm = verifiedController(dv, 'VirtualMachine', ctx.view, ctx.namespace);
  const name = dv.metadata?.name;
  const template = vm === undefined || name === undefined ? undefined : templateNamed(vm, name);
  if (template === undefined) return gross;
  const index = (vm!.spec.dataVolumeTemplates as unknown[]).indexOf(template);
  return chargeBeyond(gross, templateCharge(template, index, { ...ctx, onUnknownSize: undefined }));
}

/** What a VM pays for its dataVolumeTemplates: each whose DataVolume (owned by this VM) does not exist yet. */
export function dataVolumeTemplatesCharge(vm: KubeObject, ctx: StorageChargeContext): Charge {
  const total = zeroCharge();
  const templates = vm.spec?.dataVolumeTemplates;
  if (!Array.isArray(templates)) return total;
  const uid = vm.metadata?.uid;
  templates.forEach((template, index) => {
    const name = template?.metadata?.name;
    const dv = typeof name === 'string' ? ctx.view.get('DataVolume', ctx.namespace, name) : undefined;
    if (dv !== undefined && uid !== undefined && verifiedController(dv, 'VirtualMachine', ctx.view, ctx.namespace)?.metadata?.uid === uid) return;
    addCharge(total, templateCharge(template, index, ctx));
  });
  return total;
}
