// N tenantguard replicas against one fake apiserver, each as a real one is built: its own LiveView,
// TenantStatusLedger (grants in status.escrow, entries in status.reservations), reconciler and the tenant-quota module, with a
// fake clock shared by the ledgers so that TTLs and grace periods can be stepped through.
import type { Test } from 'tap';
import { PolicyEngine } from '../../policies/engine.js';
import { tenantQuota } from '../../policies/quota/module.js';
import type { AdmissionRequest } from '../../policies/types.js';
import { TenantReconciler } from '../../server/cluster/reconcile.js';
import type { ReservationEntry } from '../../server/quota-ledger/reservation-book.js';
import { TenantStatusLedger, type TenantLedgerOptions } from '../../server/quota-ledger/tenant-ledger.js';
import type { LiveView } from '../../server/cluster/live-view.js';
import { DEFAULT_CONFIG } from '../../server/config.js';
import { ApiserverAdmission } from './apiserver-admission.js';
import { liveCluster, namespace, tenant, until, type LiveCluster } from './live-cluster.js';

export interface Replica {
  view: LiveView;
  engine: PolicyEngine;
  ledger: TenantStatusLedger;
  reconciler: TenantReconciler;
  expired: ReservationEntry[];
}

export interface Replicas {
  c: LiveCluster;
  replicas: Replica[];
  /** Reviews go to the replicas in turn, as a Service spreads them. */
  admission: ApiserverAdmission;
  clock: { now: number };
  /** Sends one review to one replica (a retry may land on another). */
  review(request: AdmissionRequest, replica: number): Promise<{ allowed: boolean; status?: { message: string } }>;
  tenantStatus(): Record<string, any> | undefined;
  /** Every replica's view has caught up with the apiserver's pods. */
  settled(): Promise<void>;
}

export interface ReplicasOptions {
  ttlMs?: number;
  /** The ledgers read the wall clock instead of the shared stepped one (benches). */
  realClock?: boolean;
  ledger?: Partial<TenantLedgerOptions>;
}

export async function quotaReplicas(t: Pick<Test, 'teardown'>, n: number, ns: string, hard: Record<string, string>, opts: ReplicasOptions = {}): Promise<Replicas> {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(namespace(ns));
  c.api.apply(tenant('tenant-a', { namespaces: [ns], quota: { hard } }));
  const clock = { now: Date.now() };
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const view = await c.view();
    await view.waitForSync(AbortSignal.timeout(5000));
    await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
    const expired: ReservationEntry[] = [];
    const ledger = new TenantStatusLedger(c.client(), view, {
      now: opts.realClock ? Date.now : () => clock.now,
      backoffMs: 2,
      maxAttempts: 20,
      ...(opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }),
      events: { expired: (e) => expired.push(e) },
      replicaId: `replica-${i}`,
      ...opts.ledger,
    });
    const engine = new PolicyEngine(
      [tenantQuota],
      {
        exemptions: { namespaces: [], usernames: [], groups: [] },
        modules: { 'tenant-quota': DEFAULT_CONFIG.modules['tenant-quota']! },
        settings: { kubevirtServiceAccounts: DEFAULT_CONFIG.kubevirt.serviceAccounts },
      },
      { view, ledger },
    );
    replicas.push({ view, engine, ledger, reconciler: new TenantReconciler(c.client(), view, ledger), expired });
  }
  let next = 0;
  const review = (request: AdmissionRequest, replica: number) => replicas[replica % n]!.engine.review(request, 'validate');
  const admission = new ApiserverAdmission(c.api, (request) => review(request, next++));
  return {
    c,
    replicas,
    admission,
    clock,
    review,
    tenantStatus: () => c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status as Record<string, any> | undefined,
    async settled() {
      const want = () => c.api.count('v1', 'Pod');
      await until('every replica has observed every pod', () => replicas.every((r) => r.ledger.observed.tenantUsage('tenant-a')['count/pods'] === want()), 10_000);
    },
  };
}
