// pod-security (validate, SPEC 6.1): the Pod Security Standards at the level and mode the tenant or
// the namespace's PSA labels ask for, with PSA's request handling: Pods are enforced on CREATE and
// on significant UPDATEs (and the ephemeralcontainers subresource), pod templates of controllers
// only warn and audit, genuine virt-launcher pods are exempt.
import type { Finding, Mode, ModuleResult, PolicyInput, PolicyModule } from '../types.js';
import { virtLauncherAnnotation, virtLauncherVmiOf } from '../kube/virt-launcher.js';
import { podContext, type PodContext } from './controls/context.js';
import { type ControlViolation, evaluatePod } from './evaluator.js';
import { checks, checksAnything, formatLevelVersions, type LevelVersion, policyFor, type PodSecurityPolicy } from './levels.js';
import { isPodKind, podTargetOf } from './pod-spec.js';
import { isSignificantPodUpdate } from './updates.js';

// PSA's ignoredPodSubresources: these never change the pod spec. Any other pod subresource
// (ephemeralcontainers, resize, one added later) is evaluated, so an unknown one fails safe.
const IGNORED_POD_SUBRESOURCES: ReadonlySet<string> = new Set([
  'exec', 'attach', 'binding', 'eviction', 'log', 'portforward', 'proxy', 'status',
]);

const NOTHING: ModuleResult = Object.freeze({});
const NO_VIOLATIONS: readonly ControlViolation[] = Object.freeze([]);

function message(v: ControlViolation): string {
  return `${v.control}: ${v.reason} (${v.detail})`;
}

/** Evaluates each distinct level:version once per request (modes often share one). */
class Evaluations {
  private cached: Array<{ lv: LevelVersion; result: readonly ControlViolation[] }> = [];
  constructor(private readonly pod: PodContext) {}

  /** Every violation of any of the level:versions, a message the second repeats given once. */
  of(lvs: readonly LevelVersion[]): readonly ControlViolation[] {
    const first = this.one(lvs[0]!);
    if (lvs.length === 1) return first;
    const seen = new Set(first.map(message));
    const out = [...first];
    for (const v of this.one(lvs[1]!)) if (!seen.has(message(v))) out.push(v);
    return out;
  }

  private one(lv: LevelVersion): readonly ControlViolation[] {
    if (lv.level === 'privileged') return NO_VIOLATIONS;
    for (const c of this.cached) {
      if (c.lv.level === lv.level && c.lv.version.minor === lv.version.minor) return c.result;
    }
    const result = evaluatePod(lv.level, lv.version.minor, this.pod);
    this.cached.push({ lv, result });
    return result;
  }
}

function annotationOf(policy: PodSecurityPolicy, findings: readonly Finding[]): string | undefined {
  const parts: string[] = [];
  if (findings.length > 0) {
    for (const mode of ['enforce', 'warn', 'audit'] as const) {
      if (checks(policy[mode])) parts.push(`${mode}=${formatLevelVersions(policy[mode])}`);
    }
  }
  if (policy.errors) parts.push(`invalid policy: ${policy.errors.join('; ')}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function evaluate({ request, object, oldObject, tenant, view, settings }: PolicyInput): ModuleResult {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return NOTHING;
  if (object == null) return NOTHING;
  const isPod = isPodKind(request.kind);
  const subresource = request.subResource ?? '';
  if (isPod ? IGNORED_POD_SUBRESOURCES.has(subresource) : subresource !== '') return NOTHING;
  const target = podTargetOf(request.kind, object);
  if (target === undefined) return NOTHING;

  const policy = policyFor(tenant.spec.podSecurity, request.namespace ? view.get('Namespace', undefined, request.namespace) : undefined);
  if (!checksAnything(policy)) return policy.errors ? { annotation: annotationOf(policy, []) } : NOTHING;

  if (isPod) {
    const vmi = virtLauncherVmiOf(request, object, view, settings);
    if (vmi !== undefined) return { annotation: virtLauncherAnnotation(vmi) };
    if (request.operation === 'UPDATE' && oldObject != null && !isSignificantPodUpdate(object, oldObject)) return NOTHING;
  }

  const evaluations = new Evaluations(podContext(target.meta, target.spec));
  const findings: Finding[] = [];
  const add = (mode: Mode, violations: readonly ControlViolation[]) => {
    for (const v of violations) findings.push({ mode, rule: v.control, message: message(v) });
  };
  if (isPod) {
    const enforced = evaluations.of(policy.enforce);
    add('enforce', enforced);
    // PSA adds no warnings to a request it already rejects.
    if (enforced.length === 0) add('warn', evaluations.of(policy.warn));
  } else {
    // Templates are never enforced (PSA); the enforce level still warns, so the user learns that
    // the pods this template makes would be rejected. A message both levels produce is given once.
    add('warn', evaluations.of(policy.enforce));
    for (const v of evaluations.of(policy.warn)) {
      const text = message(v);
      if (!findings.some((f) => f.message === text)) findings.push({ mode: 'warn', rule: v.control, message: text });
    }
  }
  add('audit', evaluations.of(policy.audit));
  if (findings.length === 0 && !policy.errors) return NOTHING;
  const annotation = annotationOf(policy, findings);
  return annotation === undefined ? { findings } : { findings, annotation };
}

export const podSecurityModule: PolicyModule = { name: 'pod-security', type: 'validate', evaluate };
