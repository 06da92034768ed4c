// The baseline Pod Security Standards controls, mirroring Kubernetes'
// staging/src/k8s.io/pod-security-admission/policy/check_*.go: same fields, same pod/container
// fallbacks, same version revisions, same reason and detail text.
import type { V1LifecycleHandler, V1Probe, V1SELinuxOptions } from '@kubernetes/client-node';
import {
  type Check,
  type CheckFn,
  containersPhrase,
  goQuote,
  joinQuote,
  NONE,
  pluralize,
  type PodContext,
  sortedSet,
  type Violation,
} from './context.js';

// check_appArmorProfile.go (one revision at v1.0; the field check was patched into it in 1.30).
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

function allowedAppArmorType(type: string | undefined): boolean {
  return type === 'RuntimeDefault' || type === 'Localhost';
}

function allowedAppArmorAnnotation(value: string): boolean {
  return value === '' || value === 'runtime/default' || value.startsWith('localhost/');
}

const appArmor: CheckFn = ({ meta, spec, containers }) => {
  let setters: string[] | undefined;
  let badValues: string[] | undefined;
  const podProfile = spec.securityContext?.appArmorProfile;
  if (podProfile != null && !allowedAppArmorType(podProfile.type)) {
    (setters ??= []).push('pod');
    (badValues ??= []).push(podProfile.type);
  }
  let badContainers: string[] | undefined;
  for (const c of containers) {
    const profile = c.securityContext?.appArmorProfile;
    if (profile != null && !allowedAppArmorType(profile.type)) {
      (badContainers ??= []).push(c.name);
      (badValues ??= []).push(profile.type);
    }
  }
  if (badContainers) (setters ??= []).push(containersPhrase(badContainers));
  let annotations: string[] | undefined;
  const all = meta.annotations;
  if (all) {
    for (const key in all) {
      if (key.startsWith(APPARMOR_ANNOTATION_PREFIX) && !allowedAppArmorAnnotation(all[key]!)) {
        (annotations ??= []).push(`${key}=${goQuote(all[key]!)}`);
      }
    }
  }
  if (!setters && !annotations) return undefined;
  const values = badValues ? sortedSet(badValues) : [];
  if (annotations) {
    values.push(...annotations.sort());
    (setters ??= []).push(pluralize('annotation', 'annotations', annotations.length));
  }
  return {
    reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', values.length),
    detail: `${setters!.join(' and ')} must not set AppArmor profile type to ${joinQuote(values)}`,
  };
};

// check_capabilities_baseline.go
const BASELINE_CAPABILITIES: ReadonlySet<string> = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD',
  'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);

const capabilitiesBaseline: CheckFn = ({ containers }) => {
  let badContainers: string[] | undefined;
  let forbidden: string[] | undefined;
  for (const c of containers) {
    let valid = true;
    for (const cap of c.securityContext?.capabilities?.add ?? NONE) {
      if (!BASELINE_CAPABILITIES.has(cap)) {
        valid = false;
        (forbidden ??= []).push(cap);
      }
    }
    if (!valid) (badContainers ??= []).push(c.name);
  }
  if (!badContainers) return undefined;
  return {
    reason: 'non-default capabilities',
    detail: `${containersPhrase(badContainers)} must not include ${joinQuote(sortedSet(forbidden!))} in securityContext.capabilities.add`,
  };
};

// check_hostNamespaces.go
const hostNamespaces: CheckFn = ({ spec }) => {
  if (spec.hostNetwork !== true && spec.hostPID !== true && spec.hostIPC !== true) return undefined;
  const used: string[] = [];
  // Sorted, as PSA's sets.List() returns them.
  if (spec.hostIPC === true) used.push('hostIPC');
  if (spec.hostNetwork === true) used.push('hostNetwork');
  if (spec.hostPID === true) used.push('hostPID');
  return { reason: 'host namespaces', detail: used.join(', ') };
};

// check_hostPathVolumes.go
const hostPathVolumes: CheckFn = ({ spec }) => {
  let bad: string[] | undefined;
  for (const v of spec.volumes ?? NONE) if (v.hostPath != null) (bad ??= []).push(v.name);
  if (!bad) return undefined;
  return { reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)}` };
};

// check_hostPorts.go
const hostPorts: CheckFn = ({ containers }) => {
  let badContainers: string[] | undefined;
  let ports: string[] | undefined;
  for (const c of containers) {
    let valid = true;
    for (const p of c.ports ?? NONE) {
      if (p.hostPort != null && p.hostPort !== 0) {
        valid = false;
        (ports ??= []).push(String(p.hostPort));
      }
    }
    if (!valid) (badContainers ??= []).push(c.name);
  }
  if (!badContainers) return undefined;
  const distinct = sortedSet(ports!);
  return {
    reason: 'hostPort',
    detail: `${containersPhrase(badContainers)} ${pluralize('uses', 'use', badContainers.length)} ${pluralize('hostPort', 'hostPorts', distinct.length)} ${distinct.join(', ')}`,
  };
};

// check_hostProbesAndhostLifecycle.go (v1.34+)
function addHosts(handler: V1Probe | V1LifecycleHandler | null | undefined, hosts: string[] | undefined): string[] | undefined {
  if (handler == null) return hosts;
  const httpHost = handler.httpGet?.host;
  if (httpHost) (hosts ??= []).push(httpHost);
  const tcpHost = handler.tcpSocket?.host;
  if (tcpHost) (hosts ??= []).push(tcpHost);
  return hosts;
}

const hostProbesAndLifecycle: CheckFn = ({ containers }) => {
  let badContainers: string[] | undefined;
  let hosts: string[] | undefined;
  for (const c of containers) {
    const before = hosts?.length ?? 0;
    hosts = addHosts(c.livenessProbe, hosts);
    hosts = addHosts(c.readinessProbe, hosts);
    hosts = addHosts(c.startupProbe, hosts);
    hosts = addHosts(c.lifecycle?.postStart, hosts);
    hosts = addHosts(c.lifecycle?.preStop, hosts);
    if ((hosts?.length ?? 0) > before) (badContainers ??= []).push(c.name);
  }
  if (!badContainers) return undefined;
  const names = sortedSet(badContainers);
  const distinct = sortedSet(hosts!);
  return {
    reason: 'probe or lifecycle host',
    detail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('probe or lifecycle host', 'probe or lifecycle hosts', distinct.length)} ${joinQuote(distinct)}`,
  };
};

// check_privileged.go
const privileged: CheckFn = ({ containers }) => {
  let bad: string[] | undefined;
  for (const c of containers) if (c.securityContext?.privileged === true) (bad ??= []).push(c.name);
  if (!bad) return undefined;
  return { reason: 'privileged', detail: `${containersPhrase(bad)} must not set securityContext.privileged=true` };
};

// check_procMount_baseline.go / check_procMount_restricted.go
export const procMountDefaultOnly: CheckFn = ({ containers }) => {
  let bad: string[] | undefined;
  let types: string[] | undefined;
  for (const c of containers) {
    const procMount = c.securityContext?.procMount;
    if (procMount != null && procMount !== 'Default') {
      (bad ??= []).push(c.name);
      (types ??= []).push(procMount);
    }
  }
  if (!bad) return undefined;
  return {
    reason: 'procMount',
    detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedSet(types!))}`,
  };
};

const procMountUserNamespaceRelaxed: CheckFn = (pod) => (pod.userNamespace ? undefined : procMountDefaultOnly(pod));

// check_seLinuxOptions.go
const SELINUX_TYPES_1_0: ReadonlySet<string> = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t']);
const SELINUX_TYPES_1_31: ReadonlySet<string> = new Set([...SELINUX_TYPES_1_0, 'container_engine_t']);

function hasSELinuxOptions({ spec, containers }: PodContext): boolean {
  if (spec.securityContext?.seLinuxOptions != null) return true;
  for (const c of containers) if (c.securityContext?.seLinuxOptions != null) return true;
  return false;
}

function seLinuxOptions(allowedTypes: ReadonlySet<string>): CheckFn {
  return (pod) => {
    if (!hasSELinuxOptions(pod)) return undefined;
    let badTypes: string[] | undefined;
    let setUser = false;
    let setRole = false;
    const valid = (opts: V1SELinuxOptions): boolean => {
      let ok = true;
      const type = opts.type ?? '';
      if (!allowedTypes.has(type)) {
        ok = false;
        (badTypes ??= []).push(type);
      }
      if (opts.user) {
        ok = false;
        setUser = true;
      }
      if (opts.role) {
        ok = false;
        setRole = true;
      }
      return ok;
    };
    let setters: string[] | undefined;
    const podOpts = pod.spec.securityContext?.seLinuxOptions;
    if (podOpts != null && !valid(podOpts)) setters = ['pod'];
    let badContainers: string[] | undefined;
    for (const c of pod.containers) {
      const opts = c.securityContext?.seLinuxOptions;
      if (opts != null && !valid(opts)) (badContainers ??= []).push(c.name);
    }
    if (badContainers) (setters ??= []).push(containersPhrase(badContainers));
    if (!setters) return undefined;
    const problems: string[] = [];
    if (badTypes) {
      const types = sortedSet(badTypes);
      problems.push(`${pluralize('type', 'types', types.length)} ${joinQuote(types)}`);
    }
    if (setUser) problems.push('user may not be set');
    if (setRole) problems.push('role may not be set');
    return {
      reason: 'seLinuxOptions',
      detail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${problems.join('; ')}`,
    };
  };
}

// check_seccompProfile_baseline.go
export const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
export const SECCOMP_CONTAINER_ANNOTATION_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';

function validSeccompAnnotation(value: string): boolean {
  return value === 'runtime/default' || value === 'docker/default' || value.startsWith('localhost/');
}

export function validSeccompType(type: string | undefined): boolean {
  return type === 'RuntimeDefault' || type === 'Localhost';
}

/** Before v1.19 PSA judged the alpha seccomp annotations, not the field. */
const seccompAnnotations: CheckFn = ({ meta, containers }) => {
  const annotations = meta.annotations;
  if (!annotations) return undefined;
  let forbidden: string[] | undefined;
  const podValue = annotations[SECCOMP_POD_ANNOTATION];
  if (podValue !== undefined && !validSeccompAnnotation(podValue)) {
    (forbidden ??= []).push(`${SECCOMP_POD_ANNOTATION}=${goQuote(podValue)}`);
  }
  for (const c of containers) {
    const key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.name;
    const value = annotations[key];
    if (value !== undefined && !validSeccompAnnotation(value)) (forbidden ??= []).push(`${key}=${goQuote(value)}`);
  }
  if (!forbidden) return undefined;
  const list = sortedSet(forbidden);
  return {
    reason: 'seccompProfile',
    detail: `forbidden ${pluralize('annotation', 'annotations', list.length)} ${list.join(', ')}`,
  };
};

/** Pod or containers that explicitly set a seccomp type other than RuntimeDefault/Localhost. */
export function explicitBadSeccomp({ spec, containers }: PodContext): Violation | undefined {
  let setters: string[] | undefined;
  let badValues: string[] | undefined;
  const podProfile = spec.securityContext?.seccompProfile;
  if (podProfile != null && !validSeccompType(podProfile.type)) {
    setters = ['pod'];
    (badValues ??= []).push(podProfile.type);
  }
  let badContainers: string[] | undefined;
  for (const c of containers) {
    const profile = c.securityContext?.seccompProfile;
    if (profile != null && !validSeccompType(profile.type)) {
      (badContainers ??= []).push(c.name);
      (badValues ??= []).push(profile.type);
    }
  }
  if (badContainers) (setters ??= []).push(containersPhrase(badContainers));
  if (!setters) return undefined;
  return {
    reason: 'seccompProfile',
    detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedSet(badValues!))}`,
  };
}

// check_sysctls.go
const SYSCTLS_1_0: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
];
const SYSCTLS_1_27 = [...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports'];
const SYSCTLS_1_29 = [
  ...SYSCTLS_1_27,
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const SYSCTLS_1_32 = [...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];
const SYSCTLS_1_37 = [...SYSCTLS_1_32, 'net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_notsent_lowat'];

function sysctls(allowed: readonly string[]): CheckFn {
  const safe: ReadonlySet<string> = new Set(allowed);
  return ({ spec }) => {
    let forbidden: string[] | undefined;
    for (const s of spec.securityContext?.sysctls ?? NONE) if (!safe.has(s.name)) (forbidden ??= []).push(s.name);
    if (!forbidden) return undefined;
    return { reason: 'forbidden sysctls', detail: forbidden.join(', ') };
  };
}

// check_windowsHostProcess.go
const hostProcess: CheckFn = ({ spec, containers }) => {
  let bad: string[] | undefined;
  for (const c of containers) if (c.securityContext?.windowsOptions?.hostProcess === true) (bad ??= []).push(c.name);
  const podSets = spec.securityContext?.windowsOptions?.hostProcess === true;
  if (!podSets && !bad) return undefined;
  const setters: string[] = [];
  if (podSets) setters.push('pod');
  if (bad) setters.push(containersPhrase(bad));
  return {
    reason: 'hostProcess',
    detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true`,
  };
};

export const BASELINE_CHECKS: readonly Check[] = [
  { id: 'appArmorProfile', control: 'AppArmor', level: 'baseline', versions: [{ minVersion: 0, check: appArmor }] },
  {
    id: 'capabilities_baseline',
    control: 'Capabilities',
    level: 'baseline',
    versions: [{ minVersion: 0, check: capabilitiesBaseline }],
  },
  { id: 'hostNamespaces', control: 'Host Namespaces', level: 'baseline', versions: [{ minVersion: 0, check: hostNamespaces }] },
  { id: 'hostPathVolumes', control: 'HostPath Volumes', level: 'baseline', versions: [{ minVersion: 0, check: hostPathVolumes }] },
  { id: 'hostPorts', control: 'Host Ports', level: 'baseline', versions: [{ minVersion: 0, check: hostPorts }] },
  {
    id: 'hostProbesAndHostLifecycle',
    control: 'Host Probes / Lifecycle Hooks',
    level: 'baseline',
    versions: [{ minVersion: 34, check: hostProbesAndLifecycle }],
  },
  { id: 'privileged', control: 'Privileged Containers', level: 'baseline', versions: [{ minVersion: 0, check: privileged }] },
  {
    id: 'procMount',
    control: '/proc Mount Type',
    level: 'baseline',
    versions: [
      { minVersion: 0, check: procMountDefaultOnly },
      { minVersion: 35, check: procMountUserNamespaceRelaxed },
    ],
  },
  {
    id: 'seLinuxOptions',
    control: 'SELinux',
    level: 'baseline',
    versions: [
      { minVersion: 0, check: seLinuxOptions(SELINUX_TYPES_1_0) },
      { minVersion: 31, check: seLinuxOptions(SELINUX_TYPES_1_31) },
    ],
  },
  {
    id: 'seccompProfile_baseline',
    control: 'Seccomp',
    level: 'baseline',
    versions: [
      { minVersion: 0, check: seccompAnnotations },
      { minVersion: 19, check: explicitBadSeccomp },
    ],
  },
  {
    id: 'sysctls',
    control: 'Sysctls',
    level: 'baseline',
    versions: [
      { minVersion: 0, check: sysctls(SYSCTLS_1_0) },
      { minVersion: 27, check: sysctls(SYSCTLS_1_27) },
      { minVersion: 29, check: sysctls(SYSCTLS_1_29) },
      { minVersion: 32, check: sysctls(SYSCTLS_1_32) },
      { minVersion: 37, check: sysctls(SYSCTLS_1_37) },
    ],
  },
  { id: 'windowsHostProcess', control: 'HostProcess', level: 'baseline', versions: [{ minVersion: 0, check: hostProcess }] },
];
