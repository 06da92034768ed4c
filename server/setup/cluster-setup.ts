// The one place every command turns its flags and config into a cluster view, a quota ledger and
// the policy engine (SPEC 10). The view is picked by one rule for all: a state directory, else a
// kubeconfig (flag, KUBECONFIG or in-cluster) selects the live cluster, else the embedded example
// state. What differs per command is how long the view lives: `serve` keeps it current (informers,
// reservations in Tenant status, quota metrics); `replay` and `audit` read it once.
import { resolve } from 'node:path';
import { PolicyEngine } from '../../policies/engine.js';
import { parseHard, publishedAmounts } from '../../policies/quota/resources.js';
import type { AdmissionRequest, ClusterView, KubeObject, PolicyModule } from '../../policies/types.js';
import type { Tracer } from '@opentelemetry/api';
import { loadClusterSnapshot } from '../cluster/cluster-snapshot.js';
import { KubeClient, kubeconfigConfigured, loadKubeConfig } from '../cluster/kube-client.js';
import { LiveView } from '../cluster/live-view.js';
import { MemoryLedger, type LedgerOptions } from '../quota-ledger/memory-ledger.js';
import { NamespaceLabelKeeper, type NamespaceLabelPass } from '../cluster/namespace-labels.js';
import type { ObjectStore } from '../cluster/object-store.js';
import { TenantReconciler } from '../cluster/reconcile.js';
import { SnapshotView } from '../cluster/snapshot-view.js';
import { TenantStatusLedger } from '../quota-ledger/tenant-ledger.js';
import { formatUsed } from '../cluster/tenant-status.js';
import { UsedStatusWriter } from '../cluster/used-writer.js';
import type { ServerConfig } from '../config.js';
import { engineConfigOf } from '../config-load.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { embeddedStateDir } from './embedded-state.js';
import { SetupError } from './setup-error.js';

export type ViewMode = 'snapshot' | 'live' | 'embedded';

/** The command the setup is for, and what only it needs. */
export type SetupFor =
  | { command: 'serve'; telemetry: { metrics: Metrics; logger: Logger; tracing: Tracing } }
  | { command: 'replay' }
  | { command: 'audit'; namespaces?: readonly string[]; pageSize?: number }
  | { command: 'explain' | 'usage' };

export interface SetupInput<F extends SetupFor = SetupFor> {
  config: ServerConfig;
  env: NodeJS.ProcessEnv;
  /** The state directory the command's flags and config name. */
  state: string | undefined;
  /** The kubeconfig file they name (undefined: KUBECONFIG, ~/.kube/config or in-cluster). */
  kubeconfig: string | undefined;
  modules: readonly PolicyModule[];
  for: F;
}

interface SetupBase {
  view: ClusterView;
  ledger: MemoryLedger | TenantStatusLedger;
  engine: PolicyEngine;
  setDefaultTenant(config: ServerConfig): void;
  /** Reasons the view is not ready (live: informers not synced yet). */
  notReady(): string[];
  /** Reasons the view cannot judge reviews (live: its first sync is not complete); empty once it can. */
  unsynced(): string[];
  /** Namespaces two Tenants claim: a configuration error reported by /readyz, not a reason to stop serving. */
  conflicts(): string[];
  stop(): Promise<void>;
}

/** A state directory (given, or the embedded one) loaded into memory. */
export interface StateSetup extends SetupBase {
  mode: 'snapshot' | 'embedded';
  /** The directory loaded (absolute for replay and audit, which name files relative to it). */
  state: string;
  view: SnapshotView;
  ledger: MemoryLedger;
  /** Stores what the apiserver would have persisted after admitting `request`. */
  persist(request: AdmissionRequest, object: KubeObject | undefined): void;
}

export interface LiveSetup extends SetupBase {
  mode: 'live';
}

export type ClusterSetup = StateSetup | LiveSetup;

/** The view the rule picks; replay judges fixtures reproducibly, so never against the live cluster. */
export function viewModeOf(source: Pick<SetupInput, 'state' | 'kubeconfig' | 'env'> & { command: SetupFor['command'] }): ViewMode {
  if (source.state !== undefined) return 'snapshot';
  if (source.command !== 'replay' && kubeconfigConfigured(source.kubeconfig, source.env)) return 'live';
  return 'embedded';
}

export function setupCluster(input: SetupInput<{ command: 'replay' }>): Promise<StateSetup>;
export function setupCluster(input: SetupInput): Promise<ClusterSetup>;
export async function setupCluster(input: SetupInput): Promise<ClusterSetup> {
  const target = input.for;
  const mode = viewModeOf({ ...input, command: target.command });
  if (mode === 'live') return target.command === 'serve' ? watchedCluster(input, target.telemetry) : clusterReadOnce(input, target);
  const dir = input.state ?? embeddedStateDir();
  if (target.command === 'serve') return servedState(dir, mode, input, target.telemetry);
  return stateReadOnce(resolve(dir), mode, input);
}

function engineOf(input: SetupInput, view: ClusterView, ledger: MemoryLedger | TenantStatusLedger, tracer?: Tracer): PolicyEngine {
  return new PolicyEngine([...input.modules], engineConfigOf(input.config), { view, ledger, ...(tracer ? { tracer } : {}) });
}

function conflictsOf(store: ObjectStore): string[] {
  return store.tenants().conflicts.map((c) => `namespace ${c.namespace} is claimed by Tenants ${c.tenants.join(', ')} (the stricter settings apply)`);
}

async function loadState(dir: string, config: ServerConfig): Promise<SnapshotView> {
  try {
    return await SnapshotView.load(dir, config.defaultTenant);
  } catch (err) {
    throw new SetupError((err as Error).message);
  }
}

function stateSetup(mode: StateSetup['mode'], dir: string, view: SnapshotView, ledger: MemoryLedger, engine: PolicyEngine): StateSetup {
  return {
    mode,
    state: dir,
    view,
    ledger,
    engine,
    persist: (request, object) => view.apply(request, object),
    setDefaultTenant: (c) => view.store.setDefaultTenant(c.defaultTenant),
    notReady: () => [],
    unsynced: () => [],
    conflicts: () => conflictsOf(view.store),
    stop: async () => {},
  };
}

/** replay, audit: the state read once; the ledger has no clock for deletion grace, so runs are reproducible. */
async function stateReadOnce(dir: string, mode: StateSetup['mode'], input: SetupInput): Promise<StateSetup> {
  const view = await loadState(dir, input.config);
  const ledger = new MemoryLedger(view, { observedClock: () => undefined });
  return stateSetup(mode, dir, view, ledger, engineOf(input, view, ledger));
}

/** audit: every object the audit judges, listed once from the live cluster. */
async function clusterReadOnce(input: SetupInput, target: Exclude<SetupFor, { command: 'serve' }>): Promise<LiveSetup> {
  let client: KubeClient;
  try {
    client = new KubeClient(loadKubeConfig(input.kubeconfig));
  } catch (err) {
    throw new SetupError(`cannot use the kubeconfig${input.kubeconfig === undefined ? '' : ` ${input.kubeconfig}`}: ${(err as Error).message}`);
  }
  const scope: { namespaces?: readonly string[]; pageSize?: number } = target.command === 'audit' ? target : {};
  const { view } = await loadClusterSnapshot(client, input.config.defaultTenant, {
    ...(scope.namespaces === undefined ? {} : { namespaces: scope.namespaces }),
    ...(scope.pageSize === undefined ? {} : { pageSize: scope.pageSize }),
  });
  const ledger = new MemoryLedger(view);
  return {
    mode: 'live',
    view,
    ledger,
    engine: engineOf(input, view, ledger),
    setDefaultTenant: (c) => view.store.setDefaultTenant(c.defaultTenant),
    notReady: () => [],
    unsynced: () => [],
    conflicts: () => conflictsOf(view.store),
    stop: async () => {},
  };
}

type ServeTelemetry = Extract<SetupFor, { command: 'serve' }>['telemetry'];

/** Quota observed, reserved and hard as Prometheus series, read at scrape time: what the Tenant's hard names, and the fixed resources. */
function publishQuota(metrics: Metrics, view: ClusterView, ledger: MemoryLedger | TenantStatusLedger): void {
  for (const t of view.list('Tenant')) {
    const tenant = t.metadata?.name ?? '';
    // The view holds the spec in force, which tenant-spec-guard.ts has parsed: this cannot throw.
    const hard = parseHard(t.spec?.quota?.hard);
    metrics.setQuotaUsed(tenant, publishedAmounts(ledger.observed.tenantUsage(tenant), hard));
    metrics.setQuotaReserved(tenant, publishedAmounts(ledger.reserved(tenant), hard), ledger.reservationCount(tenant));
    metrics.setQuotaHard(tenant, hard);
  }
}

/** A Tenant spec tenantguard cannot use is a log line and a metric (and a condition, by the reconcile). */
function reportRejectedSpecs(store: ObjectStore, telemetry: ServeTelemetry): void {
  store.tenantGuard.onRejected((r) => {
    telemetry.metrics.countTenantSpecRejected(r.tenant);
    telemetry.logger.warn(
      { tenant: r.tenant, generation: r.generation, problems: r.problems, keptLastGood: r.keptLastGood, lastGoodGeneration: r.lastGoodGeneration },
      `Tenant ${r.tenant}: spec not used (${r.problems[0]}); ${r.keptLastGood ? 'the last valid spec stays in force' : 'judged by its strictest reading'}`,
    );
  });
}

/** What the ledger options are in the server config, and the metrics and log lines of reservations. */
function ledgerOptions(config: ServerConfig, telemetry: ServeTelemetry): LedgerOptions {
  return {
    ttlMs: config.quota.reservationTTLSeconds * 1000,
    maxReservations: config.quota.maxReservationsPerTenant,
    events: {
      released: (_entry, afterMs) => telemetry.metrics.observeReservationReleased(afterMs / 1000),
      expired(entry) {
        if (!entry.local) return;
        telemetry.metrics.countReservationExpired(entry.tenant);
        const o = entry.object;
        telemetry.logger.warn(
          { tenant: entry.tenant, uid: entry.uid, kind: o.kind, namespace: o.namespace, name: o.name, reserved: formatUsed(entry.amounts) },
          `quota reservation for ${o.kind} ${o.namespace}/${o.name} expired: the object was never observed (refused later in the admission chain, or never persisted)`,
        );
      },
    },
  };
}

/** serve --state / embedded: the state in memory, changed by what the webhook admits. */
async function servedState(dir: string, mode: StateSetup['mode'], input: SetupInput, telemetry: ServeTelemetry): Promise<StateSetup> {
  const view = await loadState(dir, input.config);
  reportRejectedSpecs(view.store, telemetry);
  const ledger = new MemoryLedger(view, ledgerOptions(input.config, telemetry));
  const problems = view.list('Tenant').flatMap((t) => ledger.observed.problems(t.metadata?.name ?? ''));
  if (problems.length > 0) throw new SetupError(`cannot charge the quota usage of the state in ${dir}: ${problems[0]}`);
  telemetry.metrics.onCollect(() => publishQuota(telemetry.metrics, view, ledger));
  return stateSetup(mode, dir, view, ledger, engineOf(input, view, ledger, telemetry.tracing.tracer));
}

/** serve, live: informers over the cluster the kubeconfig names; quota reservations go to Tenant status. */
async function watchedCluster(input: SetupInput, telemetry: ServeTelemetry): Promise<LiveSetup> {
  const { config } = input;
  const { logger, metrics, tracing } = telemetry;
  let client: KubeClient;
  try {
    client = new KubeClient(loadKubeConfig(config.kubeconfig), tracing.tracer);
  } catch (err) {
    throw new SetupError(`cannot use the kubeconfig: ${(err as Error).message}`);
  }
  const view = new LiveView(client, {
    defaultTenant: config.defaultTenant,
    onError: (source, err) => logger.warn({ source, err: err.message }, `cluster view: ${source} failed; retrying`),
  });
  reportRejectedSpecs(view.store, telemetry);
  const ledger = new TenantStatusLedger(client, view, { ...ledgerOptions(config, telemetry), leaseMs: config.quota.grantLeaseSeconds * 1000 });
  const reconciler = new TenantReconciler(client, view, ledger, {
    intervalMs: config.quota.reconcileIntervalSeconds * 1000,
    onError: (tenant, err) => logger.warn({ tenant, err: err.message }, `quota reconcile of tenant ${tenant} failed`),
    onRepaired: (tenant, before, after) => logger.info({ tenant, before, after }, `quota usage of tenant ${tenant} recomputed from the cluster`),
    onPass: (results) => {
      for (const r of results) metrics.countReconcile(r.tenant, r.outcome);
      // The webhooks select a Tenant's namespaces by the label this keeps (SPEC 11.1); the view's
      // events label them at once (follow() below), this full pass is the backstop.
      void labels.pass(AbortSignal.timeout(30_000)).then(reportLabels, (err: Error) =>
        logger.warn({ err: err.message }, 'namespace tenant labels not updated; retrying next pass'),
      );
    },
  });
  const usedWriter = new UsedStatusWriter(client, view.store, ledger.observed, {
    synced: () => view.synced(),
    onError: (tenant, err) => logger.warn({ tenant, err: err.message }, `quota usage of tenant ${tenant} not written; the next change or reconcile writes it`),
  });
  const labels = new NamespaceLabelKeeper(client, view);
  const reportLabels = ({ labelled, unlabelled, failed, conditionsFailed }: NamespaceLabelPass): void => {
    if (Object.keys(labelled).length + unlabelled.length > 0) logger.info({ labelled, unlabelled }, 'namespace tenant labels updated');
    for (const f of failed) logger.warn({ namespace: f.namespace, err: f.error }, `cannot label namespace ${f.namespace}; retrying next pass`);
    for (const f of conditionsFailed) logger.warn({ tenant: f.tenant, err: f.error }, `cannot write the NamespacesGuarded condition of tenant ${f.tenant}; retrying next pass`);
  };
  labels.follow(reportLabels);
  usedWriter.start();
  await view.start();
  reconciler.start();
  metrics.onCollect(() => {
    for (const [kind, synced] of Object.entries(view.syncState())) metrics.setCacheSynced(kind, synced);
    publishQuota(metrics, view, ledger);
  });
  return {
    mode: 'live',
    view,
    ledger,
    engine: engineOf(input, view, ledger, tracing.tracer),
    setDefaultTenant: (c) => view.store.setDefaultTenant(c.defaultTenant),
    notReady: () => view.syncProblems(),
    // Once synced, the informers keep the view current (relisting after an outage): a later
    // discovery error makes the replica unready but does not stop it judging.
    unsynced: () => (view.synced() ? [] : view.syncProblems()),
    conflicts: () => conflictsOf(view.store),
    stop: async () => {
      reconciler.stop();
      usedWriter.stop();
      await view.stop();
    },
  };
}
