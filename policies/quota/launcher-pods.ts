// KubeVirt's virt-launcher pods in quota (SPEC 6.4): the VMI's payer already holds the pod's
// resources, so a genuine launcher pod costs nothing, except that a live-migration target costs what
// it adds over the source pod it replaces (max(0, target - source) per resource: 0 unless a hotplug
// grew the VMI). The migration target carries kubevirt.io/migrationJobUID (v1.MigrationJobLabel).
//
// Genuine means, for a pod being created, policies/virt-launcher.ts (the request comes from KubeVirt's
// controller). For a pod that already exists there is no such request to look at — the reconcile
// has none, and an UPDATE or DELETE may come from anyone — so it is genuine when its VMI lists it in
// status.activePods: VMI status is KubeVirt's to write (virt-api reverts status changes by others).
import type { ClusterView, KubeObject } from '../types.js';
import { podCharge, podHoldsCompute } from './pod-charge.js';
import { COUNT_PODS, RESOURCES, zeroCharge, type Charge } from './resources.js';

export const MIGRATION_JOB_LABEL = 'kubevirt.io/migrationJobUID';

/** The VMI of an existing genuine virt-launcher pod, or undefined. */
export function persistedLauncherVmi(pod: KubeObject, view: ClusterView): KubeObject | undefined {
  const meta = pod.metadata;
  if (meta?.labels?.['kubevirt.io'] !== 'virt-launcher' || meta.uid === undefined || meta.namespace === undefined) return undefined;
  const controllers = meta.ownerReferences?.filter((r) => r.controller === true) ?? [];
  const owner = controllers.length === 1 ? controllers[0]! : undefined;
  if (owner?.kind !== 'VirtualMachineInstance') return undefined;
  const vmi = view.get('VirtualMachineInstance', meta.namespace, owner.name);
  if (vmi?.metadata?.uid !== owner.uid) return undefined;
  const active = vmi.status?.activePods;
  return active !== null && typeof active === 'object' && Object.hasOwn(active, meta.uid) ? vmi : undefined;
}

/** The running launcher pod a migration target replaces: another pod the VMI lists as active. */
function sourcePodOf(target: KubeObject, vmi: KubeObject, view: ClusterView, nowMs: number | undefined): KubeObject | undefined {
  const active = vmi.status?.activePods;
  if (active === null || typeof active !== 'object') return undefined;
  const namespace = vmi.metadata?.namespace ?? target.metadata?.namespace;
  // The view has no uid index; a namespace's pods are the bound (ClusterView contract), and only
  // migration targets, rare and short-lived, pay it.
  for (const pod of view.list('Pod', namespace)) {
    const uid = pod.metadata?.uid;
    if (uid === undefined || !Object.hasOwn(active, uid)) continue;
    if (uid === target.metadata?.uid || (target.metadata?.name !== undefined && pod.metadata?.name === target.metadata.name)) continue;
    if (podHoldsCompute(pod, nowMs)) return pod;
  }
  return undefined;
}

/** What a genuine launcher pod of `vmi` costs: nothing, or a migration target's growth over its source. */
export function launcherPodCharge(pod: KubeObject, vmi: KubeObject, view: ClusterView, nowMs?: number): Charge {
  const charge = zeroCharge();
  if (pod.metadata?.labels?.[MIGRATION_JOB_LABEL] === undefined || !podHoldsCompute(pod, nowMs)) return charge;
  const source = sourcePodOf(pod, vmi, view, nowMs);
  if (source === undefined) return charge;
  const target = podCharge(pod, nowMs);
  const before = podCharge(source, nowMs);
  for (const r of RESOURCES) {
    if (r !== COUNT_PODS) charge[r] = Math.max(0, target[r] - before[r]);
  }
  return charge;
}
