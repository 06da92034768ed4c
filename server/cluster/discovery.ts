// Which of the kinds the cluster view keeps this apiserver serves (SPEC 7): the core kinds always,
// Tenant once its CRD is installed, and the KubeVirt and CDI kinds only where installed, each
// at its group's preferred version (pool.kubevirt.io and instancetype.kubevirt.io moved versions
// across KubeVirt releases; the apiserver says which one it serves).
import type { ViewKind } from '../../policies/types.js';
import type { KubeClient } from '../../platform/kube-client.js';

export interface ApiResource {
  kind: ViewKind;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** Only the objects with these labels are listed and watched. */
  labelSelector?: string;
}

/** The kinds that live in optional API groups, by group. */
const OPTIONAL: Record<string, readonly ViewKind[]> = {
  'tenantguard.io': ['Tenant'],
  'kubevirt.io': [
    'VirtualMachine',
    'VirtualMachineInstance',
    'VirtualMachineInstanceReplicaSet',
    'VirtualMachineInstanceMigration',
    'KubeVirt',
  ],
  'pool.kubevirt.io': ['VirtualMachinePool'],
  'instancetype.kubevirt.io': ['VirtualMachineInstancetype', 'VirtualMachineClusterInstancetype'],
  'cdi.kubevirt.io': ['DataVolume', 'CDIConfig'],
  // The restore size a DataVolume cloned from a snapshot takes (CSI snapshots, where installed).
  'snapshot.storage.k8s.io': ['VolumeSnapshot'],
};

/** Served by every conformant apiserver: no discovery needed. */
export const CORE_RESOURCES: readonly ApiResource[] = [
  { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true },
  { kind: 'NetworkPolicy', group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespaced: true },
  { kind: 'PersistentVolumeClaim', group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true },
  { kind: 'StorageClass', group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses', namespaced: false },
];

/**
 * The ControllerRevisions KubeVirt stores of the instancetypes and preferences its VMs run with
 * (kubevirt pkg/instancetype/revision/store.go CreateControllerRevision labels each with
 * instancetype.kubevirt.io/object-kind): watched where instancetypes exist, and only those, since
 * StatefulSets and DaemonSets keep whole pod templates in theirs.
 */
export const INSTANCETYPE_REVISIONS: ApiResource = {
  kind: 'ControllerRevision',
  group: 'apps',
  version: 'v1',
  plural: 'controllerrevisions',
  namespaced: true,
  labelSelector: 'instancetype.kubevirt.io/object-kind',
};

/** The collection path: cluster-wide, or in one namespace for namespaced kinds. */
export function collectionPath(r: ApiResource, namespace?: string): string {
  const prefix = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespaced && namespace !== undefined
    ? `${prefix}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`
    : `${prefix}/${r.plural}`;
}

interface APIGroupList {
  groups?: Array<{ name: string; preferredVersion?: { version: string }; versions?: Array<{ version: string }> }>;
}

interface APIResourceList {
  resources?: Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }>;
}

/** The resources of every kind the view keeps that this apiserver serves and lets us list and watch. */
export async function discoverResources(client: KubeClient, signal?: AbortSignal): Promise<ApiResource[]> {
  const found: ApiResource[] = [...CORE_RESOURCES];
  const groups = await client.request<APIGroupList>('GET', '/apis', { signal, operation: 'discovery /apis' });
  for (const g of groups.groups ?? []) {
    const kinds = OPTIONAL[g.name];
    if (!kinds) continue;
    const version = g.preferredVersion?.version ?? g.versions?.[0]?.version;
    if (!version) continue;
    const list = await client.request<APIResourceList>('GET', `/apis/${g.name}/${version}`, {
      signal,
      operation: `discovery ${g.name}/${version}`,
    });
    for (const r of list.resources ?? []) {
      // Subresources (virtualmachines/status) share the kind; only the top-level resource is listed.
      if (r.name.includes('/') || !kinds.includes(r.kind as ViewKind)) continue;
      if (r.verbs && !(r.verbs.includes('list') && r.verbs.includes('watch'))) continue;
      found.push({ kind: r.kind as ViewKind, group: g.name, version, plural: r.name, namespaced: r.namespaced });
    }
    if (g.name === 'instancetype.kubevirt.io') found.push(INSTANCETYPE_REVISIONS);
  }
  return found;
}
