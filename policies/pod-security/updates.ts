// Which Pod updates PSA re-evaluates (admission.go isSignificantPodUpdate): the pod spec is
// immutable except for container images, the seccomp annotations and new ephemeral containers, so
// an update that changes none of those (labels, other annotations, tolerations, resources through
// resize, ...) cannot make a pod less secure and is allowed without evaluation.
import type { V1Container, V1EphemeralContainer, V1PodSpec } from '@kubernetes/client-node';
import type { KubeObject } from '../types.js';
import { SECCOMP_CONTAINER_ANNOTATION_PREFIX, SECCOMP_POD_ANNOTATION } from './controls/baseline.js';
import { NONE } from './controls/context.js';

type Annotations = Record<string, string> | undefined;

function significantContainerUpdate(c: V1Container, old: V1Container, annotations: Annotations, oldAnnotations: Annotations): boolean {
  if (c.image !== old.image) return true;
  const key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.name;
  return annotations?.[key] !== oldAnnotations?.[key];
}

function significantListUpdate(list: readonly V1Container[], oldList: readonly V1Container[], annotations: Annotations, oldAnnotations: Annotations): boolean {
  if (list.length !== oldList.length) return true;
  for (let i = 0; i < list.length; i++) {
    if (significantContainerUpdate(list[i]!, oldList[i]!, annotations, oldAnnotations)) return true;
  }
  return false;
}

/** Each name's first container, as a linear search from the start would find it. */
function firstByName(list: readonly V1EphemeralContainer[]): Map<string, V1EphemeralContainer> {
  const map = new Map<string, V1EphemeralContainer>();
  for (const c of list) if (!map.has(c.name)) map.set(c.name, c);
  return map;
}

export function isSignificantPodUpdate(pod: KubeObject, oldPod: KubeObject): boolean {
  const annotations = pod.metadata?.annotations;
  const oldAnnotations = oldPod.metadata?.annotations;
  if (annotations?.[SECCOMP_POD_ANNOTATION] !== oldAnnotations?.[SECCOMP_POD_ANNOTATION]) return true;
  const spec = (pod.spec ?? {}) as V1PodSpec;
  const oldSpec = (oldPod.spec ?? {}) as V1PodSpec;
  if (significantListUpdate(spec.containers ?? NONE, oldSpec.containers ?? NONE, annotations, oldAnnotations)) return true;
  if (significantListUpdate(spec.initContainers ?? NONE, oldSpec.initContainers ?? NONE, annotations, oldAnnotations)) return true;
  const oldEphemeral: readonly V1EphemeralContainer[] = oldSpec.ephemeralContainers ?? NONE;
  // PSA matches ephemeral containers by name. They are only ever appended, so the same index
  // almost always holds the same name; a name map is built (once) only when one does not, which
  // keeps an update of a pod with many ephemeral containers linear.
  let byName: Map<string, V1EphemeralContainer> | undefined;
  const ephemeral: readonly V1EphemeralContainer[] = spec.ephemeralContainers ?? NONE;
  for (let i = 0; i < ephemeral.length; i++) {
    const c = ephemeral[i]!;
    let old: V1EphemeralContainer | undefined = oldEphemeral[i];
    if (old?.name !== c.name) {
      byName ??= firstByName(oldEphemeral);
      old = byName.get(c.name);
    }
    if (old === undefined) return true; // an ephemeral container was added
    if (significantContainerUpdate(c as V1Container, old as V1Container, annotations, oldAnnotations)) return true;
  }
  return false;
}
