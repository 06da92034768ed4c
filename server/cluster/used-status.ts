// What a Tenant's status shows of its observed usage (issue 20 item 9, issue 22): `used`, every
// resource as Kubernetes quantities, and which namespaces use the quota: `usedByNamespace`, the
// TOP_NAMESPACES namespaces with the largest share of any limit in `hard` (largest first), each with
// the limited resources it uses, and `usedByOtherNamespaces`, the rest summed. Bounded whatever the
// tenant owns, so the status stays small. The writer and the reconcile both build it here.
import type { ObservedUsage } from './observed-usage.js';
import { formatUsed } from './tenant-status.js';
import { parseHard, usedForStatus } from '../../policies/quota/resources.js';
import type { KubeObject, ResourceAmounts } from '../../policies/types.js';

/** Namespaces listed one by one; the rest are summed. */
export const TOP_NAMESPACES = 10;
/** Resources listed per namespace, the largest shares first (the CRD's maxProperties). */
export const MAX_NAMESPACE_RESOURCES = 32;

export interface NamespaceUsed {
  namespace: string;
  used: Record<string, string>;
}

export interface UsedStatus {
  used: Record<string, string>;
  usedByNamespace: NamespaceUsed[];
  /** Absent when every namespace with usage is listed. */
  usedByOtherNamespaces?: { namespaces: number; used: Record<string, string> };
}

/** used / hard; a resource limited to 0 that is used counts as the largest share. */
function share(used: number, hard: number): number {
  if (used <= 0) return 0;
  return hard > 0 ? used / hard : Infinity;
}

/** The limited resources a namespace uses, the largest shares first, at most MAX_NAMESPACE_RESOURCES. */
function limitedUse(amounts: Readonly<ResourceAmounts>, hard: Readonly<ResourceAmounts>): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const [resource, limit] of Object.entries(hard)) {
    const used = amounts[resource] ?? 0;
    const s = share(used, limit);
    if (s > 0) out.push([resource, used, s]);
  }
  return out.sort((a, b) => b[2] - a[2] || a[0].localeCompare(b[0])).slice(0, MAX_NAMESPACE_RESOURCES);
}

function formatted(entries: ReadonlyArray<[string, number, number]>): Record<string, string> {
  return formatUsed(Object.fromEntries(entries.map(([r, v]) => [r, v])));
}

export function usedStatus(total: Readonly<ResourceAmounts>, byNamespace: ReadonlyMap<string, Readonly<ResourceAmounts>>, hard: Readonly<ResourceAmounts>): UsedStatus {
  const ranked = [...byNamespace]
    .map(([namespace, amounts]) => ({ namespace, amounts, use: limitedUse(amounts, hard) }))
    .filter((n) => n.use.length > 0)
    .sort((a, b) => b.use[0]![2] - a.use[0]![2] || a.namespace.localeCompare(b.namespace));
  const status: UsedStatus = {
    // Storage shows as 0 before the first claim (a `kubectl get tenants` column).
    used: formatUsed(usedForStatus(total)),
    usedByNamespace: ranked.slice(0, TOP_NAMESPACES).map((n) => ({ namespace: n.namespace, used: formatted(n.use) })),
  };
  const rest = ranked.slice(TOP_NAMESPACES);
  if (rest.length > 0) {
    const sum: ResourceAmounts = {};
    for (const n of rest) for (const [r, v] of Object.entries(n.amounts)) sum[r] = (sum[r] ?? 0) + v;
    status.usedByOtherNamespaces = { namespaces: rest.length, used: formatted(limitedUse(sum, hard)) };
  }
  return status;
}

/** A Tenant's UsedStatus from the observed usage; a `hard` that does not parse lists no namespace (the quota module reports it). */
export function usedStatusOf(observed: ObservedUsage, tenant: KubeObject): UsedStatus {
  const name = tenant.metadata?.name ?? '';
  let hard: Readonly<ResourceAmounts>;
  try {
    hard = parseHard(tenant.spec?.quota?.hard);
  } catch {
    hard = {};
  }
  return usedStatus(observed.tenantUsage(name), observed.usageByNamespace(name), hard);
}
