// `kubectl scale` of a VirtualMachineInstanceReplicaSet or VirtualMachinePool (SPEC 6.4
// "Subresources"): the review is an autoscaling/v1 Scale of the `scale` subresource, naming the
// object and its replicas (KubeVirt serves both through the CRDs' scale subresource,
// specReplicasPath .spec.replicas: pkg/virt-operator/resource/generate/components/crds.go). It
// costs what the same replicas change of the main resource costs: the object as the cluster view
// holds it, at the Scale's spec.replicas.
import type { KubeObject } from '../types.js';
import { poolCharge, replicaSetCharge, replicasOf, type VmChargeContext } from './vm-charge.js';
import type { Charge } from './resources.js';

export type ScaledKind = 'VirtualMachineInstanceReplicaSet' | 'VirtualMachinePool';

/** The main resource a `scale` subresource review of `resource` is about. */
export function scaledKindOf(group: string, resource: string, subResource: string | undefined): ScaledKind | undefined {
  if (subResource !== 'scale') return undefined;
  if (group === 'kubevirt.io' && resource === 'virtualmachineinstancereplicasets') return 'VirtualMachineInstanceReplicaSet';
  if (group === 'pool.kubevirt.io' && resource === 'virtualmachinepools') return 'VirtualMachinePool';
  return undefined;
}

export function isScale(obj: KubeObject): boolean {
  return obj.kind === 'Scale';
}

/** What `scale` (a Scale object) makes the named object cost. */
export function scaleCharge(kind: ScaledKind, scale: KubeObject, ctx: VmChargeContext): Charge {
  const name = scale.metadata?.name;
  const target = name === undefined ? undefined : ctx.view.get(kind, ctx.namespace, name);
  if (target === undefined) {
    // Not in the view yet (created a moment ago): its template is unknown, so nothing can be charged
    // and the scale must not pass uncharged.
    throw new Error(`${kind} ${ctx.namespace}/${name ?? '?'} is not in the cluster view yet; retry the scale`);
  }
  const replicas = replicasOf(scale.spec?.replicas, 'spec.replicas');
  return kind === 'VirtualMachinePool' ? poolCharge(target, ctx, replicas) : replicaSetCharge(target, ctx, replicas);
}
