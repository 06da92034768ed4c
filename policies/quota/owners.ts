// Owner references checked against the cluster view (SPEC 6.4 "Trust"). An ownerReference is
// metadata the tenant writes: claiming a controller costs nothing, and with an apiVersion of a
// group that does not exist Kubernetes' garbage collector never removes the object
// (k8s.io/kubernetes pkg/controller/garbagecollector: an owner it cannot resolve is left alone)
// while KubeVirt runs it anyway. So an owner counts only when an object of that API group and kind
// exists in the namespace under that name with that uid; otherwise the object pays for itself.
import { controllerRef } from '../kube/controller-ref.js';
import type { ClusterView, KubeObject, OwnerReference } from '../types.js';

export type OwnerKind = 'VirtualMachine' | 'VirtualMachineInstance' | 'VirtualMachineInstanceReplicaSet' | 'VirtualMachinePool';

/** The API group each owner kind lives in (kubevirt.io/v1; pool.kubevirt.io v1alpha1/v1beta1). */
const GROUP: Readonly<Record<OwnerKind, string>> = {
  VirtualMachine: 'kubevirt.io',
  VirtualMachineInstance: 'kubevirt.io',
  VirtualMachineInstanceReplicaSet: 'kubevirt.io',
  VirtualMachinePool: 'pool.kubevirt.io',
};

function groupOf(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Whether `ref` names exactly `owner` (same group, kind, name and uid). */
export function refersTo(ref: OwnerReference, kind: OwnerKind, owner: KubeObject): boolean {
  return (
    ref.kind === kind &&
    groupOf(ref.apiVersion) === GROUP[kind] &&
    ref.name === owner.metadata?.name &&
    typeof ref.uid === 'string' &&
    ref.uid !== '' &&
    ref.uid === owner.metadata?.uid
  );
}

/** The controller of `obj` when it is a `kind` that exists in the view as referenced; else undefined. */
export function verifiedController(obj: KubeObject, kind: OwnerKind, view: ClusterView, namespace: string): KubeObject | undefined {
  const ref = controllerRef(obj);
  if (ref === undefined || ref.kind !== kind || typeof ref.name !== 'string') return undefined;
  const owner = view.get(kind, namespace, ref.name);
  return owner !== undefined && refersTo(ref, kind, owner) ? owner : undefined;
}

/** Objects of `kind` in the namespace whose verified controller is `owner` (O(objects of that kind there)). */
export function ownedBy(owner: KubeObject, ownerKind: OwnerKind, kind: 'VirtualMachine' | 'VirtualMachineInstance', view: ClusterView, namespace: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const obj of view.list(kind, namespace)) {
    const ref = controllerRef(obj);
    if (ref !== undefined && refersTo(ref, ownerKind, owner)) out.push(obj);
  }
  return out;
}
