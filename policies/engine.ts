// The engine: exemptions first, then mutators in order (each sees the previous patches), then
// validators on the final object, then the commit phase (quota reservations) when nothing denied.
// It turns findings into a decision by mode, applies each module's failure mode and time budget,
// and times and traces every module. Modules stay pure; the clock and the tracer live here.
// A review has one deadline below its webhook's timeoutSeconds (reviewDeadlineMs): each module's
// budget is its own timeoutMs or what is left of the deadline, whichever is less, so the modules'
// budgets never add up past the point where the apiserver stops waiting, and a slow module is
// answered by its own failure mode instead of the apiserver's timeout (SPEC 5).
import { context, trace, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import fjp from 'fast-json-patch';
import { confirmLauncherVmi } from './launcher-vmi-confirm.js';
import { isKubevirtInstallNamespace } from './kube/virt-launcher.js';
import type {
  AdmissionRequest,
  AdmissionStatus,
  ClusterView,
  FailureMode,
  Finding,
  KubeObject,
  ModuleResult,
  ModuleSettings,
  PatchOp,
  PolicyInput,
  PolicyModule,
  QuotaLedger,
} from './types.js';

export interface ModulePolicy {
  failureMode: FailureMode;
  /** Budget for evaluate plus commit; a module over it is handled by its failure mode. */
  timeoutMs: number;
  enabled: boolean;
}

export interface Exemptions {
  namespaces: string[];
  usernames: string[];
  groups: string[];
}

export type Phase = 'mutate' | 'validate' | 'both';

/** Per webhook, how long a whole review may take; below the webhook's timeoutSeconds. */
export interface ReviewDeadlines {
  mutate: number;
  validate: number;
}

export interface EngineConfig {
  exemptions: Exemptions;
  modules: Record<string, ModulePolicy>;
  settings: ModuleSettings;
  /** Absent: no review deadline, only the modules' own budgets (embedding tests, tools). */
  reviewDeadlineMs?: ReviewDeadlines;
}

/** `both` (replay) stands for the apiserver's two calls, each with its own deadline. */
function deadlineMsOf(deadlines: ReviewDeadlines | undefined, phase: Phase): number {
  if (deadlines === undefined) return Infinity;
  if (phase === 'both') return deadlines.mutate + deadlines.validate;
  return deadlines[phase];
}

/** What happened in one module, for logs, metrics and replay output. */
export interface ModuleOutcome {
  module: string;
  result: 'allow' | 'deny' | 'warn' | 'audit' | 'patch' | 'error';
  durationMs: number;
  findings: Finding[];
  error?: string;
}

export interface Decision {
  allowed: boolean;
  status?: AdmissionStatus;
  /** Combined minimal patch from the original object; absent when nothing changes. */
  patch?: PatchOp[];
  /** The object after mutation (equal to the input object when there is no patch). */
  patchedObject?: KubeObject;
  warnings: string[];
  auditAnnotations: Record<string, string>;
  tenant: string | undefined;
  exemptBy?: string;
  modules: ModuleOutcome[];
}

export const DEFAULT_MODULE_POLICY: ModulePolicy = { failureMode: 'ignore', timeoutMs: 1000, enabled: true };

const ANNOTATION_PREFIX = 'tenantguard.io/';
const MAX_WARNING = 119;
/** How long a review waits to read a namespace its view has not seen (below the webhook timeouts). */
const NAMESPACE_READ_MS = 1000;
const MAX_ANNOTATION = 512;
/** A module's outcome is its most severe finding. */
const RESULT_RANK = { allow: 0, patch: 0, audit: 1, warn: 2, deny: 3, error: 4 } as const;

export class PolicyTimeoutError extends Error {
  constructor(module: string, budget: Budget) {
    const ms = Math.round(budget.ms);
    super(
      budget.byDeadline
        ? ms <= 0
          ? `policy ${module} did not run: the review's ${budget.deadlineMs}ms deadline had passed`
          : `policy ${module} exceeded its time budget of ${ms}ms (what was left of the review's ${budget.deadlineMs}ms deadline)`
        : `policy ${module} exceeded its time budget of ${ms}ms`,
    );
  }
}

/** One module step's time budget: its timeoutMs, or what is left of the review's deadline. */
interface Budget {
  ms: number;
  byDeadline: boolean;
  deadlineMs: number;
}

/** Where a review's deadline stands: its absolute end on the performance.now() clock and its length. */
interface ReviewClock {
  endsAt: number;
  deadlineMs: number;
}

/**
 * Node's timers count whole milliseconds (a timer may fire up to 1 ms before a fractional
 * deadline): less than this left of the deadline is none, and the module does not start.
 */
const MIN_BUDGET_MS = 1;

function budgetOf(policy: ModulePolicy, clock: ReviewClock, now: number): Budget {
  const left = clock.endsAt - now;
  return left < policy.timeoutMs
    ? { ms: left < MIN_BUDGET_MS ? 0 : left, byDeadline: true, deadlineMs: clock.deadlineMs }
    : { ms: policy.timeoutMs, byDeadline: false, deadlineMs: clock.deadlineMs };
}

/** Warnings go to kubectl users verbatim: one line, short (SPEC 3). */
export function toWarning(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length <= MAX_WARNING ? line : `${line.slice(0, MAX_WARNING - 1)}…`;
}

function shortAnnotation(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length <= MAX_ANNOTATION ? line : `${line.slice(0, MAX_ANNOTATION - 1)}…`;
}

export function exemptionOf(request: AdmissionRequest, ex: Exemptions): string | undefined {
  if (request.namespace && ex.namespaces.includes(request.namespace)) return `namespace ${request.namespace}`;
  const user = request.userInfo.username;
  if (user !== undefined && ex.usernames.includes(user)) return `user ${user}`;
  const group = request.userInfo.groups?.find((g) => ex.groups.includes(g));
  if (group !== undefined) return `group ${group}`;
  return undefined;
}

/** KubeVirt's and CDI's own namespaces, wherever their install put them, are exempt like the configured ones. */
function installExemption(request: AdmissionRequest, view: ClusterView): string | undefined {
  const ns = request.namespace;
  if (!ns) return undefined;
  if (isKubevirtInstallNamespace(ns, view)) return `namespace ${ns} (KubeVirt's install)`;
  if (view.cdiNamespace?.() === ns) return `namespace ${ns} (CDI's install)`;
  return undefined;
}

async function withTimeout<T>(promise: Promise<T>, module: string, budget: Budget, abort?: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Rejected before the abort: a step that answers its abort at once must not win the race.
      reject(new PolicyTimeoutError(module, budget));
      abort?.abort();
    }, budget.ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface EngineDeps {
  view: ClusterView;
  ledger: QuotaLedger;
  tracer?: Tracer;
}

export class PolicyEngine {
  readonly mutators: PolicyModule[];
  readonly validators: PolicyModule[];

  constructor(
    modules: PolicyModule[],
    private config: EngineConfig,
    private deps: EngineDeps,
  ) {
    this.mutators = modules.filter((m) => m.type === 'mutate');
    this.validators = modules.filter((m) => m.type === 'validate');
  }

  /** Config reloads swap this atomically; a review in flight keeps the config it started with. */
  setConfig(config: EngineConfig): void {
    this.config = config;
  }

  policyOf(name: string): ModulePolicy {
    return this.config.modules[name] ?? DEFAULT_MODULE_POLICY;
  }

  /**
   * @param receivedAt when the request arrived, on the performance.now() clock: the deadline runs
   * from there (the apiserver's timeout started before the body was even read).
   */
  async review(request: AdmissionRequest, phase: Phase, receivedAt: number = performance.now()): Promise<Decision> {
    const config = this.config;
    const deadlineMs = deadlineMsOf(config.reviewDeadlineMs, phase);
    const clock: ReviewClock = { endsAt: receivedAt + deadlineMs, deadlineMs };
    const decision: Decision = { allowed: true, warnings: [], auditAnnotations: {}, tenant: undefined, modules: [] };

    const exempt = exemptionOf(request, config.exemptions) ?? installExemption(request, this.deps.view);
    if (exempt !== undefined) {
      decision.exemptBy = exempt;
      decision.auditAnnotations[`${ANNOTATION_PREFIX}exempt`] = exempt;
      return decision;
    }

    // A pod created right after its namespace (or right after the namespace joined a Tenant) may
    // arrive before the namespace's watch event: judge it by the namespace as the apiserver has it,
    // never by the lenient default a stale cache would give; if it cannot be read, refuse.
    if (request.namespace && request.resource?.resource !== 'namespaces') {
      const refreshing = this.deps.view.refreshNamespace?.(request.namespace, AbortSignal.timeout(NAMESPACE_READ_MS));
      if (refreshing !== undefined) {
        try {
          await refreshing;
        } catch (err) {
          decision.allowed = false;
          decision.status = { code: 403, reason: 'Forbidden', message: `namespace ${request.namespace} is not in tenantguard's view yet and reading it failed (${errorText(err)}); retry` };
          return decision;
        }
      }
    }
    const tenant = this.deps.view.tenantOf(request.namespace ?? '');
    decision.tenant = tenant.name;
    const original = request.object ?? undefined;
    // A launcher pod ahead of its VMI's watch event is judged with the VMI read live (every module alike).
    let view = confirmLauncherVmi(request, this.deps.view, config.settings);
    if (view instanceof Promise) view = await view;
    const input: PolicyInput = {
      request,
      object: original,
      oldObject: request.oldObject ?? undefined,
      tenant,
      view,
      settings: config.settings,
      ledger: this.deps.ledger,
    };
    const denials: string[] = [];
    // Module spans only under a recording review span; otherwise modules run without a span.
    const traced = this.deps.tracer !== undefined && trace.getActiveSpan()?.isRecording() === true;

    if (phase !== 'validate' && original !== undefined) {
      let working: KubeObject | undefined;
      for (const module of this.mutators) {
        let result = this.run(module, { ...input, object: working ?? original }, config, clock, decision, denials, traced);
        if (result instanceof Promise) result = await result;
        if (result?.patch && result.patch.length > 0) {
          working ??= structuredClone(original);
          fjp.applyPatch(working, result.patch as fjp.Operation[], false, true);
        }
      }
      if (working !== undefined) {
        const patch = fjp.compare(original, working) as PatchOp[];
        if (patch.length > 0) decision.patch = patch;
        input.object = working;
      }
      decision.patchedObject = input.object;
    }

    const commits: Array<{ module: PolicyModule; commit: NonNullable<ModuleResult['commit']> }> = [];
    if (phase !== 'mutate') {
      for (const module of this.validators) {
        let result = this.run(module, input, config, clock, decision, denials, traced);
        if (result instanceof Promise) result = await result;
        if (result?.commit) commits.push({ module, commit: result.commit });
      }
      if (denials.length === 0) {
        for (const { module, commit } of commits) {
          await this.runCommit(module, commit, request.dryRun === true, config, clock, decision, denials, traced);
        }
      }
    }

    if (denials.length > 0) {
      decision.allowed = false;
      decision.status = { code: 403, reason: 'Forbidden', message: denials.join('; ') };
    }
    return decision;
  }

  /**
   * Evaluates one module. Synchronous when the module is (the common case: no promise, no timer,
   * no AbortController per module); a module that returns a promise, or a review whose span is
   * recorded, goes through the asynchronous path with its time budget and span.
   */
  private run(
    module: PolicyModule,
    input: PolicyInput,
    config: EngineConfig,
    clock: ReviewClock,
    decision: Decision,
    denials: string[],
    traced: boolean,
  ): ModuleResult | undefined | Promise<ModuleResult | undefined> {
    const policy = config.modules[module.name] ?? DEFAULT_MODULE_POLICY;
    if (!policy.enabled) return undefined;
    const started = performance.now();
    const budget = budgetOf(policy, clock, started);
    if (budget.ms <= 0) {
      this.fold(module.name, undefined, new PolicyTimeoutError(module.name, budget), policy, decision, denials, 0);
      return undefined;
    }
    if (traced) {
      return this.traced(module.name, 'evaluate', (abort) => {
        const out = module.evaluate(input);
        return out instanceof Promise ? withTimeout(out, module.name, budget, abort) : out;
      }, budget, policy, decision, denials);
    }
    let out: ReturnType<PolicyModule['evaluate']>;
    try {
      out = module.evaluate(input);
    } catch (err) {
      this.fold(module.name, undefined, err, policy, decision, denials, performance.now() - started);
      return undefined;
    }
    if (out instanceof Promise) return this.settle(module.name, out, budget, policy, started, decision, denials);
    const durationMs = performance.now() - started;
    if (durationMs > budget.ms) {
      this.fold(module.name, undefined, new PolicyTimeoutError(module.name, budget), policy, decision, denials, durationMs);
      return undefined;
    }
    this.fold(module.name, out, undefined, policy, decision, denials, durationMs);
    return out;
  }

  /** The rest of an unsampled evaluate that returned a promise: its time budget still applies. */
  private async settle(
    name: string,
    pending: Promise<ModuleResult>,
    budget: Budget,
    policy: ModulePolicy,
    started: number,
    decision: Decision,
    denials: string[],
  ): Promise<ModuleResult | undefined> {
    let result: ModuleResult | undefined;
    let error: unknown;
    try {
      result = await withTimeout(pending, name, budget);
    } catch (err) {
      error = err;
    }
    this.fold(name, result, error, policy, decision, denials, performance.now() - started);
    return result;
  }

  private async runCommit(
    module: PolicyModule,
    commit: NonNullable<ModuleResult['commit']>,
    dryRun: boolean,
    config: EngineConfig,
    clock: ReviewClock,
    decision: Decision,
    denials: string[],
    traced: boolean,
  ): Promise<void> {
    const policy = config.modules[module.name] ?? DEFAULT_MODULE_POLICY;
    const started = performance.now();
    const budget = budgetOf(policy, clock, started);
    if (budget.ms <= 0) {
      this.fold(module.name, undefined, new PolicyTimeoutError(module.name, budget), policy, decision, denials, 0);
      return;
    }
    const step = async (abort: AbortController): Promise<ModuleResult> => ({
      findings: await withTimeout(commit({ dryRun, signal: abort.signal }), module.name, budget, abort),
    });
    if (traced) {
      await this.traced(module.name, 'commit', step, budget, policy, decision, denials);
      return;
    }
    let result: ModuleResult | undefined;
    let error: unknown;
    try {
      result = await step(new AbortController());
    } catch (err) {
      error = err;
    }
    this.fold(module.name, result, error, policy, decision, denials, performance.now() - started);
  }

  /**
   * Runs one module step under its own span (only when the review's span is sampled: unsampled
   * reviews must stay cheap), records the outcome and folds its findings into the decision.
   */
  private async traced(
    name: string,
    step: 'evaluate' | 'commit',
    body: (abort: AbortController) => Promise<ModuleResult> | ModuleResult,
    budget: Budget,
    policy: ModulePolicy,
    decision: Decision,
    denials: string[],
  ): Promise<ModuleResult | undefined> {
    const parent = trace.getActiveSpan();
    const span = parent?.isRecording() && this.deps.tracer
      ? this.deps.tracer.startSpan(`policy ${name}${step === 'commit' ? ' commit' : ''}`, {
          attributes: { 'tenantguard.policy': name, 'tenantguard.step': step },
        }, context.active())
      : undefined;
    const started = performance.now();
    const abort = new AbortController();
    let result: ModuleResult | undefined;
    let error: unknown;
    try {
      result = span
        ? await context.with(trace.setSpan(context.active(), span), () => body(abort))
        : await body(abort);
      const elapsed = performance.now() - started;
      if (step === 'evaluate' && elapsed > budget.ms) throw new PolicyTimeoutError(name, budget);
    } catch (err) {
      error = err;
      result = undefined;
    }
    const durationMs = performance.now() - started;
    const outcome = this.fold(name, result, error, policy, decision, denials, durationMs);
    if (span) {
      span.setAttribute('tenantguard.result', outcome.result);
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : new Error(String(error)));
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error ?? 'error' });
      }
      span.end();
    }
    return result;
  }

  private fold(
    name: string,
    result: ModuleResult | undefined,
    error: unknown,
    policy: ModulePolicy,
    decision: Decision,
    denials: string[],
    durationMs: number,
  ): ModuleOutcome {
    const outcome: ModuleOutcome = { module: name, result: 'allow', durationMs, findings: [] };
    decision.modules.push(outcome);
    if (error !== undefined) {
      outcome.result = 'error';
      outcome.error = errorText(error);
      if (policy.failureMode === 'fail') {
        denials.push(`[${name}] policy failed (failure mode fail): ${outcome.error}`);
      } else {
        decision.warnings.push(toWarning(`[${name}] policy failed and was skipped (failure mode ignore)`));
      }
      decision.auditAnnotations[`${ANNOTATION_PREFIX}${name}`] = shortAnnotation(`error: ${outcome.error}`);
      return outcome;
    }
    if (!result) return outcome;
    if (result.patch && result.patch.length > 0) outcome.result = 'patch';
    if (result.warnings) for (const w of result.warnings) decision.warnings.push(toWarning(`[${name}] ${w}`));
    const audit: string[] = [];
    if (result.annotation) audit.push(result.annotation);
    const findings = result.findings ?? [];
    outcome.findings = findings;
    for (const f of findings) {
      const kind = f.mode === 'enforce' ? 'deny' : f.mode;
      if (RESULT_RANK[kind] > RESULT_RANK[outcome.result]) outcome.result = kind;
      if (f.mode === 'enforce') denials.push(`[${name}] ${f.message}`);
      else if (f.mode === 'warn') for (const line of f.warningLines ?? [f.message]) decision.warnings.push(toWarning(`[${name}] ${line}`));
      else audit.push(f.message);
    }
    if (audit.length > 0) {
      const key = `${ANNOTATION_PREFIX}${name}`;
      const prior = decision.auditAnnotations[key];
      decision.auditAnnotations[key] = shortAnnotation(prior ? `${prior}; ${audit.join('; ')}` : audit.join('; '));
    }
    return outcome;
  }
}
