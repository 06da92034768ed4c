// A launcher pod that arrives before its VMI's watch event (SPEC 6.4, 7): KubeVirt creates the VMI
// and at once its virt-launcher pod, and the pod's review can reach tenantguard before the informer
// has delivered the VMI. Judged on the cache alone, the pod would lack its VMI: no launcher stamp,
// refused by pod-security under enforce, charged in full by quota for its life. So when a pod CREATE
// shows every sign that needs no lookup (policies/kube/virt-launcher.ts claimedLauncherVmi) and the
// cache has no VMI of that name and uid, the engine confirms it with a live read (bounded, as the
// NetworkPolicy check confirms a miss) and judges the review, in every module, with the VMI the
// API server has. A read that fails or runs out of time leaves the cache's verdict: an ordinary pod.
import { claimedLauncherVmi } from './kube/virt-launcher.js';
import type { AdmissionRequest, ClusterView, KubeObject, ModuleSettings, OwnerReference, ViewKind } from './types.js';

/** Bound on the live read, well inside the apiserver's 10 s webhook timeout. */
export const LIVE_CONFIRM_TIMEOUT_MS = 500;

/** The view to judge the review with: the cache, or the cache plus the launcher's VMI read live. */
export function confirmLauncherVmi(request: AdmissionRequest, view: ClusterView, settings: ModuleSettings): ClusterView | Promise<ClusterView> {
  const pod = request.object;
  if (!view.getLive || !pod || request.operation !== 'CREATE' || request.subResource || request.kind.group !== '' || request.kind.kind !== 'Pod') return view;
  const owner = claimedLauncherVmi(request, pod, view, settings);
  const namespace = request.namespace ?? pod.metadata?.namespace;
  if (owner === undefined || !namespace || !owner.uid) return view;
  if (view.get('VirtualMachineInstance', namespace, owner.name)?.metadata?.uid === owner.uid) return view;
  return confirm(view as ClusterView & Required<Pick<ClusterView, 'getLive'>>, namespace, owner);
}

async function confirm(view: ClusterView & Required<Pick<ClusterView, 'getLive'>>, namespace: string, owner: OwnerReference): Promise<ClusterView> {
  let live: KubeObject | undefined;
  try {
    live = await view.getLive('VirtualMachineInstance', namespace, owner.name, AbortSignal.timeout(LIVE_CONFIRM_TIMEOUT_MS));
  } catch {
    return view;
  }
  return live?.metadata?.uid === owner.uid ? withObject(view, 'VirtualMachineInstance', namespace, live) : view;
}

/** `view` with one object the cache has not got yet (or has at an older uid) put in its place. */
export function withObject(view: ClusterView, kind: ViewKind, namespace: string, obj: KubeObject): ClusterView {
  const name = obj.metadata?.name;
  const mine = (k: ViewKind, ns: string | undefined) => k === kind && ns === namespace;
  return {
    get: (k, ns, n) => (mine(k, ns) && n === name ? obj : view.get(k, ns, n)),
    list: (k, ns) => (mine(k, ns) ? [...view.list(k, ns).filter((o) => o.metadata?.name !== name), obj] : view.list(k, ns)),
    tenantOf: (ns) => view.tenantOf(ns),
    ...(view.listLive ? { listLive: view.listLive.bind(view) } : {}),
    ...(view.getLive ? { getLive: view.getLive.bind(view) } : {}),
  };
}
