// What the live view keeps of each object: only the fields policies read, so that the cache of a
// 100k-pod cluster stays small (SPEC 7, 12: under 1 KiB per Pod). Projections are frozen and
// share structure: replicas of one workload have identical resources, labels and controller, so
// those parts are kept once (interned) and referenced by every pod that has them.
import type { KubeObject, ObjectMeta, OwnerReference, ViewKind } from '../../policies/types.js';
import { LAUNCHER_STAMP } from '../../policies/kube/virt-launcher.js';

type Json = Record<string, unknown>;

function record(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** FNV-1a over a JSON value's structure, without serialising it. */
function hashJson(value: unknown, h: number): number {
  if (typeof value === 'string') {
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
    return Math.imul(h ^ 0x22, 0x01000193);
  }
  if (Array.isArray(value)) {
    h = Math.imul(h ^ 0x5b, 0x01000193);
    for (const v of value) h = hashJson(v, h);
    return Math.imul(h ^ 0x5d, 0x01000193);
  }
  if (value !== null && typeof value === 'object') {
    h = Math.imul(h ^ 0x7b, 0x01000193);
    for (const k in value) {
      h = hashJson(k, h);
      h = hashJson((value as Json)[k], h);
    }
    return Math.imul(h ^ 0x7d, 0x01000193);
  }
  return hashJson(String(value), h);
}

function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !equalJson((a as Json)[ka[i]!], (b as Json)[ka[i]!])) return false;
  }
  return true;
}

/**
 * Equal values kept once. The table holds them weakly and is swept of collected entries whenever
 * it has doubled, so churn (say, a VPA resizing every pod) cannot grow it without bound; it keys
 * by a structural hash so that no serialised copy of each value is kept beside it.
 */
class InternPool<T extends object> {
  private readonly byHash = new Map<number, WeakRef<T> | Array<WeakRef<T>>>();
  private sweepAt = 1024;

  intern(value: T): T {
    const hash = hashJson(value, 0x811c9dc5);
    const slot = this.byHash.get(hash);
    if (slot !== undefined) {
      for (const ref of Array.isArray(slot) ? slot : [slot]) {
        const hit = ref.deref();
        if (hit !== undefined && equalJson(hit, value)) return hit;
      }
    }
    deepFreeze(value);
    const ref = new WeakRef(value);
    if (slot === undefined) this.byHash.set(hash, ref);
    else this.byHash.set(hash, [...(Array.isArray(slot) ? slot : [slot]).filter((r) => r.deref() !== undefined), ref]);
    if (this.byHash.size >= this.sweepAt) this.sweep();
    return value;
  }

  private sweep(): void {
    for (const [hash, slot] of this.byHash) {
      const live = (Array.isArray(slot) ? slot : [slot]).filter((r) => r.deref() !== undefined);
      if (live.length === 0) this.byHash.delete(hash);
      else this.byHash.set(hash, live.length === 1 ? live[0]! : live);
    }
    this.sweepAt = Math.max(1024, this.byHash.size * 2);
  }

  get size(): number {
    return this.byHash.size;
  }
}

const podSpecs = new InternPool<Json>();
const labelSets = new InternPool<Record<string, string>>();
const controllers = new InternPool<OwnerReference[]>();
/** Pods are in one of five phases: one shared status object each. */
const phaseStatus = new Map<string, Readonly<Json>>(
  ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'].map((phase) => [phase, Object.freeze({ phase })]),
);

function statusOfPhase(phase: string): Readonly<Json> {
  return phaseStatus.get(phase) ?? Object.freeze({ phase });
}

/** Namespace names repeat on every object in them; one string each. */
const namespaceNames = new Map<string, string>();

function internNamespace(ns: unknown): string | undefined {
  if (typeof ns !== 'string') return undefined;
  let s = namespaceNames.get(ns);
  if (s === undefined) namespaceNames.set(ns, (s = ns));
  return s;
}

/** Sizes of the intern tables, for the memory benchmark. */
export function internStats(): { podSpecs: number; labelSets: number; controllers: number } {
  return { podSpecs: podSpecs.size, labelSets: labelSets.size, controllers: controllers.size };
}

function baseMeta(meta: Json | undefined): ObjectMeta {
  const out: ObjectMeta = {};
  if (typeof meta?.name === 'string') out.name = meta.name;
  const ns = internNamespace(meta?.namespace);
  if (ns !== undefined) out.namespace = ns;
  if (typeof meta?.uid === 'string') out.uid = meta.uid;
  // The informer compares resourceVersions to tell updates from replays.
  if (typeof meta?.resourceVersion === 'string') out.resourceVersion = meta.resourceVersion;
  return out;
}

function labelsOf(meta: Json | undefined): Record<string, string> | undefined {
  const labels = record(meta?.labels) as Record<string, string> | undefined;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

function controllerOf(meta: Json | undefined): OwnerReference[] | undefined {
  const refs = meta?.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  for (const r of refs as OwnerReference[]) {
    if (r?.controller === true) {
      return controllers.intern([{ apiVersion: r.apiVersion, kind: r.kind, name: r.name, uid: r.uid, controller: true }]);
    }
  }
  return undefined;
}

function resourcesOf(c: Json): Json {
  const res = record(c.resources);
  const out: Json = {};
  if (record(res?.requests)) out.requests = res!.requests;
  if (record(res?.limits)) out.limits = res!.limits;
  return out;
}

function containersOf(list: unknown, init: boolean, named = false): Json[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return list.map((item) => {
    const c = record(item) ?? {};
    const out: Json = { resources: resourcesOf(c) };
    if (named && typeof c.name === 'string') out.name = c.name;
    // A restartable init container (a sidecar) counts like an app container in pod requests.
    if (init && typeof c.restartPolicy === 'string') out.restartPolicy = c.restartPolicy;
    return out;
  });
}

/**
 * Pod -> metadata{name, namespace, uid, resourceVersion, labels, controller ownerReference,
 * deletionTimestamp, deletionGracePeriodSeconds, the launcher stamp annotation}, spec{containers[{resources}], initContainers
 * [{resources, restartPolicy}], overhead, resources (pod-level), os}, status{phase}; during an in-place
 * resize also the containers' names and the kubelet's report of their resources (resizeStatusOf).
 */
export function projectPod(obj: KubeObject): KubeObject {
  const meta = obj.metadata as Json | undefined;
  const metadata = baseMeta(meta);
  const labels = labelsOf(meta);
  if (labels) metadata.labels = labelSets.intern(labels);
  const controller = controllerOf(meta);
  if (controller) metadata.ownerReferences = controller;
  if (typeof meta?.deletionTimestamp === 'string') metadata.deletionTimestamp = meta.deletionTimestamp;
  if (typeof meta?.deletionGracePeriodSeconds === 'number') metadata.deletionGracePeriodSeconds = meta.deletionGracePeriodSeconds;
  const stamp = record(meta?.annotations)?.[LAUNCHER_STAMP];
  if (typeof stamp === 'string') metadata.annotations = { [LAUNCHER_STAMP]: stamp };

  const src = record(obj.spec) ?? {};
  const spec: Json = {};
  const containers = containersOf(src.containers, false);
  if (containers) spec.containers = containers;
  const initContainers = containersOf(src.initContainers, true);
  if (initContainers) spec.initContainers = initContainers;
  if (record(src.overhead)) spec.overhead = src.overhead;
  if (record(src.resources)) spec.resources = resourcesOf(src);
  const os = record(src.os);
  if (typeof os?.name === 'string') spec.os = { name: os.name };

  const resized = resizeStatusOf(src, record(obj.status));
  if (resized) {
    // Names match the kubelet's report to its containers.
    const named = containersOf(src.containers, false, true);
    if (named) spec.containers = named;
    const namedInit = containersOf(src.initContainers, true, true);
    if (namedInit) spec.initContainers = namedInit;
  }
  const out: KubeObject = { metadata: Object.freeze(metadata), spec: podSpecs.intern(spec) };
  const phase = record(obj.status)?.phase;
  if (resized) out.status = Object.freeze({ ...(typeof phase === 'string' ? { phase } : {}), ...resized });
  else if (typeof phase === 'string') out.status = statusOfPhase(phase);
  return Object.freeze(out);
}

/**
 * The kubelet's report of container resources (in-place resize: policies/quota/pod-charge.ts charges
 * the larger of it and the spec), kept only where it differs from the spec: during a resize. Read as
 * text, so a report that says the same in other units is kept too (it then changes nothing).
 */
function resizeStatusOf(spec: Json, status: Json | undefined): Json | undefined {
  const out: Json = {};
  for (const [field, list] of [['containerStatuses', spec.containers], ['initContainerStatuses', spec.initContainers]] as const) {
    const reported = status?.[field];
    if (!Array.isArray(reported) || !Array.isArray(list)) continue;
    const specOf = new Map<string, Json>();
    for (const c of list as Json[]) if (typeof c?.name === 'string') specOf.set(c.name, record(c.resources) ?? {});
    const kept: Json[] = [];
    let differs = false;
    for (const item of reported as Json[]) {
      const cs = record(item);
      const res = record(cs?.resources);
      if (typeof cs?.name !== 'string' || !res) continue;
      const entry: Json = { name: cs.name, resources: { requests: record(res.requests) ?? {}, limits: record(res.limits) ?? {} } };
      if (record(cs.allocatedResources)) entry.allocatedResources = cs.allocatedResources;
      kept.push(entry);
      const own = specOf.get(cs.name) ?? {};
      const same = (a: unknown, b: unknown) => JSON.stringify(record(a) ?? {}) === JSON.stringify(record(b) ?? {});
      if (!same(res.requests, own.requests) || !same(res.limits, own.limits) || (entry.allocatedResources !== undefined && !same(entry.allocatedResources, own.requests))) differs = true;
    }
    if (differs) out[field] = kept;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function fullMeta(meta: Json | undefined): ObjectMeta {
  const out = baseMeta(meta);
  const labels = labelsOf(meta);
  if (labels) out.labels = labels;
  const annotations = record(meta?.annotations) as Record<string, string> | undefined;
  if (annotations) {
    // kubectl's copy of the whole object; nothing reads it and it doubles the size.
    const { 'kubectl.kubernetes.io/last-applied-configuration': _, ...rest } = annotations;
    if (Object.keys(rest).length > 0) out.annotations = rest;
  }
  if (Array.isArray(meta?.ownerReferences)) out.ownerReferences = meta.ownerReferences as OwnerReference[];
  if (typeof meta?.generation === 'number') out.generation = meta.generation;
  if (typeof meta?.deletionTimestamp === 'string') out.deletionTimestamp = meta.deletionTimestamp;
  return out;
}

function pick(src: Json | undefined, keys: readonly string[]): Json | undefined {
  if (!src) return undefined;
  const out: Json = {};
  let any = false;
  for (const k of keys) {
    if (src[k] !== undefined) {
      out[k] = src[k];
      any = true;
    }
  }
  return any ? out : undefined;
}

function withParts(metadata: ObjectMeta, spec: unknown, status: Json | undefined): KubeObject {
  const out: KubeObject = { metadata };
  if (spec !== undefined) out.spec = spec;
  if (status !== undefined) out.status = status;
  return deepFreeze(out);
}

/** A non-empty rules array, kept as a marker: policies ask only whether rules are there. */
const RULES_PRESENT: readonly Json[] = Object.freeze([Object.freeze({})]);

function rulesMarker(rules: unknown): readonly Json[] | undefined {
  if (!Array.isArray(rules)) return undefined;
  return rules.length > 0 ? RULES_PRESENT : [];
}

function projectNetworkPolicy(obj: KubeObject): KubeObject {
  const src = record(obj.spec) ?? {};
  const spec: Json = {};
  if (src.podSelector !== undefined) spec.podSelector = src.podSelector;
  if (Array.isArray(src.policyTypes)) spec.policyTypes = src.policyTypes;
  const ingress = rulesMarker(src.ingress);
  if (ingress) spec.ingress = ingress;
  const egress = rulesMarker(src.egress);
  if (egress) spec.egress = egress;
  return withParts(baseMeta(obj.metadata as Json | undefined), spec, undefined);
}

function projectNamespace(obj: KubeObject): KubeObject {
  const meta = obj.metadata as Json | undefined;
  const metadata = baseMeta(meta);
  const labels = labelsOf(meta);
  if (labels) metadata.labels = labels;
  if (typeof meta?.deletionTimestamp === 'string') metadata.deletionTimestamp = meta.deletionTimestamp;
  return withParts(metadata, undefined, pick(record(obj.status), ['phase']));
}

function projectTenant(obj: KubeObject): KubeObject {
  return withParts(fullMeta(obj.metadata as Json | undefined), obj.spec, pick(record(obj.status), ['used', 'usedByNamespace', 'usedByOtherNamespaces', 'reserved', 'reservations', 'escrow', 'watermarks', 'recall', 'conditions']));
}

/**
 * Status fields of the KubeVirt kinds that the policies (quota charging, launcher verification)
 * read; conditions, interfaces, volume and guest-agent reports are left behind.
 */
const KUBEVIRT_STATUS: Partial<Record<ViewKind, readonly string[]>> = {
  VirtualMachine: ['printableStatus', 'created', 'ready', 'runStrategy', 'startFailure', 'desiredGeneration', 'observedGeneration', 'instancetypeRef'],
  VirtualMachineInstance: ['phase', 'activePods', 'migrationState', 'memory', 'currentCPUTopology', 'nodeName', 'qosClass'],
  VirtualMachineInstanceReplicaSet: ['replicas', 'readyReplicas'],
  VirtualMachinePool: ['replicas', 'readyReplicas'],
  VirtualMachineInstanceMigration: ['phase', 'migrationState'],
  KubeVirt: ['phase', 'observedKubeVirtVersion', 'targetKubeVirtVersion', 'observedDeploymentID'],
};

function projectKubeVirt(kind: ViewKind, obj: KubeObject): KubeObject {
  const keys = KUBEVIRT_STATUS[kind];
  return withParts(fullMeta(obj.metadata as Json | undefined), obj.spec, keys ? pick(record(obj.status), keys) : undefined);
}

/** The named annotations of an object, when it has any of them. */
function annotationsNamed(meta: Json | undefined, names: readonly string[]): Record<string, string> | undefined {
  return pick(record(meta?.annotations), names) as Record<string, string> | undefined;
}

/** A resource list reduced to its `storage` entry. */
function storageOnly(list: unknown): Json | undefined {
  const storage = record(list)?.storage;
  return storage === undefined ? undefined : { storage };
}

/**
 * What storage quota reads of a PVC (policies/quota/storage-*.ts): the claimed size and class, the
 * controller, and what CDI's clone sizing reads of a source PVC (content type, volume mode,
 * capacity, the virtual size its size-detection pod recorded).
 */
const PVC_ANNOTATIONS = [
  'volume.beta.kubernetes.io/storage-class',
  'cdi.kubevirt.io/storage.contentType',
  'cdi.Kubervirt.io/virtualSize',
  'cdi.Kubervirt.io/sourceCapacity',
];

function projectPersistentVolumeClaim(obj: KubeObject): KubeObject {
  const meta = obj.metadata as Json | undefined;
  const metadata = baseMeta(meta);
  const controller = controllerOf(meta);
  if (controller) metadata.ownerReferences = controller;
  const annotations = annotationsNamed(meta, PVC_ANNOTATIONS);
  if (annotations) metadata.annotations = annotations;
  const src = record(obj.spec) ?? {};
  const spec: Json = {};
  if (src.storageClassName !== undefined) spec.storageClassName = src.storageClassName;
  if (src.volumeMode !== undefined) spec.volumeMode = src.volumeMode;
  // Which populator fills it: a CDI populator's PVC' shares its volume (policies/kube/cdi-pvc.ts).
  const source = record(src.dataSourceRef);
  if (typeof source?.apiGroup === 'string') spec.dataSourceRef = { apiGroup: source.apiGroup, kind: source.kind };
  const requests = storageOnly(record(src.resources)?.requests);
  if (requests) spec.resources = { requests };
  const st = record(obj.status);
  const status: Json = {};
  if (typeof st?.phase === 'string') status.phase = st.phase;
  const capacity = storageOnly(st?.capacity);
  if (capacity) status.capacity = capacity;
  const allocated = storageOnly(st?.allocatedResources);
  if (allocated) status.allocatedResources = allocated;
  return withParts(metadata, spec, Object.keys(status).length > 0 ? status : undefined);
}

/** A StorageClass: only its name, creation time and default-class annotations matter to quota. */
const STORAGE_CLASS_ANNOTATIONS = [
  'storageclass.kubernetes.io/is-default-class',
  'storageclass.beta.kubernetes.io/is-default-class',
  'storageclass.kubevirt.io/is-default-virt-class',
];

function projectStorageClass(obj: KubeObject): KubeObject {
  const meta = obj.metadata as Json | undefined;
  const metadata = baseMeta(meta);
  if (typeof meta?.creationTimestamp === 'string') metadata.creationTimestamp = meta.creationTimestamp;
  const annotations = annotationsNamed(meta, STORAGE_CLASS_ANNOTATIONS);
  if (annotations) metadata.annotations = annotations;
  return withParts(metadata, undefined, undefined);
}

/** A DataVolume: the spec decides its size; status is CDI's progress, which quota does not read. */
function projectDataVolume(obj: KubeObject): KubeObject {
  const meta = obj.metadata as Json | undefined;
  const metadata = baseMeta(meta);
  const controller = controllerOf(meta);
  if (controller) metadata.ownerReferences = controller;
  return withParts(metadata, obj.spec, undefined);
}

/** CDIConfig: only the filesystem overhead CDI inflates Filesystem-mode DataVolumes by. */
function projectCdiConfig(obj: KubeObject): KubeObject {
  return withParts(baseMeta(obj.metadata as Json | undefined), undefined, pick(record(obj.status), ['filesystemOverhead']));
}

/**
 * An instancetype or preference revision: the copy KubeVirt stored (data.object, served as `data`),
 * kept with the identity and spec that size a VM; revisions are immutable, so this never changes.
 */
function projectControllerRevision(obj: KubeObject): KubeObject {
  const data = record(obj.data);
  const dataMeta = record(data?.metadata);
  const stored: Json = { metadata: pick(dataMeta, ['name', 'uid', 'generation']) ?? {} };
  if (typeof data?.apiVersion === 'string') stored.apiVersion = data.apiVersion;
  if (typeof data?.kind === 'string') stored.kind = data.kind;
  if (data?.spec !== undefined) stored.spec = data.spec;
  return deepFreeze({ metadata: fullMeta(obj.metadata as Json | undefined), data: stored });
}

/** A VolumeSnapshot: only the size a PVC restored from it gets. */
function projectVolumeSnapshot(obj: KubeObject): KubeObject {
  return withParts(baseMeta(obj.metadata as Json | undefined), undefined, pick(record(obj.status), ['restoreSize']));
}

/** The projection the view keeps (and listLive returns) for an object of a kind. */
export function project(kind: ViewKind, obj: KubeObject): KubeObject {
  switch (kind) {
    case 'PersistentVolumeClaim':
      return projectPersistentVolumeClaim(obj);
    case 'StorageClass':
      return projectStorageClass(obj);
    case 'DataVolume':
      return projectDataVolume(obj);
    case 'CDIConfig':
      return projectCdiConfig(obj);
    case 'VolumeSnapshot':
      return projectVolumeSnapshot(obj);
    case 'Pod':
      return projectPod(obj);
    case 'NetworkPolicy':
      return projectNetworkPolicy(obj);
    case 'Namespace':
      return projectNamespace(obj);
    case 'Tenant':
      return projectTenant(obj);
    case 'ControllerRevision':
      return projectControllerRevision(obj);
    default:
      return projectKubeVirt(kind, obj);
  }
}
