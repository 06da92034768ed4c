// The launcher stamp (SPEC 6.4 "Trust": a pod is absorbed as a virt-launcher pod only as decided at
// its CREATE, whatever it is later relabelled or adopted into). At the CREATE of a pod that shows all
// four signs (policies/kube/virt-launcher.ts: the label, one controller reference to a VMI that exists
// with that uid, and KubeVirt's controller as the requester) the mutating side stamps it with
// tenantguard.io/launcher-of=<VMI uid>. Quota trusts, for every pod that already exists, only that
// stamp plus a VMI with the stamped uid (policies/quota/launcher-pods.ts).
//
// Why a tenant cannot forge it: every pod CREATE and UPDATE in a tenant namespace passes these
// webhooks (failurePolicy Fail), and the validating side denies
// - a CREATE that carries the stamp without being verified for that very VMI uid, and
// - an UPDATE that adds the stamp or changes its value (removing it only makes the pod pay).
// The validating webhook sees the object after every mutating webhook, so a stamp added by some
// other mutating webhook is judged too. The webhooks skip kubelets (matchConditions), whose pod
// writes NodeRestriction limits to status and mirror pods owned by their Node. What remains outside: a pod created where the webhooks did
// not run (a namespace before a Tenant claimed it, or while tenantguard was uninstalled, or by an
// exempt user), which could carry a stamp nobody checked. Such a stamp still absorbs the pod only
// while a VMI with that uid exists and is named as the pod's controller; the README says to audit
// namespaces a Tenant takes over.
import { LAUNCHER_STAMP, virtLauncherVmiOf } from './kube/virt-launcher.js';
import type { KubeObject, ModuleResult, PatchOp, PolicyInput, PolicyModule } from './types.js';

export const LAUNCHER_STAMP_MODULE = 'launcher-stamp';
const EMPTY: ModuleResult = Object.freeze({}) as ModuleResult;
const STAMP_PATH = `/metadata/annotations/${LAUNCHER_STAMP.replace(/~/g, '~0').replace(/\//g, '~1')}`;

function isPodReview(input: PolicyInput): boolean {
  const { request } = input;
  return request.kind.group === '' && request.kind.kind === 'Pod' && !request.subResource;
}

/** The uid of the VMI whose launcher this pod is being created as, or undefined. */
function verifiedVmiUid(input: PolicyInput, pod: KubeObject): string | undefined {
  const name = virtLauncherVmiOf(input.request, pod, input.view, input.settings);
  if (name === undefined) return undefined;
  const namespace = input.request.namespace ?? pod.metadata?.namespace ?? '';
  return input.view.get('VirtualMachineInstance', namespace, name)?.metadata?.uid;
}

function stampOf(obj: KubeObject | undefined): string | undefined {
  return obj?.metadata?.annotations?.[LAUNCHER_STAMP];
}

function mutate(input: PolicyInput): ModuleResult {
  const pod = input.object;
  if (!isPodReview(input) || input.request.operation !== 'CREATE' || !pod) return EMPTY;
  const uid = verifiedVmiUid(input, pod);
  if (uid === undefined || stampOf(pod) === uid) return EMPTY;
  const patch: PatchOp[] = pod.metadata?.annotations
    ? [{ op: 'add', path: STAMP_PATH, value: uid }]
    : [{ op: 'add', path: '/metadata/annotations', value: { [LAUNCHER_STAMP]: uid } }];
  return { patch, annotation: `stamped as the virt-launcher pod of VMI uid ${uid}` };
}

function validate(input: PolicyInput): ModuleResult {
  const pod = input.object;
  const operation = input.request.operation;
  if (!isPodReview(input) || !pod || (operation !== 'CREATE' && operation !== 'UPDATE')) return EMPTY;
  const stamp = stampOf(pod);
  if (stamp === undefined) return EMPTY;
  const path = `metadata.annotations["${LAUNCHER_STAMP}"]`;
  if (operation === 'UPDATE') {
    const before = stampOf(input.oldObject);
    if (before === stamp) return EMPTY;
    return { findings: [{ mode: 'enforce', rule: 'launcher stamp', message: `${path}: set by tenantguard only when KubeVirt creates the pod; it cannot be added or changed` }] };
  }
  if (verifiedVmiUid(input, pod) === stamp) return EMPTY;
  return {
    findings: [{ mode: 'enforce', rule: 'launcher stamp', message: `${path}: only KubeVirt's own virt-launcher pods of VMI uid ${JSON.stringify(stamp)} carry it` }],
  };
}

export const launcherStampMutate: PolicyModule = { name: `${LAUNCHER_STAMP_MODULE}-mutate`, type: 'mutate', evaluate: mutate };
export const launcherStampValidate: PolicyModule = { name: LAUNCHER_STAMP_MODULE, type: 'validate', evaluate: validate };
