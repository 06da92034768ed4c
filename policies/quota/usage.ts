// The reconcile (SPEC 6.4): a tenant's usage recomputed from the objects that exist, so that charges
// for creates that later failed, and everything freed without a review, are repaired.
//
//   tenantUsage(view, namespaces, settings, vmCharging, nowMs?, podDefaults?, onProblem?, limits?) -> Charge
//     Sums chargeOf over every Pod, VirtualMachine, VirtualMachineInstance, replica set, pool, PVC
//     and DataVolume in `namespaces`, each object once; O(objects in those namespaces). `settings` is the shared
//     entry-point contract's; the reconcile has no requester, so it recognises KubeVirt's pods by
//     their VMI's status (launcher-pods.ts), not by user. `nowMs` is the caller's clock: with it, pods
//     past their deletion grace stop costing, as in the built-in quota; without it they cost until gone.
//     With `limits`, each charge keeps only what they name beyond the fixed resources (accountedCharge).
//
//   usageByTenant(view, settings, nowMs?, onProblem?) -> Map<tenant, ResourceAmounts>
//     Every Tenant's usage (zero for one without namespaces), each with its own vmCharging (snapshot mode after load or apply,
//     and the live ledger's periodic reconcile). onProblem(tenant, problem) hears what could not be
//     known and was charged as far as it could be (an instancetype gone), for the Tenant's status.
import type { ClusterView, ModuleSettings, ResourceAmounts, TenantBinding } from '../types.js';
import { CHARGED_KINDS, chargeOf, type ChargeContext } from './charge.js';
import { kubevirtConfigOf } from './kubevirt-launcher-resources.js';
import type { PodDefaults } from './pod-charge.js';
import { podDefaultsOf } from './pod-constraints.js';
import { accountedBy, accountedCharge, addCharge, claimantLimits, zeroCharge, type Charge } from './resources.js';
import type { VmCharging } from './vm-charge.js';

export function tenantUsage(
  view: ClusterView,
  namespaces: readonly string[],
  settings: ModuleSettings,
  vmCharging: VmCharging,
  nowMs?: number,
  podDefaults?: PodDefaults,
  onProblem?: (problem: string) => void,
  limits?: readonly Readonly<ResourceAmounts>[],
): Charge {
  const kubevirt = kubevirtConfigOf(view);
  const total = zeroCharge();
  for (const namespace of namespaces) {
    const ctx: ChargeContext = {
      view,
      namespace,
      vmCharging,
      kubevirt,
      nowMs,
      podDefaults,
      onProblem: onProblem && ((p) => onProblem(`${namespace}: ${p}`)),
      ...(limits ? { accounts: accountedBy(limits) } : {}),
    };
    for (const kind of CHARGED_KINDS) {
      for (const obj of view.list(kind, namespace)) {
        // A disk whose size cannot be known is counted without its size, and reported.
        const onUnknownSize =
          onProblem && (kind === 'VirtualMachine' || kind === 'DataVolume') ? (p: string) => onProblem(`${namespace}: ${kind} ${obj.metadata?.name ?? '?'}: ${p}`) : undefined;
        try {
          const charge = chargeOf(kind, obj, onUnknownSize ? { ...ctx, onUnknownSize } : ctx);
          addCharge(total, limits ? accountedCharge(charge, limits) : charge);
        } catch (err) {
          throw new Error(`${kind} ${namespace}/${obj.metadata?.name ?? '?'}: ${(err as Error).message}`);
        }
      }
    }
  }
  return total;
}

/** Namespaces that exist plus those a Tenant lists by name (they belong to it before they exist). */
function knownNamespaces(view: ClusterView): Set<string> {
  const names = new Set<string>();
  for (const ns of view.list('Namespace')) if (ns.metadata?.name) names.add(ns.metadata.name);
  for (const t of view.list('Tenant')) {
    const listed = t.spec?.namespaces;
    if (Array.isArray(listed)) for (const n of listed) if (typeof n === 'string') names.add(n);
  }
  return names;
}

export function usageByTenant(
  view: ClusterView,
  settings: ModuleSettings,
  nowMs?: number,
  onProblem?: (tenant: string, problem: string) => void,
): Map<string, ResourceAmounts> {
  const namespacesOf = new Map<string, Array<{ namespace: string; binding: TenantBinding; limits: Readonly<ResourceAmounts>[] }>>();
  for (const namespace of knownNamespaces(view)) {
    const binding = view.tenantOf(namespace);
    if (binding.name === undefined) continue;
    // A namespace two Tenants claim counts for both, each judged against its own hard; what its
    // objects are charged keeps what any of them limits (accountedCharge).
    const limits = claimantLimits(binding);
    for (const tenant of [binding.name, ...binding.conflicts]) {
      let list = namespacesOf.get(tenant);
      if (!list) namespacesOf.set(tenant, (list = []));
      list.push({ namespace, binding, limits });
    }
  }
  const out = new Map<string, ResourceAmounts>();
  // A Tenant that owns no namespace (any more) uses nothing.
  for (const t of view.list('Tenant')) if (t.metadata?.name) out.set(t.metadata.name, zeroCharge());
  for (const [tenant, list] of namespacesOf) {
    const total = zeroCharge();
    for (const { namespace, binding, limits } of list) {
      const quota = binding.spec.quota;
      const report = onProblem && ((p: string) => onProblem(tenant, p));
      addCharge(total, tenantUsage(view, [namespace], settings, quota?.vmCharging ?? 'pod', nowMs, podDefaultsOf(quota?.defaultRequests), report, limits));
    }
    out.set(tenant, total);
  }
  return out;
}
