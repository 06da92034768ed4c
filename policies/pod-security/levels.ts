// The levels and versions each mode (enforce, warn, audit) applies, as PSA's PolicyToEvaluate
// resolves them: the namespace's pod-security.kubernetes.io labels where present, the defaults
// elsewhere. tenantguard's defaults are the tenant's podSecurity setting for its one mode and
// privileged (no check) for the others, so a namespace without PSA labels gets exactly the
// tenant's policy, and one with labels gets what its labels say — except that a label never
// relaxes what a Tenant sets for the same mode, neither the level nor the version: whoever can
// label a namespace must not be able to opt out of the platform team's policy. So where a label
// names another version than the Tenant, both level:versions are in force and a pod must pass
// each: an older version checks less (restricted v1.0 has no allowPrivilegeEscalation, seccomp or
// capabilities rule), but a newer one is not simply stricter either (v1.37 allows sysctls v1.36
// forbids), so neither can stand in for the other.
import type { KubeObject, Mode, PodSecurityLevel, TenantSpec } from '../types.js';
import { MAX_POLICY_VERSION } from './evaluator.js';
import { LATEST, parsePolicyVersion, type PolicyVersion } from './versions.js';

export interface LevelVersion {
  level: PodSecurityLevel;
  version: PolicyVersion;
}

/** Per mode, every level:version a pod must pass (one, or the Tenant's and a label's). */
export type PodSecurityPolicy = Record<Mode, readonly LevelVersion[]> & {
  /** Invalid labels or tenant settings, in PSA's field-error wording. */
  errors: string[] | undefined;
};

const PRIVILEGED: readonly LevelVersion[] = Object.freeze([Object.freeze({ level: 'privileged', version: LATEST })]) as readonly LevelVersion[];
const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];
const LEVEL_RANK: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };
const LABEL_PREFIX = 'pod-security.kubernetes.io/';
const LEVELS = 'privileged, baseline, restricted';

function isLevel(value: unknown): value is PodSecurityLevel {
  return value === 'privileged' || value === 'baseline' || value === 'restricted';
}

/** `restricted:latest`, or `restricted:latest+restricted:v1.0` when both are in force. */
export function formatLevelVersions(lvs: readonly LevelVersion[]): string {
  return lvs.map(({ level, version }) => `${level}:${version.text}`).join('+');
}

/** True when the mode checks anything. */
export function checks(lvs: readonly LevelVersion[]): boolean {
  return lvs.some((lv) => lv.level !== 'privileged');
}

/** True when some mode checks anything. */
export function checksAnything(policy: PodSecurityPolicy): boolean {
  return checks(policy.enforce) || checks(policy.warn) || checks(policy.audit);
}

/** The version checks are evaluated at: pins past the newest PSA version are latest. */
function effectiveMinor(version: PolicyVersion): number {
  return Math.min(version.minor, MAX_POLICY_VERSION);
}

/**
 * What a mode enforces given the Tenant's setting and a label's. At one version the higher level
 * includes the lower (restricted keeps every baseline check or a stricter revision of it), so it
 * alone is enough; at different versions each checks something the other does not.
 */
function withLabel(tenant: LevelVersion, label: LevelVersion): readonly LevelVersion[] {
  if (tenant.level === 'privileged') return [label];
  if (label.level === 'privileged') return [tenant];
  if (effectiveMinor(label.version) === effectiveMinor(tenant.version)) {
    return [LEVEL_RANK[label.level] > LEVEL_RANK[tenant.level] ? label : tenant];
  }
  return [tenant, label];
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
    policy[mode] = [{ level: levelOrFallback(mode, tenant.level), version }];
  }
  const labels = namespace?.metadata?.labels;
  if (labels) {
    for (const mode of MODES) {
      const levelKey = LABEL_PREFIX + mode;
      const versionKey = `${levelKey}-version`;
      const levelLabel = labels[levelKey];
      const versionLabel = labels[versionKey];
      if (levelLabel === undefined && versionLabel === undefined) continue;
      const tenantSetting = policy[mode][0]!;
      let { level, version } = tenantSetting;
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
      policy[mode] = withLabel(tenantSetting, { level, version });
    }
  }
  return policy;
}
