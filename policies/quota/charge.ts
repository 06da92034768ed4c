// chargeOf: what one object costs a tenant, by kind. The one place that decides which kinds are
// charged; kinds not listed cost nothing here (workload controllers are charged at their Pods,
// VirtualMachineInstanceMigrations at the target pod). Storage (PVCs, DataVolumes, a VM's
// dataVolumeTemplates) is charged by storage-charge.ts. A `scale` subresource review of a replica set
// or pool is charged as that object at the Scale's replicas (scale.ts). With ctx.terms set, every
// charge also writes the terms it adds up from (terms.ts): the explanation is the charge's own arithmetic.
import { virtLauncherVmiOf } from '../kube/virt-launcher.js';
import type { AdmissionRequest, GroupVersionKind, GroupVersionResource, KubeObject, ModuleSettings, ViewKind } from '../types.js';
import { launcherPodCharge, persistedLauncherVmi } from './launcher-pods.js';
import { podCharge, type PodDefaults } from './pod-charge.js';
import { addCharge, type Charge } from './resources.js';
import { isScale, scaleCharge, scaledKindOf } from './scale.js';
import { dataVolumeCharge, dataVolumeTemplatesCharge, persistentVolumeClaimCharge, type StorageChargeContext } from './storage-charge.js';
import {
  poolCharge,
  replicaSetCharge,
  virtualMachineCharge,
  virtualMachineInstanceCharge,
  type VmChargeContext,
} from './vm-charge.js';

export type ChargedKind = Extract<
  ViewKind,
  | 'Pod'
  | 'VirtualMachine'
  | 'VirtualMachineInstance'
  | 'VirtualMachineInstanceReplicaSet'
  | 'VirtualMachinePool'
  | 'PersistentVolumeClaim'
  | 'DataVolume'
>;

export const CHARGED_KINDS: readonly ChargedKind[] = [
  'Pod',
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
  'PersistentVolumeClaim',
  'DataVolume',
];

export interface ChargeContext extends VmChargeContext {
  /**
   * The admission request, when judging one. A pod being created is KubeVirt's launcher pod when
   * the four signs of policies/kube/virt-launcher.ts hold; a pod that exists only by the stamp it got
   * then (launcher-pods.ts).
   */
  admission?: { request: AdmissionRequest; settings: ModuleSettings; creating: boolean };
  /** The caller's clock, for pods past their deletion grace (policies have no clock of their own). */
  nowMs?: number;
  /** The Tenant's quota.defaultRequests, charged for the requests a pod leaves out. */
  podDefaults?: PodDefaults;
  /** Told each disk whose size cannot be known (storage-charge.ts). */
  onUnknownSize?: (problem: string) => void;
  /** The resources the Tenants' limits account (resources.ts accountedBy); a pod's other hugepage sizes are skipped. */
  accounts?: (resource: string) => boolean;
}

function storageContext(ctx: ChargeContext): StorageChargeContext {
  const admission = ctx.admission;
  return admission?.creating ? { ...ctx, creating: { request: admission.request, settings: admission.settings } } : ctx;
}

/** The VMI whose genuine virt-launcher pod this is, or undefined for any other pod. */
export function launcherVmiOf(pod: KubeObject, ctx: ChargeContext): KubeObject | undefined {
  const admission = ctx.admission;
  if (!admission?.creating) return persistedLauncherVmi(pod, ctx.view);
  const name = virtLauncherVmiOf(admission.request, pod, ctx.view, admission.settings);
  return name === undefined ? undefined : ctx.view.get('VirtualMachineInstance', ctx.namespace, name);
}

/**
 * The charged kind an admission request is about, by API group and kind; for a `scale` review, by
 * the resource it scales (its kind is autoscaling/v1 Scale). Other subresources carry the object's
 * own kind (pods/resize is a Pod and charged as one).
 */
export function chargedKindOf(gvk: GroupVersionKind, resource?: GroupVersionResource, subResource?: string): ChargedKind | undefined {
  if (subResource === 'scale') return resource === undefined ? undefined : scaledKindOf(resource.group, resource.resource, subResource);
  switch (gvk.group) {
    case '':
      return gvk.kind === 'Pod' || gvk.kind === 'PersistentVolumeClaim' ? gvk.kind : undefined;
    case 'cdi.kubevirt.io':
      return gvk.kind === 'DataVolume' ? 'DataVolume' : undefined;
    case 'kubevirt.io':
      return gvk.kind === 'VirtualMachine' || gvk.kind === 'VirtualMachineInstance' || gvk.kind === 'VirtualMachineInstanceReplicaSet'
        ? gvk.kind
        : undefined;
    case 'pool.kubevirt.io':
      return gvk.kind === 'VirtualMachinePool' ? 'VirtualMachinePool' : undefined;
    default:
      return undefined;
  }
}

export function chargeOf(kind: ChargedKind, obj: KubeObject, ctx: ChargeContext): Charge {
  switch (kind) {
    case 'Pod': {
      const vmi = launcherVmiOf(obj, ctx);
      return vmi ? launcherPodCharge(obj, vmi, ctx.view, ctx.nowMs, ctx.terms) : podCharge(obj, ctx.nowMs, ctx.podDefaults, ctx.accounts, ctx.terms);
    }
    case 'VirtualMachine':
      return addCharge(virtualMachineCharge(obj, ctx), dataVolumeTemplatesCharge(obj, ctx));
    case 'VirtualMachineInstance':
      return virtualMachineInstanceCharge(obj, ctx);
    case 'VirtualMachineInstanceReplicaSet':
      return isScale(obj) ? scaleCharge(kind, obj, ctx) : replicaSetCharge(obj, ctx);
    case 'VirtualMachinePool':
      return isScale(obj) ? scaleCharge(kind, obj, ctx) : poolCharge(obj, ctx);
    case 'PersistentVolumeClaim':
      return persistentVolumeClaimCharge(obj, storageContext(ctx));
    case 'DataVolume':
      return dataVolumeCharge(obj, storageContext(ctx));
  }
}
