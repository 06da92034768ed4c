// Writes a Tenant's status.used (and usedByNamespace) within a couple of seconds of the observed
// usage changing (issue 20 item 9), instead of at the next reconcile (which stays the backstop).
// Debounced per tenant: the first change starts a timer of debounceMs, later changes ride along, so
// a tenant gets at most one write per debounceMs however busy it is.
//
// Every replica runs it, and writes only when what its view computes differs from the status its
// view holds: replicas that agree write once (the apiserver drops a patch that changes nothing), and
// by the time a debounce ends their views have converged. The write is a merge patch of the usage
// fields only, without a resourceVersion precondition: it never rewrites the reservations, and the
// ledger's optimistic read-modify-write (tenant-status.ts) that it overtakes gets a 409 and retries.
import type { TenantIndex } from '../../policies/kube/tenants.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import type { ObjectStore } from './object-store.js';
import type { ObservedUsage } from './observed-usage.js';
import { DEFAULT_STATUS_WRITE, tenantPath } from './tenant-status.js';
import { usedStatusOf, type UsedStatus } from './used-status.js';

export interface UsedWriterOptions {
  /** How long after the first change a tenant's usage is written (default 1s). */
  debounceMs?: number;
  requestTimeoutMs?: number;
  /** Whether the view has synced: a half-listed view would show too little, so writes wait for it. */
  synced?: () => boolean;
  /** A write failed (the next change, or the reconcile, writes it again). */
  onError?: (tenant: string, err: Error) => void;
  /** A tenant's usage was written. */
  onWritten?: (tenant: string) => void;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The merge patch that makes the status show `desired`: resources no longer used are removed (null). */
function usedPatch(desired: UsedStatus, current: Record<string, unknown> | undefined): Record<string, unknown> {
  const used: Record<string, string | null> = { ...desired.used };
  const before = current?.used;
  if (before !== null && typeof before === 'object') for (const r of Object.keys(before)) if (!(r in used)) used[r] = null;
  return { status: { used, usedByNamespace: desired.usedByNamespace, usedByOtherNamespaces: desired.usedByOtherNamespaces ?? null } };
}

export class UsedStatusWriter {
  private readonly debounceMs: number;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private index: TenantIndex | undefined;
  private running = false;

  constructor(
    private readonly client: KubeClient,
    private readonly store: ObjectStore,
    private readonly observed: ObservedUsage,
    private readonly opts: UsedWriterOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? 1000;
    observed.onChange((namespace) => this.namespaceChanged(namespace));
    // A namespace moved between Tenants changes both Tenants' usage without any charge moving.
    store.subscribe((change) => {
      if (change.kind !== 'Tenant' && change.kind !== 'Namespace') return;
      const index = store.tenants();
      if (index === this.index) return;
      this.index = index;
      for (const t of store.list('Tenant')) this.schedule(t.metadata?.name ?? '');
    });
  }

  start(): void {
    this.running = true;
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private namespaceChanged(namespace: string): void {
    const binding = this.store.tenantOf(namespace);
    if (binding.name === undefined) return;
    this.schedule(binding.name);
    for (const other of binding.conflicts) this.schedule(other);
  }

  private schedule(tenant: string): void {
    if (!this.running || tenant === '' || this.timers.has(tenant)) return;
    const timer = setTimeout(() => {
      this.timers.delete(tenant);
      if (this.opts.synced?.() === false) return this.schedule(tenant);
      this.write(tenant).catch((err: unknown) => this.opts.onError?.(tenant, err instanceof Error ? err : new Error(String(err))));
    }, this.debounceMs);
    timer.unref();
    this.timers.set(tenant, timer);
  }

  /** Writes the tenant's usage if its status (as this replica's view holds it) shows something else; whether it wrote. */
  async write(tenant: string): Promise<boolean> {
    const cached = this.store.get('Tenant', undefined, tenant);
    if (cached === undefined) return false;
    const desired = usedStatusOf(this.observed, cached);
    const current = cached.status as Record<string, unknown> | undefined;
    if (
      sameJson(desired.used, current?.used) &&
      sameJson(desired.usedByNamespace, current?.usedByNamespace) &&
      sameJson(desired.usedByOtherNamespaces, current?.usedByOtherNamespaces)
    ) {
      return false;
    }
    try {
      await this.client.request('PATCH', `${tenantPath(tenant)}/status`, {
        body: usedPatch(desired, current),
        contentType: 'application/merge-patch+json',
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? DEFAULT_STATUS_WRITE.requestTimeoutMs),
        operation: 'patch tenant status used',
      });
    } catch (err) {
      // Deleted meanwhile: nothing to show the usage on.
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
    this.opts.onWritten?.(tenant);
    return true;
  }
}
