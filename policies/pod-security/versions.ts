// Pod Security Standards policy versions: parsing the `latest` / `v1.x` pins PSA accepts, and the
// record of which policy version changed which control (the README's version table is this list;
// a test keeps it in step with the checks' revisions).
//
// The checks mirror Kubernetes' pod-security-admission as of release 1.37 (its newest revision,
// check_sysctls.go, is at v1.37; nothing changed at v1.36), so `latest` evaluates as v1.37 and a
// pin above it (v1.40) evaluates as latest, exactly as PSA takes each check's newest revision at
// or below the pin. test/fixtures/pod-security/reference/versions.yaml records the reference.

export interface PolicyVersion {
  /** Minor of v1.x; Infinity for `latest`. */
  minor: number;
  /** As written: `latest` or `v1.x`, for messages. */
  text: string;
}

export const LATEST: PolicyVersion = Object.freeze({ minor: Number.POSITIVE_INFINITY, text: 'latest' });

const VERSION = /^v1\.(0|[1-9][0-9]*)$/;

/** PSA's api.ParseVersion: `latest` or `v1.x`; anything else is undefined (PSA then uses latest). */
export function parsePolicyVersion(text: string): PolicyVersion | undefined {
  if (text === 'latest') return LATEST;
  const match = VERSION.exec(text);
  if (!match) return undefined;
  return { minor: Number(match[1]), text };
}

export interface VersionChange {
  /** First policy version with the change. */
  version: string;
  control: string;
  level: 'baseline' | 'restricted';
  change: string;
}

/** Every versioned revision of a check after v1.0, oldest first. */
export const VERSION_HISTORY: readonly VersionChange[] = [
  { version: 'v1.8', control: 'Privilege Escalation', level: 'restricted', change: 'allowPrivilegeEscalation must be false (the field exists from 1.8)' },
  { version: 'v1.19', control: 'Seccomp', level: 'baseline', change: 'the securityContext.seccompProfile field is judged instead of the alpha seccomp annotations' },
  { version: 'v1.19', control: 'Seccomp', level: 'restricted', change: 'RuntimeDefault or Localhost required at pod level or on every container' },
  { version: 'v1.22', control: 'Capabilities', level: 'restricted', change: 'drop ALL required; only NET_BIND_SERVICE may be added' },
  { version: 'v1.23', control: 'Running as Non-root user', level: 'restricted', change: 'runAsUser must not be 0' },
  { version: 'v1.25', control: 'Privilege Escalation', level: 'restricted', change: 'not required of Windows pods (spec.os.name windows)' },
  { version: 'v1.25', control: 'Capabilities', level: 'restricted', change: 'not required of Windows pods' },
  { version: 'v1.25', control: 'Seccomp', level: 'restricted', change: 'not required of Windows pods' },
  { version: 'v1.27', control: 'Sysctls', level: 'baseline', change: 'net.ipv4.ip_local_reserved_ports allowed' },
  { version: 'v1.29', control: 'Sysctls', level: 'baseline', change: 'net.ipv4.tcp_keepalive_time, tcp_fin_timeout, tcp_keepalive_intvl, tcp_keepalive_probes allowed' },
  { version: 'v1.31', control: 'SELinux', level: 'baseline', change: 'type container_engine_t allowed' },
  { version: 'v1.32', control: 'Sysctls', level: 'baseline', change: 'net.ipv4.tcp_rmem and net.ipv4.tcp_wmem allowed' },
  { version: 'v1.34', control: 'Host Probes / Lifecycle Hooks', level: 'baseline', change: 'probes and lifecycle handlers must not set httpGet.host or tcpSocket.host' },
  { version: 'v1.35', control: '/proc Mount Type', level: 'baseline', change: 'any procMount allowed for pods with hostUsers: false' },
  { version: 'v1.35', control: '/proc Mount Type', level: 'restricted', change: 'only Default, also with hostUsers: false' },
  { version: 'v1.35', control: 'Running as Non-root', level: 'restricted', change: 'not required of pods with hostUsers: false' },
  { version: 'v1.35', control: 'Running as Non-root user', level: 'restricted', change: 'not required of pods with hostUsers: false' },
  { version: 'v1.37', control: 'Sysctls', level: 'baseline', change: 'net.ipv4.tcp_slow_start_after_idle and net.ipv4.tcp_notsent_lowat allowed' },
];
