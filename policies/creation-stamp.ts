// A mark decided once, at an object's CREATE, and trusted afterwards (SPEC 6.4 "Trust"): the
// mutating side stamps an object that, as it is created, is verified to belong to some owner
// (a VMI's virt-launcher pod, a DataVolume's PVC made by CDI) with an annotation holding that
// owner's uid; the validating side refuses a CREATE carrying the stamp without being verified for
// that very uid, and any UPDATE that adds or changes it (removing it only makes the object pay).
// The validating webhook sees the object after every mutating webhook, so a stamp some other
// mutating webhook adds is judged too. Quota later trusts only the stamp plus an owner with the
// stamped uid that still exists.
import { controllerRef } from './quota/owners.js';
import type { ClusterView, KubeObject, ModuleResult, PatchOp, PolicyInput, PolicyModule, ViewKind } from './types.js';

export interface CreationStamp {
  /** Module name of the validating side; the mutating side is `<name>-mutate`. */
  name: string;
  /** The annotation; its value is the verified owner's uid. */
  annotation: string;
  /** API group and kind of the objects stamped (subresources are never stamped). */
  group: string;
  kind: string;
  /** The uid of the owner this object is being created for, when every sign holds; else undefined. */
  verifiedOwnerUid(input: PolicyInput, obj: KubeObject): string | undefined;
  /** The audit annotation for a stamp made: what the object was verified as. */
  stamped(uid: string): string;
  /** What may carry the stamp, for the refusal: "only KubeVirt's own virt-launcher pods of VMI uid". */
  onlyFor: string;
  /** Who sets it, for the refusal of an UPDATE: "when KubeVirt creates the pod". */
  setWhen: string;
  /**
   * Why a CREATE must wait: the owner's controller creates the object for an owner the view has
   * not observed yet, so it can be neither verified nor stamped; refused, the controller retries.
   */
  unobservedOwner?(input: PolicyInput, obj: KubeObject): string | undefined;
}

const EMPTY: ModuleResult = Object.freeze({}) as ModuleResult;

export function stampModules(s: CreationStamp): { mutate: PolicyModule; validate: PolicyModule } {
  const path = `/metadata/annotations/${s.annotation.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  const field = `metadata.annotations["${s.annotation}"]`;
  const isReview = (input: PolicyInput) => input.request.kind.group === s.group && input.request.kind.kind === s.kind && !input.request.subResource;
  const stampOf = (obj: KubeObject | undefined) => obj?.metadata?.annotations?.[s.annotation];

  const mutate = (input: PolicyInput): ModuleResult => {
    const obj = input.object;
    if (!isReview(input) || input.request.operation !== 'CREATE' || !obj) return EMPTY;
    const uid = s.verifiedOwnerUid(input, obj);
    if (uid === undefined || stampOf(obj) === uid) return EMPTY;
    const patch: PatchOp[] = obj.metadata?.annotations
      ? [{ op: 'add', path, value: uid }]
      : [{ op: 'add', path: '/metadata/annotations', value: { [s.annotation]: uid } }];
    return { patch, annotation: s.stamped(uid) };
  };

  const validate = (input: PolicyInput): ModuleResult => {
    const obj = input.object;
    const operation = input.request.operation;
    if (!isReview(input) || !obj || (operation !== 'CREATE' && operation !== 'UPDATE')) return EMPTY;
    const waiting = operation === 'CREATE' ? s.unobservedOwner?.(input, obj) : undefined;
    if (waiting !== undefined) return { findings: [{ mode: 'enforce', rule: s.name.replace(/-/g, ' '), message: waiting }] };
    const stamp = stampOf(obj);
    if (stamp === undefined) return EMPTY;
    if (operation === 'UPDATE') {
      if (stampOf(input.oldObject) === stamp) return EMPTY;
      return { findings: [{ mode: 'enforce', rule: s.name.replace(/-/g, ' '), message: `${field}: set by tenantguard only ${s.setWhen}; it cannot be added or changed` }] };
    }
    if (s.verifiedOwnerUid(input, obj) === stamp) return EMPTY;
    return { findings: [{ mode: 'enforce', rule: s.name.replace(/-/g, ' '), message: `${field}: ${s.onlyFor} ${JSON.stringify(stamp)} carry it` }] };
  };

  return {
    mutate: { name: `${s.name}-mutate`, type: 'mutate', evaluate: mutate },
    validate: { name: s.name, type: 'validate', evaluate: validate },
  };
}

/**
 * The owner an existing object was stamped for at its CREATE: the `kind` its controller reference
 * names, while it exists with the stamped uid; undefined for an object without a valid stamp.
 */
export function stampedOwner(obj: KubeObject, annotation: string, kind: ViewKind, view: ClusterView): KubeObject | undefined {
  const meta = obj.metadata;
  const stamp = meta?.annotations?.[annotation];
  if (stamp === undefined || stamp === '' || meta?.namespace === undefined) return undefined;
  const ref = controllerRef(obj);
  const owner = ref?.kind === kind ? view.get(kind, meta.namespace, ref.name) : undefined;
  return owner?.metadata?.uid === stamp ? owner : undefined;
}
