// An in-process kube-apiserver for tests: plain HTTP on 127.0.0.1, speaking the subset of the
// Kubernetes REST API tenantguard uses (discovery, list, watch, get/create/replace/patch/delete,
// the status subresource) with real resourceVersion semantics: a global monotonic counter, 409 on
// a stale precondition, and 410 Gone for a watch from a compacted resourceVersion. tenantguard
// reaches it through @kubernetes/client-node unchanged, via a kubeconfig file this helper writes.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fjp from 'fast-json-patch';
import type { KubeObject } from '../../policies/types.js';

export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Has a /status subresource: the main resource ignores status writes, /status ignores the rest. */
  status: boolean;
}

export const CORE_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, status: true },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, status: true },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, status: false },
  { group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true, status: false },
  { group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, status: true },
  { group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, status: false },
];

export const CDI_RESOURCES: readonly ResourceDef[] = [
  { group: 'cdi.kubevirt.io', version: 'v1beta1', kind: 'DataVolume', plural: 'datavolumes', namespaced: true, status: true },
  { group: 'cdi.kubevirt.io', version: 'v1beta1', kind: 'CDIConfig', plural: 'cdiconfigs', namespaced: false, status: true },
];

export const TENANT_RESOURCE: ResourceDef = {
  group: 'tenantguard.io', version: 'v1alpha1', kind: 'Tenant', plural: 'tenants', namespaced: false, status: true,
};

export const KUBEVIRT_RESOURCES: readonly ResourceDef[] = [
  { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine', plural: 'virtualmachines', namespaced: true, status: true },
  { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstance', plural: 'virtualmachineinstances', namespaced: true, status: true },
  { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceReplicaSet', plural: 'virtualmachineinstancereplicasets', namespaced: true, status: true },
  { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration', plural: 'virtualmachineinstancemigrations', namespaced: true, status: true },
  { group: 'kubevirt.io', version: 'v1', kind: 'KubeVirt', plural: 'kubevirts', namespaced: true, status: true },
  { group: 'pool.kubevirt.io', version: 'v1alpha1', kind: 'VirtualMachinePool', plural: 'virtualmachinepools', namespaced: true, status: true },
  { group: 'instancetype.kubevirt.io', version: 'v1beta1', kind: 'VirtualMachineInstancetype', plural: 'virtualmachineinstancetypes', namespaced: true, status: false },
  { group: 'instancetype.kubevirt.io', version: 'v1beta1', kind: 'VirtualMachineClusterInstancetype', plural: 'virtualmachineclusterinstancetypes', namespaced: false, status: false },
];

/** What self-managed certificates touch (certs/self-managed.ts): Secrets, Leases, webhook configurations. */
/** The audit's reports (openreports.io's CRD, as `tenantguard audit --apply` writes them). */
export const REPORT_RESOURCES: readonly ResourceDef[] = [
  { group: 'openreports.io', version: 'v1alpha1', kind: 'Report', plural: 'reports', namespaced: true, status: false },
];

export const CERTIFICATE_RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, status: false },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, status: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', namespaced: false, status: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', namespaced: false, status: false },
];

export interface FakeApiServerOptions {
  /** Serve Secrets, Leases and webhook configurations (default false). */
  certificates?: boolean;
  /** Serve the KubeVirt groups (default true). */
  kubevirt?: boolean;
  /** Serve CDI's groups (default false). */
  cdi?: boolean;
  /** Serve openreports.io Reports (default false). */
  reports?: boolean;
  /** Serve the Tenant CRD (default true). */
  tenants?: boolean;
  /** Bearer token clients must present (default "fake-token"). */
  token?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
}

/** A canned answer an interceptor returns instead of the normal handling. */
export interface InterceptedResponse {
  status: number;
  body: unknown;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  def: ResourceDef;
  object: KubeObject;
}

interface Watcher {
  request: RecordedRequest;
  def: ResourceDef;
  namespace: string | undefined;
  res: ServerResponse;
  selected: (o: KubeObject) => boolean;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

function prefixOf(def: ResourceDef): string {
  return def.group === '' ? `/api/${def.version}` : `/apis/${def.group}/${def.version}`;
}

function statusBody(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class FakeApiServer {
  readonly resources: ResourceDef[];
  /** Every request received, in order (tests assert headers and which calls were made). */
  readonly requests: RecordedRequest[] = [];
  /** Watches answered with 410 Gone (their resourceVersion was compacted). */
  expiredWatches = 0;
  /** Writes refused with 409 Conflict for a stale resourceVersion. */
  conflicts = 0;
  /** Watch events reach watchers this late (a real apiserver's watch lags its writes). */
  watchDelayMs = 0;
  /** Per watch (by the request that opened it): how late its events arrive, instead of watchDelayMs. */
  watchDelayFor: ((watch: RecordedRequest) => number | undefined) | undefined;
  /** Returning a response short-circuits normal handling (fault injection). */
  intercept: ((req: RecordedRequest) => InterceptedResponse | undefined) | undefined;
  /**
   * What an answer costs a real apiserver, in ms: the response is held that long (a round trip,
   * encoding, etcd, decoding grow with the bytes moved). Undefined: answered at once.
   */
  costMs: ((req: RecordedRequest, requestBytes: number, responseBytes: number) => number) | undefined;
  /** Set to an array to record the bytes of every request and response body (benches count what writes move). */
  traffic: Array<{ method: string; path: string; requestBytes: number; responseBytes: number }> | undefined;

  private readonly token: string;
  private readonly objects = new Map<ResourceDef, Map<string, KubeObject>>();
  private history: WatchEvent[] = [];
  private rv = 1;
  /** Watches from a resourceVersion below this get 410 Gone (etcd compaction). */
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  /** The request each response answers, and its body size, for costMs and traffic. */
  private readonly answering = new WeakMap<ServerResponse, { req: RecordedRequest; requestBytes: number }>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private portNumber = 0;

  private constructor(opts: FakeApiServerOptions) {
    this.token = opts.token ?? 'fake-token';
    this.resources = [
      ...CORE_RESOURCES,
      ...(opts.tenants === false ? [] : [TENANT_RESOURCE]),
      ...(opts.kubevirt === false ? [] : KUBEVIRT_RESOURCES),
      ...(opts.cdi === true ? CDI_RESOURCES : []),
      ...(opts.certificates === true ? CERTIFICATE_RESOURCES : []),
      ...(opts.reports === true ? REPORT_RESOURCES : []),
    ];
    for (const def of this.resources) this.objects.set(def, new Map());
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const api = new FakeApiServer(opts);
    await api.listen(0);
    return api;
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  private listen(port: number): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        this.portNumber = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  /** Stops serving and cuts every connection (watches included), keeping all state. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.watchers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Serves again on the same port with the same state (an apiserver restart). */
  async restart(): Promise<void> {
    await this.listen(this.portNumber);
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** Ends every open watch stream cleanly, as the apiserver does when a watch times out. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Forgets the event history: watches from any older resourceVersion now get 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /** Sends a BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    for (const w of this.watchers) {
      w.res.write(`${JSON.stringify({
        type: 'BOOKMARK',
        object: { apiVersion: apiVersionOf(w.def), kind: w.def.kind, metadata: { resourceVersion: String(this.rv) } },
      })}\n`);
    }
  }

  async writeKubeconfig(dir: string, name = 'kubeconfig.yaml'): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, this.kubeconfigYaml());
    return file;
  }

  kubeconfigYaml(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: fake',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: fake',
      '  context: {cluster: fake, user: fake}',
      'current-context: fake',
      '',
    ].join('\n');
  }

  // ---- direct state access for tests (no HTTP, same events as through the API) ----

  defOf(apiVersion: string | undefined, kind: string | undefined): ResourceDef {
    const def = this.resources.find((d) => apiVersionOf(d) === apiVersion && d.kind === kind);
    if (!def) throw new Error(`fake apiserver does not serve ${apiVersion} ${kind}`);
    return def;
  }

  /** Creates the object, or replaces it (spec, metadata and status) when it exists. */
  apply(obj: KubeObject): KubeObject {
    const def = this.defOf(obj.apiVersion, obj.kind);
    const ns = def.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
    const existing = this.objects.get(def)!.get(this.key(ns, obj.metadata?.name ?? ''));
    // A uid the caller set is kept: kube-apiserver assigns it before admission and stores that one.
    if (!existing) return this.createObject(def, ns, structuredClone(obj), false, obj.metadata?.uid);
    const next = structuredClone(obj);
    next.metadata = { ...existing.metadata, ...next.metadata, resourceVersion: existing.metadata!.resourceVersion };
    return this.store(def, ns, next, 'MODIFIED');
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const def = this.defOf(apiVersion, kind);
    const obj = this.objects.get(def)!.get(this.key(def.namespaced ? namespace : undefined, name));
    return obj ? structuredClone(obj) : undefined;
  }

  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void {
    const def = this.defOf(apiVersion, kind);
    this.deleteObject(def, def.namespaced ? namespace : undefined, name);
  }

  count(apiVersion: string, kind: string): number {
    return this.objects.get(this.defOf(apiVersion, kind))!.size;
  }

  // ---- HTTP ----

  private key(ns: string | undefined, name: string): string {
    return `${ns ?? ''}/${name}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers };
    this.requests.push(recorded);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (req.headers.authorization !== `Bearer ${this.token}`) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
        const canned = this.intercept?.(recorded);
        if (canned) return this.send(res, canned.status, canned.body);
        const body = chunks.length > 0 ? Buffer.concat(chunks).toString('utf8') : undefined;
        this.answering.set(res, { req: recorded, requestBytes: body === undefined ? 0 : Buffer.byteLength(body) });
        this.route(recorded, req.headers['content-type'], body, res);
      } catch (err) {
        if (err instanceof HttpError) this.send(res, err.code, statusBody(err.code, err.reason, err.message));
        else this.send(res, 500, statusBody(500, 'InternalError', (err as Error).message));
      }
    });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    const answering = this.answering.get(res);
    if (answering !== undefined) {
      const responseBytes = Buffer.byteLength(text);
      this.traffic?.push({ method: answering.req.method, path: answering.req.path, requestBytes: answering.requestBytes, responseBytes });
      const delay = this.costMs?.(answering.req, answering.requestBytes, responseBytes) ?? 0;
      if (delay > 0) {
        setTimeout(() => this.reply(res, status, text), delay);
        return;
      }
    }
    this.reply(res, status, text);
  }

  private reply(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private route(req: RecordedRequest, contentType: string | undefined, body: string | undefined, res: ServerResponse): void {
    const path = req.path.replace(/\/+$/, '');
    if (path === '/api') return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return this.send(res, 200, this.groupList());
    const seg = path.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api' && seg.length >= 2) {
      group = '';
      version = seg[1]!;
      rest = seg.slice(2);
    } else if (seg[0] === 'apis' && seg.length >= 3) {
      group = seg[1]!;
      version = seg[2]!;
      rest = seg.slice(3);
    } else {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    }
    const defs = this.resources.filter((d) => d.group === group && d.version === version);
    if (defs.length === 0) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    if (rest.length === 0) return this.send(res, 200, this.resourceList(group, version, defs));

    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const def = defs.find((d) => d.plural === rest[0]);
    if (!def || (namespace !== undefined && !def.namespaced)) {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    }
    const name = rest[1];
    const sub = rest[2];
    if (rest.length > 3 || (sub !== undefined && (sub !== 'status' || !def.status))) {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    }
    const dryRun = req.query.get('dryRun') === 'All';

    if (name === undefined) {
      if (req.method === 'GET') {
        const watch = req.query.get('watch');
        if (watch === 'true' || watch === '1') return this.watch(req, def, namespace, req.query.get('resourceVersion') ?? '', res, selectorOf(req.query));
        return this.send(res, 200, this.list(def, namespace, req.query));
      }
      if (req.method === 'POST') {
        const obj = this.parseBody(body);
        if (def.namespaced && namespace === undefined) throw new HttpError(405, 'MethodNotAllowed', 'create needs a namespace');
        if (obj.metadata?.namespace !== undefined && obj.metadata.namespace !== namespace) {
          throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
        }
        return this.send(res, 201, this.createObject(def, namespace, obj, dryRun));
      }
      throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not supported on a collection`);
    }

    const key = this.key(namespace, name);
    const current = this.objects.get(def)!.get(key);
    const notFound = () => new HttpError(404, 'NotFound', `${def.plural}${def.group ? `.${def.group}` : ''} "${name}" not found`);
    switch (req.method) {
      case 'GET':
        if (!current) throw notFound();
        return this.send(res, 200, current);
      case 'PUT': {
        if (!current) throw notFound();
        const obj = this.parseBody(body);
        if (obj.metadata?.name !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        this.checkPrecondition(def, name, current, obj.metadata?.resourceVersion);
        const next = this.merged(def, current, obj, sub === 'status');
        return this.send(res, 200, dryRun || this.unchanged(current, next) ? next : this.store(def, namespace, next, 'MODIFIED'));
      }
      case 'PATCH': {
        if (!current) throw notFound();
        const patch = JSON.parse(body ?? 'null') as unknown;
        let patched: KubeObject;
        const type = (contentType ?? '').split(';')[0]!.trim();
        if (type === 'application/merge-patch+json') {
          const wanted = (patch as KubeObject | null)?.metadata?.resourceVersion;
          this.checkPrecondition(def, name, current, wanted);
          patched = mergePatch(structuredClone(current), patch) as KubeObject;
        } else if (type === 'application/json-patch+json') {
          patched = fjp.applyPatch(structuredClone(current), patch as fjp.Operation[], true, false).newDocument as KubeObject;
        } else {
          throw new HttpError(415, 'UnsupportedMediaType', `the fake apiserver does not support patch type ${type}`);
        }
        const next = this.merged(def, current, patched, sub === 'status');
        return this.send(res, 200, dryRun || this.unchanged(current, next) ? next : this.store(def, namespace, next, 'MODIFIED'));
      }
      case 'DELETE': {
        if (!current) throw notFound();
        if (!dryRun) this.deleteObject(def, namespace, name);
        return this.send(res, 200, current);
      }
      default:
        throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not supported`);
    }
  }

  private parseBody(body: string | undefined): KubeObject {
    let obj: unknown;
    try {
      obj = JSON.parse(body ?? '');
    } catch {
      throw new HttpError(400, 'BadRequest', 'request body is not JSON');
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new HttpError(400, 'BadRequest', 'request body is not an object');
    return obj as KubeObject;
  }

  private checkPrecondition(def: ResourceDef, name: string, current: KubeObject, wanted: string | undefined): void {
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata?.resourceVersion) {
      this.conflicts += 1;
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${def.plural}${def.group ? `.${def.group}` : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
  }

  /** What a write changes: the status only through /status, everything but status otherwise. */
  /**
   * A write that changes nothing is not stored: no new resourceVersion, no watch event (as etcd3's
   * store.GuaranteedUpdate short-circuits when the encoded object equals what is stored).
   */
  private unchanged(current: KubeObject, next: KubeObject): boolean {
    return isDeepStrictEqual(current, next);
  }

  private merged(def: ResourceDef, current: KubeObject, incoming: KubeObject, statusWrite: boolean): KubeObject {
    const next: KubeObject = statusWrite ? { ...structuredClone(current), status: incoming.status } : structuredClone(incoming);
    if (!statusWrite && def.status) next.status = structuredClone(current.status);
    // Identity fields are the server's, whatever the client sent.
    next.apiVersion = apiVersionOf(def);
    next.kind = def.kind;
    next.metadata = {
      ...(statusWrite ? current.metadata : incoming.metadata),
      name: current.metadata!.name,
      uid: current.metadata!.uid,
      creationTimestamp: current.metadata!.creationTimestamp,
      resourceVersion: current.metadata!.resourceVersion,
    };
    if (def.namespaced) next.metadata.namespace = current.metadata!.namespace;
    else delete next.metadata.namespace;
    return next;
  }

  private createObject(def: ResourceDef, namespace: string | undefined, obj: KubeObject, dryRun: boolean, uid?: string): KubeObject {
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    obj.metadata ??= {};
    if (!obj.metadata.name) {
      if (!obj.metadata.generateName) throw new HttpError(422, 'Invalid', 'metadata.name or metadata.generateName is required');
      obj.metadata.name = `${obj.metadata.generateName}${randomUUID().slice(0, 5)}`;
    }
    if (def.namespaced) obj.metadata.namespace = namespace;
    else delete obj.metadata.namespace;
    if (this.objects.get(def)!.has(this.key(namespace, obj.metadata.name))) {
      throw new HttpError(409, 'AlreadyExists', `${def.plural}${def.group ? `.${def.group}` : ''} "${obj.metadata.name}" already exists`);
    }
    obj.metadata.uid = uid ?? randomUUID();
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (dryRun) return obj;
    return this.store(def, namespace, obj, 'ADDED');
  }

  private store(def: ResourceDef, namespace: string | undefined, obj: KubeObject, type: WatchEvent['type']): KubeObject {
    this.rv += 1;
    obj.metadata!.resourceVersion = String(this.rv);
    this.objects.get(def)!.set(this.key(namespace, obj.metadata!.name!), obj);
    this.emit({ rv: this.rv, type, def, object: obj });
    return structuredClone(obj);
  }

  private deleteObject(def: ResourceDef, namespace: string | undefined, name: string): void {
    const key = this.key(namespace, name);
    const obj = this.objects.get(def)!.get(key);
    if (!obj) return;
    this.objects.get(def)!.delete(key);
    this.rv += 1;
    const gone = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } };
    this.emit({ rv: this.rv, type: 'DELETED', def, object: gone });
  }

  private emit(event: WatchEvent): void {
    this.history.push(event);
    const line = `${JSON.stringify({ type: event.type, object: event.object })}\n`;
    for (const w of this.watchers) {
      if (w.def === event.def && (w.namespace === undefined || w.namespace === event.object.metadata?.namespace) && w.selected(event.object)) {
        const delay = this.watchDelayFor?.(w.request) ?? this.watchDelayMs;
        if (delay > 0) setTimeout(() => w.res.writable && w.res.write(line), delay);
        else w.res.write(line);
      }
    }
  }

  private list(def: ResourceDef, namespace: string | undefined, query: URLSearchParams): Record<string, unknown> {
    const selected = selectorOf(query);
    const all = [...this.objects.get(def)!.entries()]
      .filter(([, o]) => (namespace === undefined || o.metadata?.namespace === namespace) && selected(o))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // continue token: the key after which the next page starts, plus the list's resourceVersion.
    let listRv = String(this.rv);
    let start = 0;
    const token = query.get('continue');
    if (token) {
      let parsed: { after: string; rv: string };
      try {
        parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after: string; rv: string };
      } catch {
        throw new HttpError(400, 'BadRequest', 'invalid continue token');
      }
      if (Number(parsed.rv) < this.compactedRv) {
        throw new HttpError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      }
      listRv = parsed.rv;
      start = all.findIndex(([k]) => k > parsed.after);
      if (start < 0) start = all.length;
    }
    const limit = Number(query.get('limit') ?? '0');
    const end = limit > 0 ? Math.min(all.length, start + limit) : all.length;
    const page = all.slice(start, end);
    const metadata: Record<string, unknown> = { resourceVersion: listRv };
    if (end < all.length) {
      metadata.continue = Buffer.from(JSON.stringify({ after: page[page.length - 1]![0], rv: listRv })).toString('base64url');
    }
    return { apiVersion: apiVersionOf(def), kind: `${def.kind}List`, metadata, items: page.map(([, o]) => o) };
  }

  private watch(request: RecordedRequest, def: ResourceDef, namespace: string | undefined, resourceVersion: string, res: ServerResponse, selected: (o: KubeObject) => boolean): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const matches = (o: KubeObject) => (namespace === undefined || o.metadata?.namespace === namespace) && selected(o);
    const from = Number(resourceVersion || '0');
    if (resourceVersion === '' || resourceVersion === '0') {
      // Real apiserver semantics: a watch without a resourceVersion starts with the current state.
      for (const o of this.objects.get(def)!.values()) if (matches(o)) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    } else if (!Number.isFinite(from) || from < this.compactedRv) {
      this.expiredWatches += 1;
      const status = statusBody(410, 'Expired', `too old resource version: ${resourceVersion} (${this.compactedRv})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    } else {
      for (const e of this.history) {
        if (e.rv > from && e.def === def && matches(e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
      }
    }
    const watcher: Watcher = { request, def, namespace, res, selected };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private groupList(): Record<string, unknown> {
    const groups = new Map<string, string[]>();
    for (const d of this.resources) {
      if (d.group === '') continue;
      const versions = groups.get(d.group) ?? [];
      if (!versions.includes(d.version)) versions.push(d.version);
      groups.set(d.group, versions);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }

  private resourceList(group: string, version: string, defs: ResourceDef[]): Record<string, unknown> {
    const resources: Array<Record<string, unknown>> = [];
    for (const d of defs) {
      const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
      resources.push({ name: d.plural, singularName: d.kind.toLowerCase(), namespaced: d.namespaced, kind: d.kind, verbs });
      if (d.status) resources.push({ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources };
  }
}

/**
 * The labelSelector of a list or watch, in the string form clients send: comma-separated
 * requirements "key", "!key", "key=value", "key==value", "key!=value" (set-based "in"/"notin" are
 * refused as not implemented). A fieldSelector is refused too.
 */
function selectorOf(query: URLSearchParams): (o: KubeObject) => boolean {
  if (query.get('fieldSelector')) throw new HttpError(400, 'BadRequest', 'the fake apiserver does not implement fieldSelector');
  const raw = query.get('labelSelector');
  if (!raw) return () => true;
  const tests = raw.split(',').map((req): ((labels: Record<string, string>) => boolean) => {
    const r = req.trim();
    if (/\s(in|notin)\s/.test(r)) throw new HttpError(400, 'BadRequest', `the fake apiserver does not implement set-based selectors: ${r}`);
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(r);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key.trim()] !== value.trim() : (l) => l[key.trim()] === value.trim();
    }
    if (r.startsWith('!')) return (l) => !(r.slice(1) in l);
    return (l) => r in l;
  });
  return (o) => {
    const labels = o.metadata?.labels ?? {};
    return tests.every((test) => test(labels));
  };
}
