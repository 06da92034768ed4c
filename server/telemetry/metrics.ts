// Prometheus metrics (SPEC 8), on a registry of their own so that tests and several app instances
// in one process never share series. Review and policy series are hot-path families (hot-metrics.ts)
// whose per-combination records are cached, so a review builds no label objects and hashes nothing.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModuleOutcome } from '../../policies/engine.js';
import type { ResourceAmounts } from '../../policies/types.js';
import { VERSION } from '../version.js';
import { HotCounter, HotHistogram, type HotCounterSeries, type HotHistogramSeries } from './hot-metrics.js';

export type Webhook = 'mutate' | 'validate';
export type RequestErrorReason = 'bad_json' | 'bad_content_type' | 'body_too_large' | 'invalid_review' | 'bad_request' | 'not_synced' | 'internal';
export type ReloadResult = 'success' | 'failure';

/** Kinds come from the request; past this many distinct values they are counted as "other". */
export const MAX_KIND_LABELS = 64;

/**
 * Up to 30 s, the longest timeoutSeconds a webhook may have: a review slower than the webhook's
 * timeout (mutate 2 s, validate 3 s) lands in a bucket of its own instead of the top one.
 */
const REVIEW_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30];
const REQUEST_ERROR_REASONS: readonly RequestErrorReason[] = ['bad_json', 'bad_content_type', 'body_too_large', 'invalid_review', 'bad_request', 'internal'];
const POLICY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1];
const POLICY_RESULTS = ['allow', 'deny', 'warn', 'audit', 'patch', 'error'] as const;

interface ReviewSeries {
  allowed: { count: HotCounterSeries; duration: HotHistogramSeries };
  denied: { count: HotCounterSeries; duration: HotHistogramSeries };
}

interface PolicySeries {
  duration: HotHistogramSeries;
  results: Record<ModuleOutcome['result'], HotCounterSeries>;
}

/** CPU amounts are kept in millicores (ResourceAmounts); Prometheus wants base units (cores). */
function baseUnits(resource: string, amount: number): number {
  return resource.endsWith('.cpu') ? amount / 1000 : amount;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: HotCounter;
  private readonly duration: HotHistogram;
  private readonly policyDuration: HotHistogram;
  private readonly policyResults: HotCounter;
  private readonly quotaUsed: Gauge<'tenant' | 'resource'>;
  private readonly quotaHard: Gauge<'tenant' | 'resource'>;
  private readonly quotaReserved: Gauge<'tenant' | 'resource'>;
  private readonly reservations: Gauge<'tenant'>;
  private readonly reservationsExpired: Counter<'tenant'>;
  private readonly reservationRelease: Histogram;
  private readonly reconciles: Counter<'outcome'>;
  private readonly tenantReconcileFailures: Counter<'tenant'>;
  private readonly certExpiry: Gauge;
  private readonly reloads: Counter<'result'>;
  private readonly tenantSpecRejected: Counter<'tenant'>;
  private readonly cacheSynced: Gauge<'kind'>;
  private readonly requestErrors: Counter<'reason'>;
  /** webhook -> operation -> kind -> series. */
  private readonly reviewSeries = new Map<string, Map<string, Map<string, ReviewSeries>>>();
  private readonly kinds = new Set<string>();
  private readonly policySeries = new Map<string, PolicySeries>();
  /**
   * Resources published per gauge and tenant: a series the next publish leaves out is removed (a
   * resource that left the Tenant's hard), and a deleted tenant's series go with it.
   */
  private readonly quotaResources = new Map<Gauge<'tenant' | 'resource'>, Map<string, Set<string>>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // Prometheus' convention (go_build_info, prometheus_build_info): 1, the build in the labels.
    new Gauge({
      name: 'tenantguard_build_info',
      help: 'Always 1; the labels say which tenantguard build (package.json version) and Node.js runs.',
      labelNames: ['version', 'nodejs_version'],
      registers,
    }).set({ version: VERSION, nodejs_version: process.versions.node }, 1);
    this.requests = new HotCounter(
      'tenantguard_admission_requests_total',
      'Admission reviews answered, by webhook, operation, kind and decision.',
      this.registry,
    );
    this.duration = new HotHistogram(
      'tenantguard_admission_duration_seconds',
      'Time to review an AdmissionReview, from the parsed body to the decision.',
      this.registry,
      REVIEW_BUCKETS,
    );
    this.policyDuration = new HotHistogram(
      'tenantguard_policy_evaluation_duration_seconds',
      'Time one policy module took for one review (evaluate and commit).',
      this.registry,
      POLICY_BUCKETS,
    );
    this.policyResults = new HotCounter(
      'tenantguard_policy_results_total',
      'Policy module outcomes: allow, deny, warn, audit, patch, error.',
      this.registry,
    );
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
    this.quotaReserved = new Gauge({
      name: 'tenantguard_quota_reserved',
      help: 'Tenant quota reserved by admitted changes not yet observed in the cluster, in base units.',
      labelNames: ['tenant', 'resource'],
      registers,
    });
    this.reservations = new Gauge({
      name: 'tenantguard_quota_reservations',
      help: 'Quota reservations waiting for their object to be observed, per tenant.',
      labelNames: ['tenant'],
      registers,
    });
    this.reservationsExpired = new Counter({
      name: 'tenantguard_quota_reservations_expired_total',
      help: 'Reservations made here whose object was never observed before the TTL (refused later in the chain, or never persisted).',
      labelNames: ['tenant'],
      registers,
    });
    this.reservationRelease = new Histogram({
      name: 'tenantguard_quota_reservation_release_seconds',
      help: 'Time from a reservation to the cluster view observing its object.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.reconciles = new Counter({
      name: 'tenantguard_quota_reconcile_total',
      help: 'Per-tenant outcomes of the periodic quota reconcile: unchanged, updated, repaired, skipped, failed.',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of ['unchanged', 'updated', 'repaired', 'skipped', 'failed']) this.reconciles.inc({ outcome }, 0);
    this.tenantReconcileFailures = new Counter({
      name: 'tenantguard_quota_reconcile_failures_total',
      help: 'Quota reconcile passes that failed for a tenant (0 from its first pass), so one failing tenant does not hide behind healthy ones.',
      labelNames: ['tenant'],
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
    this.tenantSpecRejected = new Counter({
      name: 'tenantguard_tenant_spec_rejected_total',
      help: 'Tenant specs tenantguard could not use (each distinct spec once); the last valid spec, or the strictest reading, stays in force.',
      labelNames: ['tenant'],
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
    // Counters whose label values are known up front exist at 0 from the start: increase() and
    // rate() need a sample before the first event to see it.
    for (const result of ['success', 'failure'] as const) this.reloads.inc({ result }, 0);
    for (const reason of REQUEST_ERROR_REASONS) this.requestErrors.inc({ reason }, 0);
    // The most common review (a Pod CREATE), on both webhooks, both decisions.
    for (const webhook of ['mutate', 'validate'] as const) {
      const series = this.seriesFor(webhook, 'CREATE', 'Pod');
      series.allowed.count.expected = series.denied.count.expected = true;
    }
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
    s.count.value++;
    this.duration.observe(s.duration, seconds);
  }

  /** Every module's result counters, at 0 before its first review (see the constructor). */
  preparePolicies(modules: readonly string[]): void {
    for (const policy of modules) for (const result of Object.values(this.policySeriesOf(policy).results)) result.expected = true;
  }

  recordPolicies(outcomes: readonly ModuleOutcome[]): void {
    for (const outcome of outcomes) {
      const series = this.policySeriesOf(outcome.module);
      this.policyDuration.observe(series.duration, outcome.durationMs / 1000);
      series.results[outcome.result].value++;
    }
  }

  private policySeriesOf(policy: string): PolicySeries {
    let series = this.policySeries.get(policy);
    if (series === undefined) {
      const results = {} as PolicySeries['results'];
      for (const result of POLICY_RESULTS) results[result] = this.policyResults.child({ policy, result });
      series = { duration: this.policyDuration.child({ policy }), results };
      this.policySeries.set(policy, series);
    }
    return series;
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

  setQuotaReserved(tenant: string, amounts: ResourceAmounts, count: number): void {
    this.setQuota(this.quotaReserved, tenant, amounts);
    this.reservations.set({ tenant }, count);
    // The series exists from the start, so that rate() sees the first expiry.
    this.reservationsExpired.inc({ tenant }, 0);
  }

  countReservationExpired(tenant: string): void {
    this.reservationsExpired.inc({ tenant });
  }

  observeReservationReleased(seconds: number): void {
    this.reservationRelease.observe(seconds);
  }

  countReconcile(tenant: string, outcome: string): void {
    this.reconciles.inc({ outcome });
    this.tenantReconcileFailures.inc({ tenant }, outcome === 'failed' ? 1 : 0);
  }

  /** Drops a deleted tenant's quota series. */
  forgetTenant(tenant: string): void {
    for (const [gauge, byTenant] of this.quotaResources) {
      for (const resource of byTenant.get(tenant) ?? []) gauge.remove({ tenant, resource });
      byTenant.delete(tenant);
    }
    this.reservations.remove({ tenant });
    this.tenantReconcileFailures.remove({ tenant });
  }

  setCertExpiry(notAfter: Date): void {
    this.certExpiry.set(notAfter.getTime() / 1000);
  }

  countTenantSpecRejected(tenant: string): void {
    this.tenantSpecRejected.inc({ tenant });
  }

  countConfigReload(result: ReloadResult): void {
    this.reloads.inc({ result });
  }

  setCacheSynced(kind: string, synced: boolean): void {
    this.cacheSynced.set({ kind }, synced ? 1 : 0);
  }

  /** Publishes exactly `amounts` for the tenant on `gauge`: resources it no longer names lose their series. */
  private setQuota(gauge: Gauge<'tenant' | 'resource'>, tenant: string, amounts: ResourceAmounts): void {
    let byTenant = this.quotaResources.get(gauge);
    if (byTenant === undefined) this.quotaResources.set(gauge, (byTenant = new Map()));
    const before = byTenant.get(tenant);
    const now = new Set(Object.keys(amounts));
    for (const resource of before ?? []) if (!now.has(resource)) gauge.remove({ tenant, resource });
    byTenant.set(tenant, now);
    for (const [resource, amount] of Object.entries(amounts)) gauge.set({ tenant, resource }, baseUnits(resource, amount));
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
        return { count: this.requests.child(labels), duration: this.duration.child(labels) };
      };
      series = { allowed: child('allowed'), denied: child('denied') };
      byKind.set(kind, series);
    }
    return series;
  }
}
