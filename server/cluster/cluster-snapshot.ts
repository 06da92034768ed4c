// The live cluster read once into a SnapshotView, for `tenantguard audit --kubeconfig`. Unlike the
// LiveView's informers it keeps whole objects (pod-security judges the full pod spec, not the
// projection the webhook caches) and it does not watch: an audit reports one point in time.
import type { KubeObject, TenantSpec, ViewKind } from '../../policies/types.js';
import { collectionPath, discoverResources, type ApiResource } from './discovery.js';
import { KubeApiError, type KubeClient } from '../../platform/kube-client.js';
import { SnapshotView } from './snapshot-view.js';

/** The cluster could not be read (unreachable, forbidden, a named namespace missing). */
export class ClusterReadError extends Error {
  override name = 'ClusterReadError';
}

export interface ClusterSnapshotOptions {
  /** Read namespaced objects of these namespaces only (each must exist); all when absent. */
  namespaces?: readonly string[];
  /** Items per list call (limit/continue), so that no single answer carries a whole large collection. */
  pageSize?: number;
  signal?: AbortSignal;
}

export interface ClusterSnapshot {
  view: SnapshotView;
  /** What discovery found served: the core kinds, Tenant and KubeVirt's kinds where installed. */
  resources: ApiResource[];
}

/** kubectl's default --chunk-size. */
export const DEFAULT_PAGE_SIZE = 500;

/** Namespaced kinds the policies look up cluster-wide: the KubeVirt CR configures every launcher pod. */
const READ_IN_EVERY_NAMESPACE: ReadonlySet<ViewKind> = new Set<ViewKind>(['KubeVirt']);

/** "GET /api/v1/pods: 403 Forbidden: ..." without the method and path, which the caller restates. */
function detailOf(err: Error, path: string): string {
  const prefix = `GET ${path}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/** Reads every object of every kind the cluster view keeps into a new SnapshotView. */
export async function loadClusterSnapshot(
  client: KubeClient,
  defaultTenant: TenantSpec,
  opts: ClusterSnapshotOptions = {},
): Promise<ClusterSnapshot> {
  const server = client.kubeConfig.getCurrentCluster()!.server.replace(/\/+$/, '');
  const view = new SnapshotView(defaultTenant);

  let resources: ApiResource[];
  try {
    resources = await discoverResources(client, opts.signal);
  } catch (err) {
    throw new ClusterReadError(`cannot discover the API groups of ${server}: ${(err as Error).message}`);
  }

  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  for (const r of resources) {
    const apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
    // Items of a typed list come without kind and apiVersion; the audit needs both.
    const typed = (obj: KubeObject): KubeObject => {
      obj.apiVersion = apiVersion;
      obj.kind = r.kind;
      return obj;
    };
    if (r.kind === 'Namespace' && opts.namespaces) {
      for (const ns of opts.namespaces) view.add(typed(await getNamespace(client, server, ns, opts.signal)), server);
      continue;
    }
    const scopes = r.namespaced && opts.namespaces && !READ_IN_EVERY_NAMESPACE.has(r.kind) ? opts.namespaces : [undefined];
    for (const ns of scopes) {
      const path = collectionPath(r, ns);
      let items: KubeObject[];
      try {
        ({ items } = await client.list(path, { pageSize, signal: opts.signal, operation: `list ${r.plural}`, map: typed }));
      } catch (err) {
        throw new ClusterReadError(`cannot list ${r.kind} objects at ${server}${path}: ${detailOf(err as Error, path)}`);
      }
      for (const obj of items) view.add(obj, server);
    }
  }
  return { view, resources };
}

async function getNamespace(client: KubeClient, server: string, name: string, signal: AbortSignal | undefined): Promise<KubeObject> {
  const path = `/api/v1/namespaces/${encodeURIComponent(name)}`;
  try {
    return await client.request('GET', path, { signal, operation: 'get namespace' });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) throw new ClusterReadError(`namespace ${name} does not exist in ${server}`);
    throw new ClusterReadError(`cannot read Namespace ${name} at ${server}${path}: ${detailOf(err as Error, path)}`);
  }
}
