// Prometheus metrics (SPEC 8), on a registry of their own so that tests and several app instances
// in one process never share series. Review and policy series go through cached prom-client
// children, so the hot path builds no label objects once a combination has been seen.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModuleOutcome } from '../../policies/engine.js';
import type { ResourceAmounts } from '../../policies/types.js';

export type Webhook = 'mutate' | 'validate';
export type RequestErrorReason = 'bad_json' | 'bad_content_type' | 'body_too_large' | 'invalid_review' | 'bad_request' | 'internal';
export type ReloadResult = 'success' | 'failure';

/** Kinds come from the request; past this many distinct values they are counted as "other". */
export const MAX_KIND_LABELS = 64;

const REVIEW_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const POLICY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1];
const POLICY_RESULTS = ['allow', 'deny', 'warn', 'audit', 'patch', 'error'] as const;

interface ReviewSeries {
  allowed: { count: Counter.Internal; duration: Histogram.Internal<string> };
  denied: { count: Counter.Internal; duration: Histogram.Internal<string> };
}

interface PolicySeries {
  duration: Histogram.Internal<string>;
  results: Record<ModuleOutcome['result'], Counter.Internal>;
}

/** CPU amounts are kept in millicores (ResourceAmounts); Prometheus wants base units (cores). */
function baseUnits(resource: string, amount: number): number {
  return resource.endsWith('.cpu') ? amount / 1000 : amount;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'webhook' | 'operation' | 'kind' | 'decision'>;
  private readonly duration: Histogram<'webhook' | 'operation' | 'kind' | 'decision'>;
  private readonly policyDuration: Histogram<'policy'>;
  private readonly policyResults: Counter<'policy' | 'result'>;
  private readonly quotaUsed: Gauge<'tenant' | 'resource'>;
  private readonly quotaHard: Gauge<'tenant' | 'resource'>;
  private readonly certExpiry: Gauge;
  private readonly reloads: Counter<'result'>;
  private readonly cacheSynced: Gauge<'kind'>;
  private readonly requestErrors: Counter<'reason'>;
  /** webhook -> operation -> kind -> series. */
  private readonly reviewSeries = new Map<string, Map<string, Map<string, ReviewSeries>>>();
  private readonly kinds = new Set<string>();
  private readonly policySeries = new Map<string, PolicySeries>();
  /** Resources published per tenant and gauge, so a deleted tenant's series can be removed. */
  private readonly quotaResources = new Map<string, Set<string>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'tenantguard_admission_requests_total',
      help: 'Admission reviews answered, by webhook, operation, kind and decision.',
      labelNames: ['webhook', 'operation', 'kind', 'decision'],
      registers,
    });
    this.duration = new Histogram({
      name: 'tenantguard_admission_duration_seconds',
      help: 'Time to review an AdmissionReview, from the parsed body to the decision.',
      labelNames: ['webhook', 'operation', 'kind', 'decision'],
      buckets: REVIEW_BUCKETS,
      registers,
    });
    this.policyDuration = new Histogram({
      name: 'tenantguard_policy_evaluation_duration_seconds',
      help: 'Time one policy module took for one review (evaluate and commit).',
      labelNames: ['policy'],
      buckets: POLICY_BUCKETS,
      registers,
    });
    this.policyResults = new Counter({
      name: 'tenantguard_policy_results_total',
      help: 'Policy module outcomes: allow, deny, warn, audit, patch, error.',
      labelNames: ['policy', 'result'],
      registers,
    });
    this.quotaUsed = new Gauge({
      name: 'tenantguard_quota_used',
      help: 'Tenant quota usage in base units (cores, bytes, objects).',
      labelNames: ['tenant', 'resource'],
      registers,
    });
    this.quotaHard = new Gauge({
      name: 'tenantguard_quota_hard',
      help: 'Tenant quota limit in base units (cores, bytes, objects).',
      labelNames: ['tenant', 'resource'],
      registers,
    });
    this.certExpiry = new Gauge({
      name: 'tenantguard_cert_expiry_timestamp_seconds',
      help: 'Unix time at which the serving certificate expires.',
      registers,
    });
    this.reloads = new Counter({
      name: 'tenantguard_config_reloads_total',
      help: 'Configuration reloads by result.',
      labelNames: ['result'],
      registers,
    });
    this.cacheSynced = new Gauge({
      name: 'tenantguard_cache_synced',
      help: '1 when the cluster view of a kind has completed its initial sync, else 0.',
      labelNames: ['kind'],
      registers,
    });
    this.requestErrors = new Counter({
      name: 'tenantguard_request_errors_total',
      help: 'Requests answered with an error instead of a review, by reason.',
      labelNames: ['reason'],
      registers,
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private readonly collectors: Array<() => void> = [];

  /**
   * Gauges of state (quota usage, cache sync) are read when Prometheus scrapes, not written on
   * every review: a scrape every 15 s costs less than a gauge update per admission.
   */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  render(): Promise<string> {
    for (const collect of this.collectors) collect();
    return this.registry.metrics();
  }

  recordReview(webhook: Webhook, operation: string, kind: string, allowed: boolean, seconds: number): void {
    const series = this.seriesFor(webhook, operation, kind);
    const s = allowed ? series.allowed : series.denied;
    s.count.inc();
    s.duration.observe(seconds);
  }

  recordPolicies(outcomes: readonly ModuleOutcome[]): void {
    for (const outcome of outcomes) {
      let series = this.policySeries.get(outcome.module);
      if (series === undefined) {
        const policy = outcome.module;
        const results = {} as PolicySeries['results'];
        for (const result of POLICY_RESULTS) results[result] = this.policyResults.labels({ policy, result });
        series = { duration: this.policyDuration.labels({ policy }), results };
        this.policySeries.set(policy, series);
      }
      series.duration.observe(outcome.durationMs / 1000);
      series.results[outcome.result].inc();
    }
  }

  countRequestError(reason: RequestErrorReason): void {
    this.requestErrors.inc({ reason });
  }

  setQuotaUsed(tenant: string, amounts: ResourceAmounts): void {
    this.setQuota(this.quotaUsed, tenant, amounts);
  }

  setQuotaHard(tenant: string, amounts: ResourceAmounts): void {
    this.setQuota(this.quotaHard, tenant, amounts);
  }

  /** Drops a deleted tenant's quota series. */
  forgetTenant(tenant: string): void {
    for (const resource of this.quotaResources.get(tenant) ?? []) {
      this.quotaUsed.remove({ tenant, resource });
      this.quotaHard.remove({ tenant, resource });
    }
    this.quotaResources.delete(tenant);
  }

  setCertExpiry(notAfter: Date): void {
    this.certExpiry.set(notAfter.getTime() / 1000);
  }

  countConfigReload(result: ReloadResult): void {
    this.reloads.inc({ result });
  }

  setCacheSynced(kind: string, synced: boolean): void {
    this.cacheSynced.set({ kind }, synced ? 1 : 0);
  }

  private setQuota(gauge: Gauge<'tenant' | 'resource'>, tenant: string, amounts: ResourceAmounts): void {
    let known = this.quotaResources.get(tenant);
    if (known === undefined) this.quotaResources.set(tenant, (known = new Set()));
    for (const [resource, amount] of Object.entries(amounts)) {
      known.add(resource);
      gauge.set({ tenant, resource }, baseUnits(resource, amount));
    }
  }

  private seriesFor(webhook: Webhook, operation: string, kind: string): ReviewSeries {
    if (!this.kinds.has(kind)) {
      if (this.kinds.size >= MAX_KIND_LABELS) kind = 'other';
      else this.kinds.add(kind);
    }
    let byOperation = this.reviewSeries.get(webhook);
    if (byOperation === undefined) this.reviewSeries.set(webhook, (byOperation = new Map()));
    let byKind = byOperation.get(operation);
    if (byKind === undefined) byOperation.set(operation, (byKind = new Map()));
    let series = byKind.get(kind);
    if (series === undefined) {
      const child = (decision: string) => {
        const labels = { webhook, operation, kind, decision };
        return { count: this.requests.labels(labels), duration: this.duration.labels(labels) };
      };
      series = { allowed: child('allowed'), denied: child('denied') };
      byKind.set(kind, series);
    }
    return series;
  }
}
