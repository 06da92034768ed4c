// Read-modify-write of a Tenant's status with optimistic concurrency, as the built-in ResourceQuota
// admission writes quota status: read, change, replace /status with the read resourceVersion as
// precondition; a 409 means another writer came first, so read and change again (bounded, with a
// jittered backoff). The quota ledger and the reconcile both write through it.
import { formatMilli, formatUnits, parseMilli, parseUnits } from '../../policies/kube/quantity.js';
import { isCpu } from '../../policies/quota/resources.js';
import type { KubeObject, ResourceAmounts } from '../../policies/types.js';
import { KubeApiError, type KubeClient } from '../../platform/kube-client.js';

export const TENANT_API = '/apis/tenantguard.io/v1alpha1/tenants';

export class TenantStatusConflictError extends Error {
  override readonly name = 'TenantStatusConflictError';
}

export interface StatusWriteOptions {
  /** Write attempts before giving up under contention (each 409 costs one). */
  maxAttempts: number;
  /** Base of the jittered backoff between attempts: attempt n waits up to n * backoffMs. */
  backoffMs: number;
  /** Bound on each API call. */
  requestTimeoutMs: number;
}

export const DEFAULT_STATUS_WRITE: StatusWriteOptions = { maxAttempts: 8, backoffMs: 10, requestTimeoutMs: 2000 };

export function tenantPath(name: string): string {
  return `${TENANT_API}/${encodeURIComponent(name)}`;
}

/** status.used as canonical amounts; a value that is not a quantity throws naming the field. */
export function parseUsed(tenant: string, used: unknown): ResourceAmounts {
  const out: ResourceAmounts = {};
  if (used === undefined || used === null) return out;
  if (typeof used !== 'object' || Array.isArray(used)) throw new Error(`Tenant "${tenant}": status.used is not a map of quantities`);
  for (const [resource, raw] of Object.entries(used as Record<string, unknown>)) {
    if (typeof raw !== 'string' && typeof raw !== 'number') throw new Error(`Tenant "${tenant}": status.used["${resource}"] is not a quantity`);
    try {
      out[resource] = isCpu(resource) ? parseMilli(raw) : parseUnits(raw);
    } catch (err) {
      throw new Error(`Tenant "${tenant}": status.used["${resource}"]: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Canonical amounts as Kubernetes quantity strings (what `kubectl get tenants -o yaml` shows). */
export function formatUsed(amounts: ResourceAmounts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const resource of Object.keys(amounts).sort()) {
    const v = amounts[resource]!;
    out[resource] = isCpu(resource) ? formatMilli(v) : formatUnits(v);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads the Tenant and replaces its status with what `mutate` returns (undefined: nothing to
 * write), with the read resourceVersion as precondition; on 409 reads and asks `mutate` again.
 * Returns the Tenant as written, or undefined when `mutate` declined.
 */
export async function updateTenantStatus(
  client: KubeClient,
  name: string,
  mutate: (tenant: KubeObject) => Record<string, unknown> | undefined,
  opts: StatusWriteOptions = DEFAULT_STATUS_WRITE,
): Promise<KubeObject | undefined> {
  for (let attempt = 1; ; attempt++) {
    let tenant: KubeObject;
    try {
      tenant = await client.request('GET', tenantPath(name), {
        signal: AbortSignal.timeout(opts.requestTimeoutMs),
        operation: 'get tenant',
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) throw new Error(`Tenant "${name}" not found`);
      throw err;
    }
    const status = mutate(tenant);
    if (status === undefined) return undefined;
    try {
      return await client.request('PUT', `${tenantPath(name)}/status`, {
        body: { ...tenant, status },
        signal: AbortSignal.timeout(opts.requestTimeoutMs),
        operation: 'update tenant status',
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      if (attempt >= opts.maxAttempts) {
        throw new TenantStatusConflictError(
          `Tenant "${name}": status update still conflicting after ${attempt} attempts (other writers keep changing it)`,
        );
      }
      await sleep(Math.random() * attempt * opts.backoffMs);
    }
  }
}
