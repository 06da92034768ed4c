// Which view reads an object's charge made, so that a store change recharges exactly the objects
// whose charge it can change (issue 20 item 5). A charge is a pure function of the object, the view
// reads it makes (get and list), the KubeVirt resource configuration and its namespace's tenant
// settings (policies/quota/charge.ts): the reads are recorded by wrapping the view, the other two
// are followed by observed-usage.ts itself.
import type { ClusterView, KubeObject, TenantBinding, ViewKind } from '../../policies/types.js';
import { CLUSTER_SCOPED } from './object-store.js';

/** A pseudo read: the KubeVirt CR's resource configuration (kubevirtConfigOf), read through ChargeContext.kubevirt. */
export const KUBEVIRT_CONFIG_READ = '#kubevirt-config';

/** The read key of one object, as get() records it and a store change of that object names it. */
export function objectRead(kind: ViewKind, namespace: string | undefined, name: string): string {
  return `${kind}/${CLUSTER_SCOPED.has(kind) ? '' : (namespace ?? '')}/${name}`;
}

/** The read key of a list: one namespace (or a cluster-scoped kind), or every namespace. */
export function listRead(kind: ViewKind, namespace: string | undefined): string {
  if (CLUSTER_SCOPED.has(kind)) return `${kind}//*`;
  return namespace === undefined ? `${kind}/*` : `${kind}/${namespace}/*`;
}

/** A pseudo read: which Tenant claims a namespace, and with what settings. */
export function tenancyRead(namespace: string): string {
  return `#tenancy/${namespace}`;
}

/** The read keys a change of one object invalidates: reads of it, and lists that hold it. */
export function readsChangedBy(kind: ViewKind, namespace: string, name: string): string[] {
  const keys = [objectRead(kind, namespace, name), listRead(kind, namespace)];
  if (!CLUSTER_SCOPED.has(kind)) keys.push(listRead(kind, undefined));
  return keys;
}

/** A view that notes every read; one per charge computation. */
export class RecordingView implements ClusterView {
  readonly reads = new Set<string>();

  constructor(private readonly view: ClusterView) {}

  get(kind: ViewKind, namespace: string | undefined, name: string): KubeObject | undefined {
    this.reads.add(objectRead(kind, namespace, name));
    return this.view.get(kind, namespace, name);
  }

  list(kind: ViewKind, namespace?: string): readonly KubeObject[] {
    this.reads.add(listRead(kind, namespace));
    return this.view.list(kind, namespace);
  }

  tenantOf(namespace: string): TenantBinding {
    this.reads.add(tenancyRead(namespace));
    return this.view.tenantOf(namespace);
  }
}
