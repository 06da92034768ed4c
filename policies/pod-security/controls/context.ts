// What every control check receives, and the message helpers PSA's checks share (joinQuote,
// pluralize), so messages come out in PSA's words.
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import type { ObjectMeta } from '../../types.js';

export interface PodContext {
  meta: ObjectMeta;
  spec: V1PodSpec;
  /** Init, regular and ephemeral containers, in the order PSA's visitContainers walks them. */
  containers: readonly V1Container[];
  /** spec.os.name is windows: PSA skips the Linux-only restricted checks from policy v1.25. */
  windows: boolean;
  /** spec.hostUsers is false (a user namespace): PSA relaxes some checks from policy v1.35. */
  userNamespace: boolean;
}

/** A failed check: PSA's ForbiddenReason and ForbiddenDetail. */
export interface Violation {
  reason: string;
  detail: string;
}

export type CheckFn = (pod: PodContext) => Violation | undefined;

export type CheckLevel = 'baseline' | 'restricted';

export interface VersionedCheck {
  /** First policy version (minor of v1.x) this revision applies to. */
  minVersion: number;
  check: CheckFn;
  /** Baseline check ids this restricted revision replaces at the versions it covers. */
  overrides?: readonly string[];
}

export interface Check {
  /** PSA's check id; checks are ordered by it, as PSA orders its messages. */
  id: string;
  /** The Pod Security Standards control name, used as the finding's rule. */
  control: string;
  level: CheckLevel;
  /** Strictly increasing minVersion. */
  versions: readonly VersionedCheck[];
}

const NO_CONTAINERS: readonly V1Container[] = Object.freeze([]);

export function podContext(meta: ObjectMeta, spec: V1PodSpec): PodContext {
  const init = spec.initContainers ?? NO_CONTAINERS;
  const regular = spec.containers ?? NO_CONTAINERS;
  const ephemeral = (spec.ephemeralContainers ?? NO_CONTAINERS) as readonly V1Container[];
  // Most pods have neither init nor ephemeral containers: reuse their list instead of copying it.
  const containers = init.length === 0 && ephemeral.length === 0 ? regular : [...init, ...regular, ...ephemeral];
  return {
    meta,
    spec,
    containers,
    windows: spec.os?.name === 'windows',
    userNamespace: spec.hostUsers === false,
  };
}

export function joinQuote(items: readonly string[]): string {
  return items.length === 0 ? '' : `"${items.join('", "')}"`;
}

export function pluralize(singular: string, plural: string, count: number): string {
  return count === 1 ? singular : plural;
}

/** `container "a"` / `containers "a", "b"` */
export function containersPhrase(names: readonly string[]): string {
  return `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
}

/** Go's sets.List(): the distinct values, sorted bytewise. */
export function sortedSet(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** Go's %q for the ASCII strings Kubernetes field values are. */
export function goQuote(value: string): string {
  return JSON.stringify(value);
}

/** Stands in for an absent list without allocating one per lookup. */
export const NONE: readonly never[] = Object.freeze([]);
