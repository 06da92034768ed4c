// Pods that request nothing (SPEC 6.4 "Extended resources"), as the built-in quota treats them:
// where a quota names requests.cpu or requests.memory, every container (app and init) must request
// that resource, or the pod is refused (k8s.io/kubernetes pkg/quota/v1/evaluator/core/pods.go
// Constraints and enforcePodContainerConstraints: "must specify <resource> for: <containers>; ...",
// wrapped by the admission plugin as "failed quota: <quota name>: ..."). A request may come from its
// limit (the API defaults one to the other). The Tenant's quota.defaultRequests stand in for a
// missing request (and are charged in its place, pod-charge.ts).
// Unlike the built-in quota, a pod without limits is not refused where limits.* are constrained:
// it adds nothing to limits.* (README, tenant-quota), as SPEC 6.4 asks refusal for requests only.
import { parseMilli, parseUnits } from '../kube/quantity.js';
import type { KubeObject, ResourceAmounts, TenantSpec } from '../types.js';
import type { PodDefaults } from './pod-charge.js';
import { REQUESTS_CPU, REQUESTS_MEMORY } from './resources.js';

const CONSTRAINED = [REQUESTS_CPU, REQUESTS_MEMORY] as const;

type DefaultRequests = NonNullable<NonNullable<TenantSpec['quota']>['defaultRequests']>;

const parsedDefaults = new WeakMap<object, PodDefaults>();

/** quota.defaultRequests in canonical units; a value that is not a quantity throws naming the field. */
export function podDefaultsOf(spec: DefaultRequests | undefined): PodDefaults | undefined {
  if (spec === undefined || spec === null) return undefined;
  let out = parsedDefaults.get(spec);
  if (out !== undefined) return out;
  out = {};
  for (const [name, parse] of [['cpu', parseMilli], ['memory', parseUnits]] as const) {
    const raw = spec[name];
    if (raw === undefined) continue;
    try {
      const amount = parse(raw);
      if (amount < 0) throw new Error('must not be negative');
      out[name] = amount;
    } catch (err) {
      throw new Error(`tenant quota: spec.quota.defaultRequests.${name}: ${(err as Error).message}`);
    }
  }
  parsedDefaults.set(spec, out);
  return out;
}

function has(list: Record<string, unknown> | null | undefined, name: string): boolean {
  return list !== null && list !== undefined && list[name] !== undefined && list[name] !== null;
}

/** The built-in quota's refusal of a pod that leaves out a constrained resource, or undefined. */
export function missingResourcesMessage(tenant: string, pod: KubeObject, hard: Readonly<ResourceAmounts>, defaults: PodDefaults | undefined): string | undefined {
  const required = CONSTRAINED.filter((r) => hard[r] !== undefined);
  if (required.length === 0) return undefined;
  const spec = pod.spec ?? {};
  const podLevel = spec.resources ?? {};
  const missing = new Map<string, string[]>();
  const containers = [...(Array.isArray(spec.containers) ? spec.containers : []), ...(Array.isArray(spec.initContainers) ? spec.initContainers : [])];
  for (const c of containers) {
    const requests = c?.resources?.requests;
    const limits = c?.resources?.limits;
    for (const r of required) {
      const name = r === REQUESTS_CPU ? 'cpu' : 'memory';
      const stated = has(requests, name) || has(limits, name) || has(podLevel.requests, name) || defaults?.[name] !== undefined;
      if (!stated) missing.set(r, [...(missing.get(r) ?? []), String(c?.name ?? '')]);
    }
  }
  if (missing.size === 0) return undefined;
  const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...new Set(missing.get(r))].sort().join(',')}`);
  return `failed quota: ${tenant}: must specify ${parts.join('; ')}`;
}
