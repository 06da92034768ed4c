// An object's controller reference (k8s.io/apimachinery metav1.GetControllerOf), shared by every
// helper that follows one: KubeVirt's launcher pods, CDI's PVCs, the quota's owner checks.
import type { KubeObject, OwnerReference } from '../types.js';

/** The single controller reference; none when there is none or (invalid, but possible in a snapshot) several. */
export function controllerRef(obj: KubeObject): OwnerReference | undefined {
  let found: OwnerReference | undefined;
  for (const ref of obj.metadata?.ownerReferences ?? []) {
    if (ref?.controller !== true) continue;
    if (found !== undefined) return undefined;
    found = ref;
  }
  return found;
}
