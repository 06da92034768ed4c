// ClusterView over a directory of YAML/JSON Kubernetes objects (SPEC 7, snapshot mode). Admitted
// reviews are applied to the in-memory state so a sequence replays as it would on a cluster.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { AdmissionRequest, ClusterView, KubeObject, TenantBinding, TenantSpec, ViewKind } from '../../policies/types.js';
import { isViewKind, ObjectStore } from './object-store.js';

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

/** Parses one file: multi-document YAML or JSON, `kind: List` items flattened. */
export function parseObjects(text: string, file: string): KubeObject[] {
  const out: KubeObject[] = [];
  const docs = parseAllDocuments(text);
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new SnapshotError(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new SnapshotError(`${file}: a document is not a Kubernetes object`);
    const obj = value as KubeObject;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) out.push(...(obj.items as KubeObject[]));
    else out.push(obj);
  }
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/i.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export class SnapshotView implements ClusterView {
  readonly store: ObjectStore;
  /** Objects whose kind the view does not keep; reported so a typo is not silent. */
  readonly ignored: string[] = [];
  private writes = 0;

  constructor(defaultTenant: TenantSpec) {
    this.store = new ObjectStore(defaultTenant);
  }

  static async load(dir: string, defaultTenant: TenantSpec): Promise<SnapshotView> {
    const view = new SnapshotView(defaultTenant);
    let files: string[];
    try {
      files = await filesUnder(dir);
    } catch (err) {
      throw new SnapshotError(`cannot read state directory ${dir}: ${(err as Error).message}`);
    }
    for (const file of files) {
      for (const obj of parseObjects(await readFile(file, 'utf8'), file)) view.add(obj, file);
    }
    return view;
  }

  add(obj: KubeObject, source = 'object'): void {
    if (!isViewKind(obj.kind)) {
      this.ignored.push(`${source}: ${obj.kind ?? '(no kind)'} ${obj.metadata?.name ?? ''}`.trim());
      return;
    }
    if (!obj.metadata?.name) throw new SnapshotError(`${source}: ${obj.kind} without metadata.name`);
    if (!obj.metadata.namespace && obj.kind !== 'Namespace' && obj.kind !== 'Tenant' && obj.kind !== 'VirtualMachineClusterInstancetype') {
      obj.metadata.namespace = 'default';
    }
    this.store.upsert(obj.kind, obj);
  }

  get(kind: ViewKind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(kind, namespace, name);
  }

  list(kind: ViewKind, namespace?: string): readonly KubeObject[] {
    return this.store.list(kind, namespace);
  }

  tenantOf(namespace: string): TenantBinding {
    return this.store.tenantOf(namespace);
  }

  /** Applies an admitted, non-dryRun review to the state (the apiserver would have persisted it). */
  apply(request: AdmissionRequest, finalObject: KubeObject | undefined): void {
    if (request.dryRun || request.subResource) return;
    const kind = request.kind.kind;
    if (!isViewKind(kind)) return;
    const namespace = request.namespace;
    if (request.operation === 'DELETE') {
      const name = request.name ?? request.oldObject?.metadata?.name;
      if (name) this.store.remove(kind, namespace, name);
      return;
    }
    if ((request.operation === 'CREATE' || request.operation === 'UPDATE') && finalObject) {
      // A shallow copy with its own metadata: the defaults below must not show in the caller's
      // object, and nothing else of it is changed later, so a deep clone would be wasted work.
      const metadata = { ...finalObject.metadata };
      const obj: KubeObject = { ...finalObject, metadata };
      metadata.name ??= request.name ?? `${metadata.generateName ?? 'object-'}${request.uid.slice(0, 5)}`;
      if (namespace && !metadata.namespace) metadata.namespace = namespace;
      metadata.uid ??= request.uid;
      // As etcd would: every write a later version (the quota ledger tells an applied UPDATE by it).
      metadata.resourceVersion = String(++this.writes);
      this.add(obj, `review ${request.uid}`);
    }
  }
}
