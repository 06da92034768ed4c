// The one path tenantguard's own API calls take to the kube-apiserver (lists, the Tenant status
// writes, discovery): @kubernetes/client-node's KubeConfig authenticates each request (tokens,
// exec plugins, client certificates, CA) on its RequestContext, and the JSON comes back as plain
// objects, unconverted, so every kind is projected the same way (the generated typed clients turn
// timestamps into Dates and drop unknown fields). A call made while a review is traced becomes a
// CLIENT child span and carries its W3C traceparent to the apiserver (SPEC 8).
import { existsSync } from 'node:fs';
import { KubeConfig, RequestContext, type HttpMethod } from '@kubernetes/client-node';
import { context, defaultTextMapSetter, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { fetch, type Dispatcher } from 'undici';
import type { KubeObject } from '../policies/types.js';

/** A non-2xx answer, with the apiserver's Status reason and message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly method: string,
    readonly path: string,
    message: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
  }
}

export interface KubeRequest {
  query?: Record<string, string>;
  body?: unknown;
  /** Default application/json; merge patches need application/merge-patch+json. */
  contentType?: string;
  signal?: AbortSignal;
  /** Span name suffix, e.g. "list networkpolicies"; the method and path otherwise. */
  operation?: string;
}

export interface KubeList<T = KubeObject> {
  resourceVersion: string;
  items: T[];
}

const propagator = new W3CTraceContextPropagator();

/** Bound for calls made without a signal, so that a hung apiserver cannot stall a caller forever. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Whether a cluster is configured: a given kubeconfig, KUBECONFIG, or a pod's service account.
 * ~/.kube/config alone does not count, so a developer's `make run` never talks to their cluster.
 */
export function kubeconfigConfigured(file: string | undefined, env: NodeJS.ProcessEnv): boolean {
  return file !== undefined || !!env.KUBECONFIG || (!!env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN));
}

/** KUBECONFIG / ~/.kube/config / in-cluster service account, as kubectl finds them; or a given file. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig${file ? ` ${file}` : ''}: no current cluster`);
  return kc;
}

export class KubeClient {
  private readonly server: URL;
  // client-node builds a fresh undici Agent on every authentication, i.e. a new TLS connection per
  // call; the first one is kept so calls reuse pooled keep-alive connections.
  private dispatcher: Dispatcher | undefined;
  private dispatcherKnown = false;

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly tracer?: Tracer,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request<T = KubeObject>(method: HttpMethod, path: string, req: KubeRequest = {}): Promise<T> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method);
    ctx.setHeaderParam('Accept', 'application/json');
    if (req.body !== undefined) {
      ctx.setHeaderParam('Content-Type', req.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(req.body));
    }
    await this.kubeConfig.applySecurityAuthentication(ctx);
    if (!this.dispatcherKnown) {
      this.dispatcher = ctx.getDispatcher() as Dispatcher | undefined;
      this.dispatcherKnown = true;
    }

    const parent = context.active();
    const parentSpan = trace.getSpan(parent);
    const span = this.tracer && parentSpan?.isRecording()
      ? this.tracer.startSpan(`kube ${req.operation ?? `${method} ${url.pathname}`}`, {
          kind: SpanKind.CLIENT,
          attributes: {
            [ATTR_HTTP_REQUEST_METHOD]: method,
            [ATTR_URL_FULL]: url.toString(),
            [ATTR_SERVER_ADDRESS]: url.hostname,
            [ATTR_SERVER_PORT]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          },
        }, parent)
      : undefined;
    if (parentSpan) {
      const carrier: Record<string, string> = {};
      propagator.inject(span ? trace.setSpan(parent, span) : parent, carrier, defaultTextMapSetter);
      for (const [k, v] of Object.entries(carrier)) ctx.setHeaderParam(k, v);
    }

    try {
      const res = await fetch(url, {
        method,
        headers: ctx.getHeaders(),
        body: ctx.getBody() as string | undefined,
        dispatcher: this.dispatcher,
        signal: req.signal ?? AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS),
      });
      span?.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.status);
      const text = await res.text();
      if (res.status < 200 || res.status > 299) throw errorFrom(res.status, text, method, url.pathname);
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new KubeApiError(res.status, 'BadResponse', method, url.pathname, 'response body is not JSON');
      }
    } catch (err) {
      span?.recordException(err as Error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      if (err instanceof KubeApiError) throw err;
      throw new Error(`${method} ${url.pathname}: ${describe(err)}`, { cause: err });
    } finally {
      span?.end();
    }
  }

  /**
   * A whole collection, fetched in pages as client-go's reflector does, at one resourceVersion.
   * `map` is applied page by page, so a projection lets each raw page go before the next arrives
   * (a 100k-pod cluster is never held as whole objects).
   */
  async list<T = KubeObject>(
    path: string,
    opts: { pageSize?: number; labelSelector?: string; signal?: AbortSignal; operation?: string; map?: (obj: KubeObject) => T } = {},
  ): Promise<KubeList<T>> {
    const items: T[] = [];
    let resourceVersion = '';
    let token: string | undefined;
    do {
      const query: Record<string, string> = {};
      if (opts.pageSize) query.limit = String(opts.pageSize);
      if (opts.labelSelector) query.labelSelector = opts.labelSelector;
      if (token) query.continue = token;
      const page = await this.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] }>(
        'GET', path, { query, signal: opts.signal, operation: opts.operation },
      );
      if (!resourceVersion) resourceVersion = page.metadata?.resourceVersion ?? '';
      for (const item of page.items ?? []) items.push(opts.map ? opts.map(item) : (item as T));
      token = page.metadata?.continue || undefined;
    } while (token);
    return { resourceVersion, items };
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `aborted (${err.message})`;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

function errorFrom(status: number, text: string, method: string, path: string): KubeApiError {
  let reason = 'Unknown';
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    if (body.reason) reason = body.reason;
    if (body.message) message = body.message;
  } catch {
    // Not a Status object (a proxy in between, say): the raw text is the best message there is.
  }
  return new KubeApiError(status, reason, method, path, message);
}
