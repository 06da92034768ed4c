// chargeOf: what one object costs a tenant, by kind. The one place that decides which kinds are
// charged; kinds not listed cost nothing here (workload controllers are charged at their Pods,
// VirtualMachineInstanceMigrations at the target pod).
import { virtLauncherVmiOf } from '../virt-launcher.js';
import type { AdmissionRequest, GroupVersionKind, KubeObject, ModuleSettings, ViewKind } from '../types.js';
import { launcherPodCharge, persistedLauncherVmi } from './launcher-pods.js';
import { podCharge } from './pod-charge.js';
import type { Charge } from './resources.js';
import {
  poolCharge,
  replicaSetCharge,
  virtualMachineCharge,
  virtualMachineInstanceCharge,
  type VmChargeContext,
} from './vm-charge.js';

export type ChargedKind = Extract<
  ViewKind,
  'Pod' | 'VirtualMachine' | 'VirtualMachineInstance' | 'VirtualMachineInstanceReplicaSet' | 'VirtualMachinePool'
>;

export const CHARGED_KINDS: readonly ChargedKind[] = [
  'Pod',
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
];

export interface ChargeContext extends VmChargeContext {
  /**
   * The admission request, when judging one. A pod being created is KubeVirt's when its creator is
   * (policies/virt-launcher.ts); a pod that exists is KubeVirt's when its VMI lists it as active
   * (launcher-pods.ts), or when KubeVirt's controller is the one updating or deleting it.
   */
  admission?: { request: AdmissionRequest; settings: ModuleSettings; creating: boolean };
  /** The caller's clock, for pods past their deletion grace (policies have no clock of their own). */
  nowMs?: number;
}

/** The VMI whose genuine virt-launcher pod this is, or undefined for any other pod. */
export function launcherVmiOf(pod: KubeObject, ctx: ChargeContext): KubeObject | undefined {
  const admission = ctx.admission;
  if (!admission?.creating) {
    const vmi = persistedLauncherVmi(pod, ctx.view);
    if (vmi !== undefined || admission === undefined) return vmi;
  }
  const name = virtLauncherVmiOf(admission.request, pod, ctx.view, admission.settings);
  return name === undefined ? undefined : ctx.view.get('VirtualMachineInstance', ctx.namespace, name);
}

/** The charged kind an admission request is about, by API group and kind. */
export function chargedKindOf(gvk: GroupVersionKind): ChargedKind | undefined {
  switch (gvk.group) {
    case '':
      return gvk.kind === 'Pod' ? 'Pod' : undefined;
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
      return vmi ? launcherPodCharge(obj, vmi, ctx.view, ctx.nowMs) : podCharge(obj, ctx.nowMs);
    }
    case 'VirtualMachine':
      return virtualMachineCharge(obj, ctx);
    case 'VirtualMachineInstance':
      return virtualMachineInstanceCharge(obj, ctx);
    case 'VirtualMachineInstanceReplicaSet':
      return replicaSetCharge(obj, ctx);
    case 'VirtualMachinePool':
      return poolCharge(obj, ctx);
  }
}
