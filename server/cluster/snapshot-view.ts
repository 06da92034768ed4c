// ClusterView over a directory of YAML/JSON Kubernetes objects (SPEC 7, snapshot mode). Admitted
// reviews are applied to the in-memory state so a sequence replays as it would on a cluster.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Composer, LineCounter, Parser } from 'yaml';
import { admittedName } from '../../policies/kube/object-name.js';
import type { AdmissionRequest, ClusterView, KubeObject, TenantBinding, TenantSpec, ViewKind } from '../../policies/types.js';
import { CLUSTER_SCOPED, isViewKind, ObjectStore } from './object-store.js';
import { project } from './projections.js';

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

/** One parsed value as objects: a Kubernetes object, or the items of a `kind: *List`. */
function* objectsOf(value: unknown, file: string): Generator<KubeObject> {
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw new SnapshotError(`${file}: a document is not a Kubernetes object`);
  const obj = value as KubeObject;
  if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) yield* obj.items as KubeObject[];
  else yield obj;
}

/** `line 3, column 5`, from the parser's line starts, for errors in a large file. */
function position(lines: LineCounter, offset: number): string {
  const { line, col } = lines.linePos(offset);
  return `line ${line}, column ${col}`;
}

/**
 * The objects in one file, one document at a time: each YAML document is composed, converted and
 * dropped before the next is read, so memory follows the objects kept, not the file (every
 * document's syntax tree at once peaked at 0.8 GB for a 35 MB YAML file). JSON, which the YAML
 * parser would take node by node (2.6 GB for the same file as JSON), goes to JSON.parse.
 */
export function* parseObjects(text: string, file: string): Generator<KubeObject> {
  if (/\.json$/i.test(file)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new SnapshotError(`${file}: ${(err as Error).message}`);
    }
    yield* objectsOf(value, file);
    return;
  }
  const lines = new LineCounter();
  const composer = new Composer();
  for (const doc of composer.compose(new Parser(lines.addNewLine).parse(text))) {
    const error = doc.errors[0];
    if (error) throw new SnapshotError(`${file}: ${error.message} at ${position(lines, error.pos[0])}`);
    // The JSON round trip copies the strings: toJS hands out substrings of `text`, which would
    // keep the whole file alive as long as any object from it is kept.
    yield* objectsOf(JSON.parse(JSON.stringify(doc.toJS())), file);
  }
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
    if (!obj.metadata.namespace && !CLUSTER_SCOPED.has(obj.kind)) {
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
    if (request.dryRun) return;
    if (request.subResource === 'scale') return this.applyScale(request, finalObject);
    if (request.subResource) return;
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
      metadata.name = admittedName(request, finalObject) || `object-${request.uid.slice(0, 5)}`;
      metadata.namespace ||= namespace || (CLUSTER_SCOPED.has(kind) ? undefined : 'default');
      metadata.uid ??= request.uid;
      // As etcd would: every write a later version than any before it, including the versions a
      // state file or the review carries (the quota ledger tells an applied UPDATE by it).
      metadata.resourceVersion = this.store.nextVersion(request.oldObject?.metadata?.resourceVersion);
      // Kept as the live view keeps it (the fields policies read): the whole reviewed object would
      // hold ~10 KB of heap per admitted Pod, and the state grows by every admitted create.
      this.store.upsert(kind, project(kind, obj));
    }
  }

  /** A `scale` subresource UPDATE sets spec.replicas of the object it scales (the CRDs' specReplicasPath). */
  private applyScale(request: AdmissionRequest, scale: KubeObject | undefined): void {
    const kind = SCALED_KINDS[`${request.resource.group}/${request.resource.resource}`];
    const name = request.name ?? scale?.metadata?.name;
    const replicas = scale?.spec?.replicas;
    if (request.operation !== 'UPDATE' || kind === undefined || !name || typeof replicas !== 'number') return;
    const target = this.store.get(kind, request.namespace, name);
    if (target) this.store.upsert(kind, { ...target, metadata: { ...target.metadata, resourceVersion: this.store.nextVersion() }, spec: { ...target.spec, replicas } });
  }
}

/** The kinds whose `scale` subresource the snapshot applies, by group/resource. */
const SCALED_KINDS: Readonly<Record<string, ViewKind>> = {
  'kubevirt.io/virtualmachineinstancereplicasets': 'VirtualMachineInstanceReplicaSet',
  'pool.kubevirt.io/virtualmachinepools': 'VirtualMachinePool',
};
