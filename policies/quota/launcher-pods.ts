// KubeVirt's virt-launcher pods in quota (SPEC 6.4): the VMI's payer already holds the pod's
// resources, so a genuine launcher pod costs nothing, except that a live-migration target costs what
// it adds over the source pod it replaces (max(0, target - source) per resource: 0 unless a hotplug
// grew the VMI). The migration target carries kubevirt.io/migrationJobUID (v1.MigrationJobLabel).
//
// Genuine is decided once, at the pod's CREATE, by the four signs of policies/kube/virt-launcher.ts,
// and remembered in the stamp tenantguard's mutating side puts on the pod then
// (policies/launcher-stamp.ts). Afterwards — the reconcile, an UPDATE or DELETE by anyone — a pod
// is a launcher pod only by that stamp and a VMI with the stamped uid that still exists. Labels,
// owner references and the VMI's status.activePods are not evidence later: a tenant can label its
// own pod and point it at its own VMI, and KubeVirt then adopts it and lists it as active.
import type { ClusterView, KubeObject } from '../types.js';
import { LAUNCHER_STAMP } from '../kube/virt-launcher.js';
import { controllerRef } from '../kube/controller-ref.js';
import { podCharge, podHoldsCompute } from './pod-charge.js';
import { COUNT_PODS, zeroCharge, type Charge } from './resources.js';
import type { Terms } from './terms.js';

export const MIGRATION_JOB_LABEL = 'kubevirt.io/migrationJobUID';

/** The VMI of an existing pod stamped as its launcher at CREATE, or undefined. */
export function persistedLauncherVmi(pod: KubeObject, view: ClusterView): KubeObject | undefined {
  const meta = pod.metadata;
  const stamp = meta?.annotations?.[LAUNCHER_STAMP];
  if (stamp === undefined || stamp === '' || meta?.namespace === undefined) return undefined;
  // The stamp holds the VMI's uid; KubeVirt names the VMI in the pod's controller reference.
  const ref = controllerRef(pod);
  const vmi = ref?.kind === 'VirtualMachineInstance' ? view.get('VirtualMachineInstance', meta.namespace, ref.name) : undefined;
  return vmi?.metadata?.uid === stamp ? vmi : undefined;
}

/** The running launcher pod a migration target replaces: another stamped pod of the VMI that it lists as active. */
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
    if (persistedLauncherVmi(pod, view) !== vmi) continue;
    if (podHoldsCompute(pod, nowMs)) return pod;
  }
  return undefined;
}

/** What a genuine launcher pod of `vmi` costs: nothing, or a migration target's growth over its source. */
export function launcherPodCharge(pod: KubeObject, vmi: KubeObject, view: ClusterView, nowMs?: number, terms?: Terms): Charge {
  const charge = zeroCharge();
  terms?.note(`KubeVirt's virt-launcher pod of VMI ${vmi.metadata?.name ?? ''}: paid for by the VMI's payer`);
  if (pod.metadata?.labels?.[MIGRATION_JOB_LABEL] === undefined || !podHoldsCompute(pod, nowMs)) return charge;
  const source = sourcePodOf(pod, vmi, view, nowMs);
  if (source === undefined) return charge;
  const target = podCharge(pod, nowMs);
  const before = podCharge(source, nowMs);
  for (const r of Object.keys(target)) {
    if (r !== COUNT_PODS) charge[r] = Math.max(0, target[r]! - (before[r] ?? 0));
  }
  terms?.add(`migration target beyond its source pod ${source.metadata?.name ?? ''}`, charge);
  return charge;
}
