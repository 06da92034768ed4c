// Where the PodSpec lives in each kind Pod Security Admission judges (PSA's DefaultPodSpecExtractor:
// Pods, and the pod templates of ReplicationController, PodTemplate, ReplicaSet, Deployment,
// StatefulSet, DaemonSet, Job and CronJob), both as objects and as the RFC 6901 pointer under which
// a mutator patches that spec.
import type { V1PodSpec } from '@kubernetes/client-node';
import type { GroupVersionKind, KubeObject, ObjectMeta } from '../types.js';

export interface PodTarget {
  /** The Pod's metadata, or the template's. */
  meta: ObjectMeta;
  spec: V1PodSpec;
  /** RFC 6901 pointer to `spec` inside the request object, e.g. `/spec/template/spec`. */
  specPointer: string;
  /** A controller's pod template: PSA only warns and audits these, it never enforces. */
  template: boolean;
}

interface Location {
  /** Path from the object root to the pod template (empty for a Pod itself). */
  templatePath: readonly string[];
  specPointer: string;
}

function location(...templatePath: string[]): Location {
  return { templatePath, specPointer: `/${[...templatePath, 'spec'].map(escapePointerSegment).join('/')}` };
}

const POD: Location = location();
const SPEC_TEMPLATE = location('spec', 'template');

// Keyed by "group/kind", as the API server reports the request's kind.
const LOCATIONS: ReadonlyMap<string, Location> = new Map([
  ['/Pod', POD],
  ['/ReplicationController', SPEC_TEMPLATE],
  ['/PodTemplate', location('template')],
  ['apps/ReplicaSet', SPEC_TEMPLATE],
  ['apps/Deployment', SPEC_TEMPLATE],
  ['apps/StatefulSet', SPEC_TEMPLATE],
  ['apps/DaemonSet', SPEC_TEMPLATE],
  ['batch/Job', SPEC_TEMPLATE],
  ['batch/CronJob', location('spec', 'jobTemplate', 'spec', 'template')],
]);

const NO_META: ObjectMeta = Object.freeze({});

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1`. */
export function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function isPodKind(kind: GroupVersionKind): boolean {
  return kind.group === '' && kind.kind === 'Pod';
}

/**
 * The pod spec of an object of the given kind, or undefined when the kind carries none or the
 * object leaves it out (PSA skips a controller without a template too).
 */
export function podTargetOf(kind: GroupVersionKind, object: KubeObject): PodTarget | undefined {
  const loc = LOCATIONS.get(`${kind.group}/${kind.kind}`);
  if (loc === undefined) return undefined;
  let holder = object as Record<string, unknown>;
  for (const key of loc.templatePath) {
    const next = holder[key];
    if (next == null || typeof next !== 'object') return undefined;
    holder = next as Record<string, unknown>;
  }
  const spec = holder.spec;
  if (spec == null || typeof spec !== 'object') return undefined;
  return {
    meta: (holder.metadata as ObjectMeta | null | undefined) ?? NO_META,
    spec: spec as V1PodSpec,
    specPointer: loc.specPointer,
    template: loc !== POD,
  };
}
