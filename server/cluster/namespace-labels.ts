// Keeps the `tenantguard.io/tenant` label on exactly the namespaces a Tenant claims (SPEC 11.1).
// The webhook configurations select namespaces by that label (or by the operator's opt-in label
// `tenantguard.io/enabled: "true"`), so a Tenant's namespaces are always reviewed while every other
// namespace is left alone by a tenantguard outage. A Tenant's namespaceSelector can match on any
// label, which the apiserver's webhook namespaceSelector cannot follow; this label translates one
// into the other. Run from the periodic reconcile: one pass reads the cached namespaces (no API
// list) and writes only where the label is wrong, so converged passes write nothing.
import type { ClusterView, KubeObject } from '../../policies/types.js';
import { KubeApiError, type KubeClient } from '../../platform/kube-client.js';

export const TENANT_LABEL = 'tenantguard.io/tenant';
export const OPT_IN_LABEL = 'tenantguard.io/enabled';

/** Label values: at most 63 characters, alphanumeric at both ends, '-', '_' and '.' inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * The label's value for a namespace the Tenant `name` claims: the Tenant's name, so that
 * `kubectl get ns -L tenantguard.io/tenant` shows who owns what. Tenant names are DNS subdomains
 * of up to 253 characters; one too long for a label value is marked with an empty value (the
 * webhooks select on the key alone).
 */
export function tenantLabelValue(name: string): string {
  return name.length <= 63 && LABEL_VALUE.test(name) ? name : '';
}

export interface NamespaceLabelPass {
  /** Namespaces whose label was set or changed (name -> new value). */
  labelled: Record<string, string>;
  /** Namespaces whose label was removed because no Tenant claims them any more. */
  unlabelled: string[];
  /** Namespaces the patch failed for; the next pass tries again. */
  failed: Array<{ namespace: string; error: string }>;
}

export class NamespaceLabelKeeper {
  constructor(
    private readonly client: KubeClient,
    private readonly view: Pick<ClusterView, 'list' | 'tenantOf'>,
  ) {}

  /** The label each namespace should carry: the claiming Tenant's label value, or none (undefined). */
  wanted(namespace: KubeObject): string | undefined {
    const tenant = this.view.tenantOf(namespace.metadata!.name!).name;
    return tenant === undefined ? undefined : tenantLabelValue(tenant);
  }

  /**
   * One pass over the cached namespaces. Patches are JSON merge patches of the one label, without
   * a resourceVersion precondition: they touch nothing else, and a claim that changes meanwhile is
   * corrected by the next pass. Namespaces being deleted are skipped (nothing can be created there).
   */
  async pass(signal?: AbortSignal): Promise<NamespaceLabelPass> {
    const result: NamespaceLabelPass = { labelled: {}, unlabelled: [], failed: [] };
    for (const ns of this.view.list('Namespace')) {
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
    return result;
  }
}
