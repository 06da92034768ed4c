// Reading replay fixtures: files or directories of AdmissionReviews (JSON/YAML, single, multi-doc,
// JSON arrays or `kind: List`) and plain manifests, which are wrapped into the AdmissionRequest the
// kube-apiserver would send for them (CREATE, or UPDATE when --old holds the previous version).
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { AdmissionRequest, KubeObject, Operation } from '../../policies/types.js';
import { decodeReview } from '../admission-codec.js';

/** Input that cannot be replayed at all (exit code 2): unreadable, not YAML, not a Kubernetes object. */
export class InputError extends Error {}

export interface Fixture {
  /** Absolute path of the file the review came from. */
  file: string;
  /** Position of the review in its file (after flattening lists). */
  index: number;
  /** How many reviews the file holds; a single-review file is addressed without "#index". */
  count: number;
  request: AdmissionRequest;
}

export interface WrapOptions {
  username: string;
  groups: string[];
}

interface KindInfo {
  resource: string;
  clusterScoped?: true;
}

/** REST resources of the kinds tenantguard judges or keeps in its view, plus common neighbours. */
const KNOWN_KINDS: Readonly<Record<string, KindInfo>> = {
  Pod: { resource: 'pods' },
  Namespace: { resource: 'namespaces', clusterScoped: true },
  Node: { resource: 'nodes', clusterScoped: true },
  PersistentVolume: { resource: 'persistentvolumes', clusterScoped: true },
  Endpoints: { resource: 'endpoints' },
  Deployment: { resource: 'deployments' },
  ReplicaSet: { resource: 'replicasets' },
  StatefulSet: { resource: 'statefulsets' },
  DaemonSet: { resource: 'daemonsets' },
  Job: { resource: 'jobs' },
  CronJob: { resource: 'cronjobs' },
  NetworkPolicy: { resource: 'networkpolicies' },
  Tenant: { resource: 'tenants', clusterScoped: true },
  VirtualMachine: { resource: 'virtualmachines' },
  VirtualMachineInstance: { resource: 'virtualmachineinstances' },
  VirtualMachineInstanceReplicaSet: { resource: 'virtualmachineinstancereplicasets' },
  VirtualMachineInstanceMigration: { resource: 'virtualmachineinstancemigrations' },
  VirtualMachinePool: { resource: 'virtualmachinepools' },
  VirtualMachineInstancetype: { resource: 'virtualmachineinstancetypes' },
  VirtualMachineClusterInstancetype: { resource: 'virtualmachineclusterinstancetypes', clusterScoped: true },
  VirtualMachinePreference: { resource: 'virtualmachinepreferences' },
  VirtualMachineClusterPreference: { resource: 'virtualmachineclusterpreferences', clusterScoped: true },
  KubeVirt: { resource: 'kubevirts' },
};

/** apimachinery's meta.UnsafeGuessKindToResource, for kinds outside the table. */
function guessResource(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('s')) return `${lower}es`;
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

function isClusterScoped(kind: string): boolean {
  return KNOWN_KINDS[kind]?.clusterScoped === true;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** A UUID-shaped uid derived from where the manifest came from, so reruns produce the same requests. */
export function deterministicUid(source: string): string {
  const h = createHash('sha256').update(source).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function objectKey(obj: KubeObject, namespace: string | undefined): string {
  return `${obj.apiVersion}/${obj.kind} ${namespace ? `${namespace}/` : ''}${obj.metadata?.name ?? ''}`;
}

function namespaceOf(obj: KubeObject): string | undefined {
  return isClusterScoped(obj.kind ?? '') ? undefined : (obj.metadata?.namespace ?? 'default');
}

/**
 * The AdmissionRequest the apiserver sends for creating (or, given the old version, updating) a
 * manifest. The object gets its namespace filled in, as the apiserver does before admission.
 */
export function wrapManifest(obj: KubeObject, uid: string, user: WrapOptions, old?: KubeObject): AdmissionRequest {
  const kind = obj.kind!;
  const { group, version } = splitApiVersion(obj.apiVersion!);
  const namespace = namespaceOf(obj);
  const object = structuredClone(obj);
  if (namespace !== undefined) {
    object.metadata ??= {};
    object.metadata.namespace = namespace;
  }
  const operation: Operation = old ? 'UPDATE' : 'CREATE';
  const request: AdmissionRequest = {
    uid,
    kind: { group, version, kind },
    resource: { group, version, resource: KNOWN_KINDS[kind]?.resource ?? guessResource(kind) },
    operation,
    userInfo: { username: user.username, groups: [...user.groups] },
    object,
    oldObject: old ? structuredClone(old) : null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: old ? 'UpdateOptions' : 'CreateOptions' },
  };
  if (namespace !== undefined) request.namespace = namespace;
  if (obj.metadata?.name) request.name = obj.metadata.name;
  return request;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every object in a YAML/JSON text: multi-document, top-level arrays and `*List` items flattened. */
export function parseDocuments(text: string, file: string): KubeObject[] {
  const out: KubeObject[] = [];
  const push = (value: unknown, where: string): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => push(v, `${where}[${i}]`));
      return;
    }
    if (!isRecord(value) || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string') {
      throw new InputError(`${file}: ${where} is not a Kubernetes object (it needs string apiVersion and kind)`);
    }
    if (value.kind.endsWith('List') && Array.isArray(value.items)) {
      value.items.forEach((v, i) => push(v, `${where}.items[${i}]`));
      return;
    }
    out.push(value as KubeObject);
  };
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new InputError(`${file}: invalid YAML/JSON: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) push(value, `document ${i}`);
  });
  return out;
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** YAML/JSON files under a directory (recursively), in sorted path order. */
export async function filesIn(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (err) {
    throw new InputError(`cannot read directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return entries
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/i.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Expectations files that sit among the fixtures they describe; never fixtures themselves. */
const EXPECTATIONS_NAME = /^expectations\.(ya?ml|json)$/i;

/**
 * The files named on the command line, directories expanded, as absolute paths. Inside a directory,
 * files named expectations.yaml (or .yml/.json) and the files in `skip` are left out.
 */
export async function expandInputs(paths: string[], skip: ReadonlySet<string>): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    let isDir: boolean;
    try {
      isDir = (await stat(abs)).isDirectory();
    } catch (err) {
      throw new InputError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (isDir) files.push(...(await filesIn(abs)).filter((f) => !skip.has(f) && !EXPECTATIONS_NAME.test(basename(f))));
    else files.push(abs);
  }
  return files;
}

/** True when `file` is one of the inputs or lies under an input directory. */
export function coveredBy(file: string, inputs: string[]): boolean {
  return inputs.some((i) => {
    const abs = resolve(i);
    return file === abs || file.startsWith(abs.endsWith(sep) ? abs : abs + sep);
  });
}

/** An AdmissionReview's request, validated as the webhook's own decoder does. */
function reviewRequest(review: KubeObject, file: string, index: number): AdmissionRequest {
  const decoded = decodeReview(review);
  if (!decoded.ok) throw new InputError(`${file}: review ${index}: ${decoded.error}`);
  return decoded.request;
}

export interface ReadOptions extends WrapOptions {
  /** Previous versions of manifests (--old): a manifest with a match here becomes an UPDATE. */
  oldObjects: KubeObject[];
  /** The uid of a wrapped manifest is derived from this name for the file plus the index. */
  uidSource(file: string): string;
}

/** Reads every fixture file; throws InputError on the first unusable one. */
export async function readFixtures(files: string[], opts: ReadOptions): Promise<Fixture[]> {
  const olds = new Map<string, KubeObject>();
  for (const o of opts.oldObjects) olds.set(objectKey(o, namespaceOf(o)), o);
  const usedOld = new Set<string>();
  const fixtures: Fixture[] = [];
  for (const file of files) {
    const objects = parseDocuments(await readText(file), file);
    objects.forEach((obj, index) => {
      let request: AdmissionRequest;
      if (obj.kind === 'AdmissionReview') request = reviewRequest(obj, file, index);
      else {
        const key = objectKey(obj, namespaceOf(obj));
        const old = olds.get(key);
        if (old) usedOld.add(key);
        request = wrapManifest(obj, deterministicUid(`${opts.uidSource(file)}#${index}`), opts, old);
      }
      fixtures.push({ file, index, count: objects.length, request });
    });
  }
  const unused = [...olds.keys()].filter((k) => !usedOld.has(k));
  if (unused.length > 0) throw new InputError(`--old: ${unused.join(', ')} matches no input manifest (same apiVersion, kind, namespace and name)`);
  return fixtures;
}

/** Forward-slash path of `file` relative to `base`, for display and expectation keys. */
export function displayPath(file: string, base: string): string {
  return relative(base, file).split(sep).join('/');
}
