// The labels a workload's pods will carry, for matching NetworkPolicy podSelectors: a Pod's own,
// the pod template's for the built-in controllers, the virt-launcher pod's for KubeVirt kinds.
// Labels controllers add per pod (pod-template-hash, controller-revision-hash, StatefulSet pod
// names) are not known up front and differ between replicas, so no selector on them can cover
// every pod of the workload; they are left out. Job's job-name and controller-uid labels are in
// the template already: the API server adds them before validating admission.
import { kubevirtKindOf, launcherPodLabels, vmiTemplateOf } from './kubevirt-templates.js';
import type { GroupVersionKind, KubeObject } from '../types.js';

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

const TEMPLATE_KINDS: Record<string, ReadonlySet<string>> = {
  apps: new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']),
  batch: new Set(['Job']),
};

function labelsAt(value: unknown): Record<string, string> {
  const labels = (value as { metadata?: { labels?: unknown } } | null | undefined)?.metadata?.labels;
  return labels !== null && typeof labels === 'object' ? (labels as Record<string, string>) : NO_LABELS;
}

/** Whether objects of this kind make pods (and so are judged by NetworkPolicy coverage). */
export function makesPods(gvk: Pick<GroupVersionKind, 'group' | 'kind'>): boolean {
  if (gvk.group === '' && gvk.kind === 'Pod') return true;
  if (gvk.group === 'batch' && gvk.kind === 'CronJob') return true;
  if (TEMPLATE_KINDS[gvk.group]?.has(gvk.kind)) return true;
  return kubevirtKindOf(gvk) !== undefined;
}

/**
 * The labels the object's pods will carry, or undefined when the kind makes no pods. The result
 * may be the object's own label map: callers must not modify it.
 */
export function podLabelsOf(gvk: Pick<GroupVersionKind, 'group' | 'kind'>, obj: KubeObject): Readonly<Record<string, string>> | undefined {
  if (gvk.group === '' && gvk.kind === 'Pod') return obj.metadata?.labels ?? NO_LABELS;
  if (TEMPLATE_KINDS[gvk.group]?.has(gvk.kind)) return labelsAt(obj.spec?.template);
  if (gvk.group === 'batch' && gvk.kind === 'CronJob') return labelsAt(obj.spec?.jobTemplate?.spec?.template);
  const kubevirt = kubevirtKindOf(gvk);
  if (kubevirt !== undefined) return launcherPodLabels(vmiTemplateOf(kubevirt, obj));
  return undefined;
}

export function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(a, k)) continue;
    if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
    n++;
  }
  for (const k in b) if (Object.hasOwn(b, k)) n--;
  return n === 0;
}
