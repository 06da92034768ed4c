// The launcher stamp (SPEC 6.4 "Trust": a pod is absorbed as a virt-launcher pod only as decided at
// its CREATE, whatever it is later relabelled or adopted into). At the CREATE of a pod that shows all
// four signs (policies/virt-launcher.ts: the label, one controller reference to a VMI that exists
// with that uid, and KubeVirt's controller as the requester) the mutating side stamps it with
// tenantguard.io/launcher-of=<VMI uid> (creation-stamp.ts). Quota trusts, for every pod that already
// exists, only that stamp plus a VMI with the stamped uid (policies/quota/launcher-pods.ts).
//
// Why a tenant cannot forge it: every pod CREATE and UPDATE in a tenant namespace passes these
// webhooks (failurePolicy Fail), and the validating side denies a forged or changed stamp. The
// webhooks skip kubelets (matchConditions), whose pod writes NodeRestriction limits to status and
// mirror pods owned by their Node. What remains outside: a pod created where the webhooks did
// not run (a namespace before a Tenant claimed it, or while tenantguard was uninstalled, or by an
// exempt user), which could carry a stamp nobody checked. Such a stamp still absorbs the pod only
// while a VMI with that uid exists and is named as the pod's controller; the README says to audit
// namespaces a Tenant takes over.
import { stampModules } from './creation-stamp.js';
import { LAUNCHER_STAMP, virtLauncherVmiOf } from './virt-launcher.js';

export const LAUNCHER_STAMP_MODULE = 'launcher-stamp';

const modules = stampModules({
  name: LAUNCHER_STAMP_MODULE,
  annotation: LAUNCHER_STAMP,
  group: '',
  kind: 'Pod',
  verifiedOwnerUid(input, pod) {
    const name = virtLauncherVmiOf(input.request, pod, input.view, input.settings);
    if (name === undefined) return undefined;
    const namespace = input.request.namespace ?? pod.metadata?.namespace ?? '';
    return input.view.get('VirtualMachineInstance', namespace, name)?.metadata?.uid;
  },
  stamped: (uid) => `stamped as the virt-launcher pod of VMI uid ${uid}`,
  onlyFor: "only KubeVirt's own virt-launcher pods of VMI uid",
  setWhen: 'when KubeVirt creates the pod',
});

export const launcherStampMutate = modules.mutate;
export const launcherStampValidate = modules.validate;
