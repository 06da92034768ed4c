// The level and version each mode (enforce, warn, audit) applies, as PSA's PolicyToEvaluate
// resolves them: the namespace's pod-security.kubernetes.io labels where present, the defaults
// elsewhere. tenantguard's defaults are the tenant's podSecurity setting for its one mode and
// privileged (no check) for the others, so a namespace without PSA labels gets exactly the
// tenant's policy, and one with labels gets what its labels say — except that a label never
// relaxes the level a Tenant sets for the same mode: whoever can label a namespace must not be
// able to opt out of the platform team's policy.
import type { KubeObject, Mode, PodSecurityLevel, TenantSpec } from '../types.js';
import { LATEST, parsePolicyVersion, type PolicyVersion } from './versions.js';

export interface LevelVersion {
  level: PodSecurityLevel;
  version: PolicyVersion;
}

export type PodSecurityPolicy = Record<Mode, LevelVersion> & {
  /** Invalid labels or tenant settings, in PSA's field-error wording. */
  errors: string[] | undefined;
};

const PRIVILEGED: LevelVersion = Object.freeze({ level: 'privileged', version: LATEST });
const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];
const LEVEL_RANK: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };
const LABEL_PREFIX = 'pod-security.kubernetes.io/';
const LEVELS = 'privileged, baseline, restricted';

function isLevel(value: unknown): value is PodSecurityLevel {
  return value === 'privileged' || value === 'baseline' || value === 'restricted';
}

export function formatLevelVersion({ level, version }: LevelVersion): string {
  return `${level}:${version.text}`;
}

/** True when some mode checks anything. */
export function checksAnything(policy: PodSecurityPolicy): boolean {
  return policy.enforce.level !== 'privileged' || policy.warn.level !== 'privileged' || policy.audit.level !== 'privileged';
}

// An unparseable level fails closed for enforce (restricted) and open for warn and audit
// (privileged); an unparseable version means latest. Both as PSA's PolicyToEvaluate does.
function levelOrFallback(mode: Mode, value: unknown): PodSecurityLevel {
  if (isLevel(value)) return value;
  return mode === 'enforce' ? 'restricted' : 'privileged';
}

export function policyFor(tenant: TenantSpec['podSecurity'], namespace: KubeObject | undefined): PodSecurityPolicy {
  const policy: PodSecurityPolicy = { enforce: PRIVILEGED, warn: PRIVILEGED, audit: PRIVILEGED, errors: undefined };
  if (tenant) {
    const mode: Mode = MODES.includes(tenant.mode) ? tenant.mode : 'enforce';
    if (mode !== tenant.mode) (policy.errors ??= []).push(`tenant podSecurity.mode: Invalid value: ${JSON.stringify(tenant.mode)}: must be one of enforce, warn, audit`);
    if (!isLevel(tenant.level)) (policy.errors ??= []).push(`tenant podSecurity.level: Invalid value: ${JSON.stringify(tenant.level)}: must be one of ${LEVELS}`);
    let version = LATEST;
    if (tenant.version !== undefined) {
      const parsed = parsePolicyVersion(tenant.version);
      if (parsed) version = parsed;
      else (policy.errors ??= []).push(`tenant podSecurity.version: Invalid value: ${JSON.stringify(tenant.version)}: must be "latest" or "v1.x"`);
    }
    policy[mode] = { level: levelOrFallback(mode, tenant.level), version };
  }
  const labels = namespace?.metadata?.labels;
  if (labels) {
    for (const mode of MODES) {
      const levelKey = LABEL_PREFIX + mode;
      const versionKey = `${levelKey}-version`;
      const levelLabel = labels[levelKey];
      const versionLabel = labels[versionKey];
      if (levelLabel === undefined && versionLabel === undefined) continue;
      let { level, version } = policy[mode];
      if (levelLabel !== undefined) {
        level = levelOrFallback(mode, levelLabel);
        if (!isLevel(levelLabel)) {
          (policy.errors ??= []).push(`metadata.labels[${levelKey}]: Invalid value: ${JSON.stringify(levelLabel)}: must be one of ${LEVELS}`);
        }
      }
      if (versionLabel !== undefined) {
        const parsed = parsePolicyVersion(versionLabel);
        version = parsed ?? LATEST;
        if (!parsed) {
          (policy.errors ??= []).push(`metadata.labels[${versionKey}]: Invalid value: ${JSON.stringify(versionLabel)}: must be "latest" or "v1.x"`);
        }
      }
      if (LEVEL_RANK[level] >= LEVEL_RANK[policy[mode].level]) policy[mode] = { level, version };
    }
  }
  return policy;
}
