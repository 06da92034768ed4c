// OpenTelemetry tracing (SPEC 8): a tracer provider instance (not registered as the global one, so
// tests and app instances do not leak into each other), the standard OTEL_* sampler and OTLP/HTTP
// exporter settings, and the review span that continues the apiserver's W3C trace context.
import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { parseKeyPairsIntoRecord, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { VERSION } from '../version.js';

export class TracingConfigError extends Error {}

export interface TracingOptions {
  serviceName: string;
  /** An in-process exporter (tests): spans are handed to it synchronously as they end. */
  exporter?: SpanExporter;
  /** Where OTEL_* settings are read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export interface Tracing {
  /** The tracer the engine uses for its per-module child spans. */
  readonly tracer: Tracer;
  /** The OTLP endpoint spans are exported to, when one is configured. */
  readonly otlpEndpoint: string | undefined;
  /**
   * Starts the review span as a child of the incoming `traceparent`/`tracestate` (a root span
   * otherwise). For an unsampled parent the span is non-recording: it only carries the ids.
   */
  startReviewSpan(name: string, headers: IncomingHttpHeaders): Span;
  forceFlush(): Promise<void>;
  /** Flushes what is queued and stops exporting. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const SERVER_SPAN: SpanOptions = { kind: SpanKind.SERVER };

/**
 * The engine finds the review span with trace.getActiveSpan() and scopes module spans with
 * context.with, which needs a context manager; that is process-wide state in the OTel API, so it is
 * registered once per process (and left alone if the embedding process registered its own).
 */
let contextManagerRegistered = false;
function ensureContextManager(): void {
  if (contextManagerRegistered) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerRegistered = true;
}

/** OTel treats an empty variable as unset. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function ratioFrom(env: NodeJS.ProcessEnv): number {
  const raw = envValue(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (raw === undefined) return 1;
  const ratio = Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new TracingConfigError(`OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got "${raw}"`);
  }
  return ratio;
}

export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const name = envValue(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratioFrom(env));
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratioFrom(env)) });
    default:
      throw new TracingConfigError(
        `OTEL_TRACES_SAMPLER: unsupported sampler "${name}" (use always_on, always_off, traceidratio, ` +
          'parentbased_always_on, parentbased_always_off or parentbased_traceidratio)',
      );
  }
}

function checkedUrl(variable: string, url: string): string {
  try {
    return new URL(url).toString();
  } catch {
    throw new TracingConfigError(`${variable}: not a valid URL: "${url}"`);
  }
}

/** The traces URL by the OTLP exporter rules: the signal-specific variable as is, else ENDPOINT + /v1/traces. */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const specific = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific !== undefined) return checkedUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific);
  const base = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return undefined;
  return checkedUrl('OTEL_EXPORTER_OTLP_ENDPOINT', `${base.endsWith('/') ? base : `${base}/`}v1/traces`);
}

function checkProtocol(env: NodeJS.ProcessEnv): void {
  const protocol = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envValue(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  // The collector's OTLP/HTTP receiver takes JSON and protobuf on the same path, so a
  // protobuf setting still works with the JSON this exporter sends; gRPC does not.
  if (protocol !== undefined && protocol !== 'http/json' && protocol !== 'http/protobuf') {
    throw new TracingConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL: "${protocol}" is not supported; tenantguard exports OTLP over HTTP (http/json)`);
  }
}

function otlpHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    ...parseKeyPairsIntoRecord(envValue(env, 'OTEL_EXPORTER_OTLP_HEADERS')),
    ...parseKeyPairsIntoRecord(envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS')),
  };
}

/**
 * Creates the tracing pipeline. Spans go to `opts.exporter` (SimpleSpanProcessor) and, when an
 * OTLP endpoint is configured, to an OTLP/HTTP exporter behind a BatchSpanProcessor. Without
 * either, spans are still created (sampling decisions and ids propagate) but go nowhere.
 * Other exporter settings (timeouts, TLS files, compression) are read by the exporter from
 * process.env as the OTel SDK documents.
 */
export function createTracing(opts: TracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const sampler = samplerFromEnv(env);
  const otlpEndpoint = otlpTracesUrl(env);
  const processors: SpanProcessor[] = [];
  if (opts.exporter) processors.push(new SimpleSpanProcessor({ exporter: opts.exporter }));
  if (otlpEndpoint !== undefined) {
    checkProtocol(env);
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: otlpEndpoint, headers: otlpHeaders(env) }) }));
  }
  const provider = new TracerProvider({
    sampler,
    resource: resourceFromAttributes({ 'service.name': envValue(env, 'OTEL_SERVICE_NAME') ?? opts.serviceName, 'service.version': VERSION }),
    spanProcessors: processors,
  });
  ensureContextManager();
  const tracer = provider.getTracer('tenantguard');

  return {
    tracer,
    otlpEndpoint,
    startReviewSpan(name: string, headers: IncomingHttpHeaders): Span {
      const parent: Context = headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      return tracer.startSpan(name, SERVER_SPAN, parent);
    },
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** The context to run a review in: the review span active, for the engine's module spans. */
export function reviewContext(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}
