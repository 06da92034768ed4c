// The restricted Pod Security Standards controls, mirroring Kubernetes'
// staging/src/k8s.io/pod-security-admission/policy/check_*.go. Restricted is every baseline check
// except the ones a restricted revision overrides at that version, plus these.
import type { V1Volume } from '@kubernetes/client-node';
import { explicitBadSeccomp, procMountDefaultOnly } from './baseline.js';
import {
  type Check,
  type CheckFn,
  containersPhrase,
  joinQuote,
  NONE,
  pluralize,
  sortedSet,
} from './context.js';

// Windows pods: API validation forbids these Linux-only fields there, so from policy v1.25 PSA
// admits a Windows pod without them.
function linuxOnly(check: CheckFn): CheckFn {
  return (pod) => (pod.windows ? undefined : check(pod));
}

// From policy v1.35 PSA skips the root-user checks for pods in a user namespace (KEP-127).
function exceptUserNamespace(check: CheckFn): CheckFn {
  return (pod) => (pod.userNamespace ? undefined : check(pod));
}

// check_allowPrivilegeEscalation.go
const allowPrivilegeEscalation: CheckFn = ({ containers }) => {
  let bad: string[] | undefined;
  for (const c of containers) if (c.securityContext?.allowPrivilegeEscalation !== false) (bad ??= []).push(c.name);
  if (!bad) return undefined;
  return {
    reason: 'allowPrivilegeEscalation != false',
    detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
  };
};

// check_capabilities_restricted.go
const capabilitiesRestricted: CheckFn = ({ containers }) => {
  let missingDropAll: string[] | undefined;
  let addingForbidden: string[] | undefined;
  let forbidden: string[] | undefined;
  for (const c of containers) {
    const caps = c.securityContext?.capabilities;
    if (caps == null) {
      (missingDropAll ??= []).push(c.name);
      continue;
    }
    const drop: readonly string[] = caps.drop ?? NONE;
    if (!drop.includes('ALL')) (missingDropAll ??= []).push(c.name);
    let added = false;
    for (const cap of caps.add ?? NONE) {
      if (cap !== 'NET_BIND_SERVICE') {
        added = true;
        (forbidden ??= []).push(cap);
      }
    }
    if (added) (addingForbidden ??= []).push(c.name);
  }
  if (!missingDropAll && !addingForbidden) return undefined;
  const details: string[] = [];
  if (missingDropAll) details.push(`${containersPhrase(missingDropAll)} must set securityContext.capabilities.drop=["ALL"]`);
  if (addingForbidden) {
    details.push(`${containersPhrase(addingForbidden)} must not include ${joinQuote(sortedSet(forbidden!))} in securityContext.capabilities.add`);
  }
  return { reason: 'unrestricted capabilities', detail: details.join('; ') };
};

// check_restrictedVolumes.go: the allowed inline volume sources, then the restricted ones in the
// order PSA names them.
const ALLOWED_VOLUME_SOURCES: readonly (keyof V1Volume)[] = [
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret',
];
const RESTRICTED_VOLUME_SOURCES: readonly (keyof V1Volume)[] = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'nfs', 'iscsi', 'glusterfs', 'rbd', 'flexVolume',
  'cinder', 'cephfs', 'flocker', 'fc', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk',
  'portworxVolume', 'scaleIO', 'storageos',
];

function restrictedSourceOf(volume: V1Volume): string | undefined {
  for (const source of ALLOWED_VOLUME_SOURCES) if (volume[source] != null) return undefined;
  for (const source of RESTRICTED_VOLUME_SOURCES) if (volume[source] != null) return source;
  return 'unknown';
}

const restrictedVolumes: CheckFn = ({ spec }) => {
  let bad: string[] | undefined;
  let types: string[] | undefined;
  for (const v of spec.volumes ?? NONE) {
    const source = restrictedSourceOf(v);
    if (source !== undefined) {
      (bad ??= []).push(v.name);
      (types ??= []).push(source);
    }
  }
  if (!bad) return undefined;
  const distinct = sortedSet(types!);
  return {
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', distinct.length)} ${joinQuote(distinct)}`,
  };
};

// check_runAsNonRoot.go: true at pod level covers containers that leave it unset.
const runAsNonRoot: CheckFn = ({ spec, containers }) => {
  let setters: string[] | undefined;
  let podNonRoot = false;
  const podValue = spec.securityContext?.runAsNonRoot;
  if (podValue != null) {
    if (podValue === false) setters = ['pod'];
    else podNonRoot = true;
  }
  let explicitlyBad: string[] | undefined;
  let implicitlyBad: string[] | undefined;
  for (const c of containers) {
    const value = c.securityContext?.runAsNonRoot;
    if (value != null) {
      if (value === false) (explicitlyBad ??= []).push(c.name);
    } else if (!podNonRoot) {
      (implicitlyBad ??= []).push(c.name);
    }
  }
  if (explicitlyBad) (setters ??= []).push(containersPhrase(explicitlyBad));
  if (setters) {
    return { reason: 'runAsNonRoot != true', detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  }
  if (implicitlyBad) {
    return { reason: 'runAsNonRoot != true', detail: `pod or ${containersPhrase(implicitlyBad)} must set securityContext.runAsNonRoot=true` };
  }
  return undefined;
};

// check_runAsUser.go: only an explicit 0 is forbidden.
const runAsUser: CheckFn = ({ spec, containers }) => {
  let setters: string[] | undefined;
  if (spec.securityContext?.runAsUser === 0) setters = ['pod'];
  let bad: string[] | undefined;
  for (const c of containers) if (c.securityContext?.runAsUser === 0) (bad ??= []).push(c.name);
  if (bad) (setters ??= []).push(containersPhrase(bad));
  if (!setters) return undefined;
  return { reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` };
};

// check_seccompProfile_restricted.go: a valid pod-level type covers containers that leave it unset.
const seccompRestricted: CheckFn = (pod) => {
  const explicit = explicitBadSeccomp(pod);
  if (explicit) return explicit;
  const podProfile = pod.spec.securityContext?.seccompProfile;
  if (podProfile != null) return undefined; // valid, or explicitBadSeccomp would have reported it
  let implicitlyBad: string[] | undefined;
  for (const c of pod.containers) if (c.securityContext?.seccompProfile == null) (implicitlyBad ??= []).push(c.name);
  if (!implicitlyBad) return undefined;
  return {
    reason: 'seccompProfile',
    detail: `pod or ${containersPhrase(implicitlyBad)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
  };
};

export const RESTRICTED_CHECKS: readonly Check[] = [
  {
    id: 'allowPrivilegeEscalation',
    control: 'Privilege Escalation',
    level: 'restricted',
    versions: [
      { minVersion: 8, check: allowPrivilegeEscalation },
      { minVersion: 25, check: linuxOnly(allowPrivilegeEscalation) },
    ],
  },
  {
    id: 'capabilities_restricted',
    control: 'Capabilities',
    level: 'restricted',
    versions: [
      { minVersion: 22, check: capabilitiesRestricted, overrides: ['capabilities_baseline'] },
      { minVersion: 25, check: linuxOnly(capabilitiesRestricted), overrides: ['capabilities_baseline'] },
    ],
  },
  {
    id: 'procMount_restricted',
    control: '/proc Mount Type',
    level: 'restricted',
    versions: [{ minVersion: 35, check: procMountDefaultOnly, overrides: ['procMount'] }],
  },
  {
    id: 'restrictedVolumes',
    control: 'Volume Types',
    level: 'restricted',
    versions: [{ minVersion: 0, check: restrictedVolumes, overrides: ['hostPathVolumes'] }],
  },
  {
    id: 'runAsNonRoot',
    control: 'Running as Non-root',
    level: 'restricted',
    versions: [
      { minVersion: 0, check: runAsNonRoot },
      { minVersion: 35, check: exceptUserNamespace(runAsNonRoot) },
    ],
  },
  {
    id: 'runAsUser',
    control: 'Running as Non-root user',
    level: 'restricted',
    versions: [
      { minVersion: 23, check: runAsUser },
      { minVersion: 35, check: exceptUserNamespace(runAsUser) },
    ],
  },
  {
    id: 'seccompProfile_restricted',
    control: 'Seccomp',
    level: 'restricted',
    versions: [
      { minVersion: 19, check: seccompRestricted, overrides: ['seccompProfile_baseline'] },
      { minVersion: 25, check: linuxOnly(seccompRestricted), overrides: ['seccompProfile_baseline'] },
    ],
  },
];
