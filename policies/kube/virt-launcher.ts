// Recognising KubeVirt's own virt-launcher pods (SPEC 6.1, 6.4). They need privileges baseline
// forbids and are charged through their VMI, so they are exempt from pod-security and
// secure-defaults and absorbed by quota — but only when every sign is genuine: the label, one
// controller ownerReference to a VMI that exists in the namespace with that uid, and a request
// made by KubeVirt's controller. A user-made imitation fails at least the last two and is judged
// like any pod.
import { controllerRef } from './controller-ref.js';
import type { AdmissionRequest, ClusterView, KubeObject, ModuleSettings, OwnerReference } from '../types.js';

/**
 * The annotation tenantguard puts on a pod when, at its CREATE, it is verified as the launcher pod of
 * a VMI; its value is the VMI's uid. Only the stamp says so later (policies/launcher-stamp.ts).
 */
export const LAUNCHER_STAMP = 'tenantguard.io/launcher-of';

/** virt-operator deploys virt-controller under this service account in the KubeVirt CR's namespace
 * (kubevirt pkg/virt-operator/resource/generate/rbac/controller.go, ControllerServiceAccountName). */
const CONTROLLER_SERVICE_ACCOUNT = 'kubevirt-controller';

/**
 * A namespace KubeVirt is installed in: that of a KubeVirt CR virt-operator has deployed (status.phase
 * Deployed; it acts on one KubeVirt CR only, so a copy created elsewhere never gets there).
 */
export function isKubevirtInstallNamespace(namespace: string, view: ClusterView): boolean {
  return view.list('KubeVirt', namespace).some((kv) => kv.status?.phase === 'Deployed' && kv.metadata?.deletionTimestamp === undefined);
}

/**
 * Whether `username` is KubeVirt's controller: one the server config names, or the controller
 * service account in KubeVirt's install namespace. An install by the HyperConverged operator
 * (openshift-cnv, kubevirt-hyperconverged) is found this way.
 */
export function isKubevirtController(username: string | undefined, view: ClusterView, settings: ModuleSettings): boolean {
  if (username === undefined) return false;
  if (settings.kubevirtServiceAccounts.includes(username)) return true;
  const prefix = 'system:serviceaccount:';
  if (!username.startsWith(prefix) || !username.endsWith(`:${CONTROLLER_SERVICE_ACCOUNT}`)) return false;
  return isKubevirtInstallNamespace(username.slice(prefix.length, username.length - CONTROLLER_SERVICE_ACCOUNT.length - 1), view);
}

/**
 * The VMI a pod being created claims as KubeVirt's launcher pod by the signs that need no lookup:
 * the label, KubeVirt's controller as the requester, one controller reference to a kubevirt.io/v1
 * VMI. Whether that VMI exists with that uid is virtLauncherVmiOf's to check.
 */
export function claimedLauncherVmi(request: AdmissionRequest, pod: KubeObject, view: ClusterView, settings: ModuleSettings): OwnerReference | undefined {
  if (pod.metadata?.labels?.['kubevirt.io'] !== 'virt-launcher') return undefined;
  if (!isKubevirtController(request.userInfo.username, view, settings)) return undefined;
  const owner = controllerRef(pod);
  return owner?.kind === 'VirtualMachineInstance' && owner.apiVersion === 'kubevirt.io/v1' ? owner : undefined;
}

/** The name of the VMI a genuine virt-launcher pod belongs to; undefined for any other pod. */
export function virtLauncherVmiOf(request: AdmissionRequest, pod: KubeObject, view: ClusterView, settings: ModuleSettings): string | undefined {
  const owner = claimedLauncherVmi(request, pod, view, settings);
  const namespace = request.namespace ?? pod.metadata?.namespace;
  if (owner === undefined || !namespace) return undefined;
  const vmi = view.get('VirtualMachineInstance', namespace, owner.name);
  if (vmi?.metadata?.uid === undefined || vmi.metadata.uid !== owner.uid) return undefined;
  return owner.name;
}

export function isVirtLauncherPod(request: AdmissionRequest, pod: KubeObject, view: ClusterView, settings: ModuleSettings): boolean {
  return virtLauncherVmiOf(request, pod, view, settings) !== undefined;
}

export function virtLauncherAnnotation(vmi: string): string {
  return `virt-launcher pod of VMI ${vmi}: exempt`;
}
