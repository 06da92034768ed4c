// ClusterView over the live cluster (SPEC 7): one @kubernetes/client-node informer (ListWatch) per
// kind the apiserver serves, each object projected to what policies read before it is cached.
// Readiness waits for every informer's initial list. The client's ListWatch relists on 410 Gone
// and reconnects after a watch ends; after any other error it stops, so the view restarts it with
// a jittered backoff (resuming the watch from the last resourceVersion it saw).
import { KubeConfig, ListWatch, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { ClusterView, KubeObject, TenantBinding, TenantSpec, ViewKind } from '../../policies/types.js';
import { collectionPath, CORE_RESOURCES, discoverResources, type ApiResource } from './discovery.js';
import type { KubeClient } from '../../platform/kube-client.js';
import { ObjectStore } from './object-store.js';
import { project } from './projections.js';

export interface LiveViewOptions {
  defaultTenant: TenantSpec;
  /** Page size of the informers' initial lists (client-go's reflector uses 500). */
  pageSize?: number;
  /** How often discovery runs again, to pick up KubeVirt or the Tenant CRD installed later. */
  rediscoverMs?: number;
  /** First restart delay after an informer error; doubles up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Informer and discovery errors (the view keeps retrying; this is for logs and metrics). */
  onError?: (source: string, err: Error) => void;
}

const REQUIRED_KINDS: readonly ViewKind[] = ['Namespace', 'Pod', 'NetworkPolicy', 'Tenant'];

/** client-node's Watch, handing the informer projections instead of whole objects. */
class ProjectingWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly kind: ViewKind,
    /** Called before each watch request: after a list, the listed objects are in the cache by then. */
    private readonly onWatch: () => void,
    private readonly onEvent: () => void,
    /** ListWatch may reconnect after a delay that outlasts stop(); a stopped informer stays down. */
    private readonly stopped: () => boolean,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.stopped()) return Promise.resolve(new AbortController());
    this.onWatch();
    return super.watch(path, queryParams, (phase, obj, raw) => {
      this.onEvent();
      const objectEvent = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
      callback(phase, objectEvent ? project(this.kind, obj as KubeObject) : obj, raw);
    }, done);
  }
}

class KindInformer {
  synced = false;
  lastError: string | undefined;
  private backoffMs: number;
  private startedAt = 0;
  /** Set by a successful list, consumed by the watch that follows it. */
  private listedJustNow = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly informer: ListWatch<KubernetesObject>;

  constructor(
    readonly resource: ApiResource,
    private readonly view: LiveView,
    private readonly opts: Required<Pick<LiveViewOptions, 'pageSize' | 'baseBackoffMs' | 'maxBackoffMs'>> & LiveViewOptions,
  ) {
    this.backoffMs = opts.baseBackoffMs;
    const kind = resource.kind;
    const path = collectionPath(resource);
    const watch = new ProjectingWatch(view.client.kubeConfig, kind, () => this.beforeWatch(), () => this.healthy(), () => this.stopped);
    const list = async () => {
      const res = await view.client.list(path, {
        pageSize: opts.pageSize,
        ...(resource.labelSelector ? { labelSelector: resource.labelSelector } : {}),
        operation: `list ${resource.plural}`,
        map: (o) => project(kind, o) as KubernetesObject,
      });
      this.listedJustNow = true;
      return { metadata: { resourceVersion: res.resourceVersion }, items: res.items };
    };
    this.informer = new ListWatch<KubernetesObject>(path, watch, list, false, resource.labelSelector);
    const store = view.store;
    const upsert = (o: KubernetesObject) => store.upsert(kind, o as unknown as KubeObject);
    this.informer.on('add', upsert);
    this.informer.on('update', upsert);
    this.informer.on('delete', (o) => store.remove(kind, o.metadata?.namespace, o.metadata?.name ?? ''));
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  start(): void {
    this.stopped = false;
    this.startedAt = Date.now();
    this.informer.start().catch((err: unknown) => this.failed(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }

  private beforeWatch(): void {
    if (!this.listedJustNow) return;
    this.listedJustNow = false;
    this.healthy();
    if (!this.synced) {
      this.synced = true;
      this.view.syncChanged();
    }
  }

  private healthy(): void {
    this.backoffMs = this.opts.baseBackoffMs;
    this.lastError = undefined;
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.lastError = error.message;
    this.opts.onError?.(this.resource.kind, error);
    clearTimeout(this.timer);
    // A watch that ran fine for a while before failing starts over from the base delay.
    if (Date.now() - this.startedAt > this.opts.maxBackoffMs) this.backoffMs = this.opts.baseBackoffMs;
    const delay = this.backoffMs * (0.5 + Math.random());
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs);
    this.timer = setTimeout(() => {
      if (!this.stopped) this.start();
    }, delay);
    this.timer.unref();
  }
}

export class LiveView implements ClusterView {
  readonly store: ObjectStore;
  private readonly informers = new Map<ViewKind, KindInformer>();
  private readonly opts: Required<Pick<LiveViewOptions, 'pageSize' | 'baseBackoffMs' | 'maxBackoffMs' | 'rediscoverMs'>> & LiveViewOptions;
  private discoveryError: string | undefined;
  private discovered = false;
  private discoveryBackoffMs: number;
  private rediscoverTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private running = false;

  constructor(
    readonly client: KubeClient,
    opts: LiveViewOptions,
  ) {
    this.opts = { pageSize: 500, rediscoverMs: 60_000, baseBackoffMs: 500, maxBackoffMs: 30_000, ...opts };
    this.discoveryBackoffMs = this.opts.baseBackoffMs;
    this.store = new ObjectStore(opts.defaultTenant);
  }

  /** Discovers the served kinds and starts their informers; readiness follows as they sync. */
  async start(): Promise<void> {
    this.running = true;
    await this.discover();
    const again = () => {
      // Until discovery has worked once, nothing is watched: retry it on the informers' backoff.
      let delay = this.opts.rediscoverMs;
      if (!this.discovered) {
        delay = this.discoveryBackoffMs * (0.5 + Math.random());
        this.discoveryBackoffMs = Math.min(this.discoveryBackoffMs * 2, this.opts.maxBackoffMs);
      }
      this.rediscoverTimer = setTimeout(() => {
        void this.discover().finally(() => {
          if (this.running) again();
        });
      }, delay);
      this.rediscoverTimer.unref();
    };
    again();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.rediscoverTimer);
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** Runs discovery now and starts informers for kinds that appeared (KubeVirt installed later). */
  async discover(): Promise<void> {
    let resources: ApiResource[];
    try {
      resources = await discoverResources(this.client, AbortSignal.timeout(30_000));
    } catch (err) {
      this.discoveryError = (err as Error).message;
      this.opts.onError?.('discovery', err as Error);
      return;
    }
    this.discoveryError = undefined;
    this.discovered = true;
    for (const r of resources) {
      if (!this.running || this.informers.has(r.kind)) continue;
      const informer = new KindInformer(r, this, this.opts);
      this.informers.set(r.kind, informer);
      informer.start();
    }
    this.syncChanged();
  }

  /** kind -> initial list done, for every kind watched plus the required ones not (yet) found. */
  syncState(): Record<string, boolean> {
    const state: Record<string, boolean> = {};
    for (const kind of REQUIRED_KINDS) state[kind] = false;
    for (const [kind, i] of this.informers) state[kind] = i.synced;
    return state;
  }

  synced(): boolean {
    if (!this.discovered) return false;
    for (const kind of REQUIRED_KINDS) if (!this.informers.get(kind)?.synced) return false;
    for (const i of this.informers.values()) if (!i.synced) return false;
    return true;
  }

  /** Why the view is not ready, one line per cause (for /readyz). */
  syncProblems(): string[] {
    const problems: string[] = [];
    if (this.discoveryError) problems.push(`API discovery failed: ${this.discoveryError}`);
    else if (!this.discovered) problems.push('API discovery has not completed');
    if (this.discovered && !this.informers.has('Tenant')) {
      problems.push('the Tenant CRD (tenants.tenantguard.io) is not installed');
    }
    for (const [kind, i] of this.informers) {
      if (!i.synced) problems.push(`${kind}: initial list not complete${i.lastError ? ` (last error: ${i.lastError})` : ''}`);
    }
    return problems;
  }

  /** Resolves once every informer has synced; rejects when the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`cluster view not synced: ${this.syncProblems().join('; ')}`));
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  /** @internal informers report their first sync here. */
  syncChanged(): void {
    if (!this.synced()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
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

  /** Straight from the apiserver, bypassing the cache (SPEC 6.5); a kind not served has no objects. */
  async listLive(kind: ViewKind, namespace: string, signal: AbortSignal): Promise<KubeObject[]> {
    const resource = this.informers.get(kind)?.resource ?? CORE_RESOURCES.find((r) => r.kind === kind);
    if (!resource) {
      if (!this.discovered) throw new Error(`cannot list ${kind}: API discovery has not completed`);
      return [];
    }
    const res = await this.client.list(collectionPath(resource, namespace), {
      signal,
      pageSize: this.opts.pageSize,
      operation: `list ${resource.plural}`,
      map: (o) => project(kind, o),
    });
    return res.items;
  }
}
