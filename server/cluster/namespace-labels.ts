// Keeps the `tenantguard.io/tenant` label on exactly the namespaces a Tenant claims (SPEC 11.1).
// The webhook configurations select namespaces by that label (or by the operator's opt-in label
// `tenantguard.io/enabled: "true"`), so a Tenant's namespaces are always reviewed while every other
// namespace is left alone by a tenantguard outage. A Tenant's namespaceSelector can match on any
// label, which the apiserver's webhook namespaceSelector cannot follow; this label translates one
// into the other. A namespace created or relabelled gets it in that very request
// (policies/namespace-label.ts); what this keeper adds is the namespaces that already exist when a
// Tenant is created or edited. It follows the cluster view's Tenant and Namespace events (follow()),
// and the periodic reconcile runs a full pass as a backstop. Passes read the cached namespaces (no
// API list) and write only where the label is wrong, so converged passes write nothing.
// Each Tenant's status shows whether all of its namespaces carry the label (NamespacesGuarded).
import { TENANT_LABEL, tenantLabelValue } from '../../policies/namespace-label.js';
import type { ClusterView, KubeObject } from '../../policies/types.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import type { ObjectStore } from './object-store.js';
import type { TenantCondition } from './tenant-conditions.js';
import { updateTenantStatus } from './tenant-status.js';

export const NAMESPACES_GUARDED = 'NamespacesGuarded';

/** At most this many unguarded namespaces are named in the condition's message; the rest are counted. */
const NAMED = 5;

export interface NamespaceLabelPass {
  /** Namespaces whose label was set or changed (name -> new value). */
  labelled: Record<string, string>;
  /** Namespaces whose label was removed because no Tenant claims them any more. */
  unlabelled: string[];
  /** Namespaces the patch failed for; the next pass tries again. */
  failed: Array<{ namespace: string; error: string }>;
  /** Tenants whose NamespacesGuarded condition could not be written; the next pass tries again. */
  conditionsFailed: Array<{ tenant: string; error: string }>;
}

/**
 * The cached view the keeper reads. With `waitForSync`, events wait for the initial sync: a view
 * holding the namespaces but not yet the Tenants would have every label removed.
 */
export type KeeperView = Pick<ClusterView, 'list' | 'get' | 'tenantOf'> & { store: ObjectStore; waitForSync?: () => Promise<void> };

type Desired = Pick<TenantCondition, 'type' | 'status' | 'reason' | 'message'>;

/** The condition for a Tenant whose namespaces are all labelled but `unguarded`. */
function namespacesGuarded(value: string, claimed: number, unguarded: readonly string[]): Desired {
  if (unguarded.length === 0) {
    return { type: NAMESPACES_GUARDED, status: 'True', reason: 'AllNamespacesLabelled', message: `all ${claimed} namespaces carry ${TENANT_LABEL}=${JSON.stringify(value)}: every request in them is reviewed` };
  }
  const sorted = [...unguarded].sort();
  const rest = sorted.length - NAMED;
  const names = sorted.slice(0, NAMED).map((n) => `"${n}"`).join(', ') + (rest > 0 ? ` and ${rest} more` : '');
  return { type: NAMESPACES_GUARDED, status: 'False', reason: 'NamespacesNotLabelled', message: `namespaces ${names} do not carry ${TENANT_LABEL} yet: requests in them are not reviewed` };
}

/** The Tenant's conditions with `desired` in place (lastTransitionTime kept while the status stays), or undefined when already so. */
function withCondition(tenant: KubeObject, desired: Desired, now: number): TenantCondition[] | undefined {
  const conditions: TenantCondition[] = Array.isArray(tenant.status?.conditions) ? tenant.status.conditions : [];
  const existing = conditions.find((c) => c.type === desired.type);
  if (existing && existing.status === desired.status && existing.reason === desired.reason && existing.message === desired.message) return undefined;
  const next: TenantCondition = {
    ...desired,
    lastTransitionTime: existing?.status === desired.status ? existing.lastTransitionTime : new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  return [...conditions.filter((c) => c.type !== desired.type), next];
}

export class NamespaceLabelKeeper {
  /** Namespaces a view event asked to check; `everything` after a Tenant change. */
  private readonly queued = new Set<string>();
  private everything = false;
  private draining: Promise<void> | undefined;
  /** The condition last written per Tenant by this keeper: unchanged ones cost no API call. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly view: KeeperView,
    private readonly now: () => number = Date.now,
  ) {}

  /** The label each namespace should carry: the claiming Tenant's label value, or none (undefined). */
  wanted(namespace: KubeObject): string | undefined {
    const tenant = this.view.tenantOf(namespace.metadata!.name!).name;
    return tenant === undefined ? undefined : tenantLabelValue(tenant);
  }

  /** One pass over every cached namespace, then every Tenant's NamespacesGuarded condition. */
  pass(signal?: AbortSignal): Promise<NamespaceLabelPass> {
    return this.run(this.view.list('Namespace'), signal);
  }

  /**
   * Labels at once what the view's events make wrong: a Tenant created, edited or deleted (all
   * namespaces), a namespace added or changed (that one), starting with everything the view holds
   * now. Events are coalesced; one batch runs at a time; `report` gets each batch's result.
   */
  follow(report: (result: NamespaceLabelPass) => void): void {
    this.everything = true;
    this.draining ??= this.drain(report);
    this.view.store.subscribe((change) => {
      if (change.kind === 'Namespace') {
        if (change.object === undefined) return;
        this.queued.add(change.name);
      } else if (change.kind === 'Tenant') {
        // A Tenant's status changes with every reservation; only its spec moves namespaces.
        if (change.object !== undefined && change.previous !== undefined && JSON.stringify(change.object.spec) === JSON.stringify(change.previous.spec)) return;
        this.everything = true;
      } else {
        return;
      }
      this.draining ??= this.drain(report);
    });
  }

  private async drain(report: (result: NamespaceLabelPass) => void): Promise<void> {
    try {
      await this.view.waitForSync?.();
      // Let the burst of events (a kubectl apply of many objects) arrive first.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.everything || this.queued.size > 0) {
        const namespaces = this.everything
          ? this.view.list('Namespace')
          : [...this.queued].flatMap((n): KubeObject[] => {
              const ns = this.view.get('Namespace', undefined, n);
              return ns === undefined ? [] : [ns];
            });
        this.everything = false;
        this.queued.clear();
        report(await this.run(namespaces, AbortSignal.timeout(30_000)));
      }
    } catch (err) {
      report({ labelled: {}, unlabelled: [], failed: [{ namespace: '*', error: (err as Error).message }], conditionsFailed: [] });
    } finally {
      this.draining = undefined;
    }
  }

  /**
   * Patches are JSON merge patches of the one label, without a resourceVersion precondition: they
   * touch nothing else, and a claim that changes meanwhile is corrected by the next event or pass.
   * Namespaces being deleted are skipped (nothing can be created there).
   */
  private async run(namespaces: readonly KubeObject[], signal?: AbortSignal): Promise<NamespaceLabelPass> {
    const result: NamespaceLabelPass = { labelled: {}, unlabelled: [], failed: [], conditionsFailed: [] };
    for (const ns of namespaces) {
      const name = ns.metadata?.name;
      if (!name || ns.metadata?.deletionTimestamp) continue;
      const current = ns.metadata?.labels?.[TENANT_LABEL];
      const wanted = this.wanted(ns);
      if (current === wanted) continue;
      try {
        await this.client.request('PATCH', `/api/v1/namespaces/${encodeURIComponent(name)}`, {
          body: { metadata: { labels: { [TENANT_LABEL]: wanted ?? null } } },
          contentType: 'application/merge-patch+json',
          signal,
          operation: 'patch namespace label',
        });
      } catch (err) {
        if (signal?.aborted) throw err;
        // Deleted since the cache saw it: nothing left to label.
        if (err instanceof KubeApiError && err.status === 404) continue;
        result.failed.push({ namespace: name, error: (err as Error).message });
        continue;
      }
      if (wanted === undefined) result.unlabelled.push(name);
      else result.labelled[name] = wanted;
    }
    await this.writeConditions(result, signal);
    return result;
  }

  /**
   * NamespacesGuarded for every Tenant: its existing namespaces whose label is not (or not yet,
   * as far as the view or this pass knows) its own. Written only where it changed since this keeper
   * last wrote it.
   */
  private async writeConditions(result: NamespaceLabelPass, signal?: AbortSignal): Promise<void> {
    const index = this.view.store.tenants();
    for (const t of this.view.list('Tenant')) {
      const tenant = t.metadata?.name;
      if (!tenant) continue;
      const value = tenantLabelValue(tenant);
      let claimed = 0;
      const unguarded: string[] = [];
      for (const name of index.namespacesOf(tenant)) {
        const ns = this.view.get('Namespace', undefined, name);
        if (ns === undefined || ns.metadata?.deletionTimestamp) continue;
        claimed++;
        const label = name in result.labelled ? result.labelled[name] : ns.metadata?.labels?.[TENANT_LABEL];
        // A namespace two Tenants claim carries the first one's label, and is reviewed for both.
        if (label === undefined || (label !== value && index.tenantOf(name).name === tenant)) unguarded.push(name);
      }
      const desired = namespacesGuarded(value, claimed, unguarded);
      const key = JSON.stringify(desired);
      if (this.written.get(tenant) === key) continue;
      try {
        await updateTenantStatus(this.client, tenant, (fresh) => {
          const conditions = withCondition(fresh, desired, this.now());
          return conditions === undefined ? undefined : { ...(fresh.status as Record<string, unknown> | undefined), conditions };
        });
        this.written.set(tenant, key);
      } catch (err) {
        if (signal?.aborted) throw err;
        result.conditionsFailed.push({ tenant, error: (err as Error).message });
      }
    }
  }
}
