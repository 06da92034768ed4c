// The HTTPS admission server (SPEC 3): POST /mutate and /validate run the engine on an
// AdmissionReview; health, readiness and metrics endpoints; every malformed request is a 400 with
// a precise message. Each review is one span, one log line and one set of metric updates.
import type { Server } from 'node:https';
import { context, SpanStatusCode, type Span } from '@opentelemetry/api';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Decision, PolicyEngine } from '../policies/engine.js';
import type { AdmissionRequest } from '../policies/types.js';
import { BodyParseError, decodeReview, encodeResponse, parseJsonBody } from './admission-codec.js';
import { logReview, type Logger } from './telemetry/logging.js';
import type { Metrics, RequestErrorReason, Webhook } from './telemetry/metrics.js';
import { reviewContext, type Tracing } from './telemetry/tracing.js';

export interface Telemetry {
  tracing: Tracing;
  logger: Logger;
  metrics: Metrics;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
  /** Problems worth seeing that do not stop the webhook from serving (e.g. Tenant conflicts). */
  details?: string[];
}

/** Bounds on how long a client may hold a connection without completing a request (slow-loris). */
export interface ConnectionTimeouts {
  /** The TLS handshake must finish within this. */
  handshakeMs: number;
  /** The request line and headers must arrive within this. */
  headersMs: number;
  /** The whole request, body included, must arrive within this; at least headersMs. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

// kube-apiserver gives a webhook call at most 30 s (10 s by default), body included.
export const DEFAULT_CONNECTION_TIMEOUTS: ConnectionTimeouts = { handshakeMs: 10_000, headersMs: 10_000, requestMs: 10_000, keepAliveMs: 72_000 };

export interface AppDeps {
  engine: PolicyEngine;
  telemetry: Telemetry;
  bodyLimitBytes: number;
  https: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  readiness(): Readiness;
  /** Called after an allowed review with the final (mutated) object; snapshot mode applies it. */
  onAdmitted?(request: AdmissionRequest, decision: Decision): void;
  serveMetrics: boolean;
  connectionTimeouts?: Partial<ConnectionTimeouts>;
  /** Shared with gracefulShutdown, which raises it before the listener closes. */
  drain?: DrainSignal;
}

/** Once raised, every answer carries Connection: close, so clients stop reusing the socket. */
export interface DrainSignal {
  draining: boolean;
}

export type AdmissionApp = FastifyInstance<Server>;

interface ErrorBody {
  error: RequestErrorReason | 'not_found';
  message: string;
}

/** Fastify's own parser and framework errors, mapped to the 400s SPEC 3 asks for. */
function clientError(err: FastifyError, request: FastifyRequest, bodyLimitBytes: number): { error: RequestErrorReason; message: string } | undefined {
  if (err instanceof BodyParseError) return { error: err.reason, message: err.message };
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request.headers['content-type'];
      return {
        error: 'bad_content_type',
        message: type === undefined
          ? 'content-type: header is missing; send application/json'
          : `content-type: ${JSON.stringify(type.slice(0, 100))} is not supported; send application/json`,
      };
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { error: 'body_too_large', message: `body: exceeds the limit of ${bodyLimitBytes} bytes` };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { error: 'bad_request', message: 'body: its size does not match the content-length header' };
    default:
      return err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500
        ? { error: 'bad_request', message: err.message }
        : undefined;
  }
}

export function buildApp(deps: AppDeps): AdmissionApp {
  const { engine, bodyLimitBytes } = deps;
  const { tracing, logger, metrics } = deps.telemetry;
  const mtls = deps.https.requestCert === true;
  if (mtls && deps.https.ca === undefined) {
    throw new Error('https.requestCert needs https.ca: the CA that client certificates must chain to');
  }
  const timeouts = { ...DEFAULT_CONNECTION_TIMEOUTS, ...deps.connectionTimeouts };
  for (const [name, ms] of Object.entries(timeouts)) {
    if (!Number.isInteger(ms) || ms <= 0) throw new Error(`connectionTimeouts.${name}: must be a positive integer of milliseconds, got ${ms}`);
  }
  if (timeouts.requestMs < timeouts.headersMs) {
    throw new Error(`connectionTimeouts.requestMs (${timeouts.requestMs}) must be at least headersMs (${timeouts.headersMs})`);
  }
  const app = Fastify({
    https: {
      handshakeTimeout: timeouts.handshakeMs,
      headersTimeout: timeouts.headersMs,
      // Node enforces headersTimeout and requestTimeout only when it sweeps its connections (30 s by default).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headersMs / 4))),
      key: deps.https.key,
      cert: deps.https.cert,
      ...(deps.https.ca !== undefined ? { ca: deps.https.ca } : {}),
      requestCert: mtls,
      rejectUnauthorized: mtls,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    },
    bodyLimit: bodyLimitBytes,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    logger: false,
    // During shutdown a request on a kept-alive socket is still answered (with Connection: close):
    // a 503 would be a webhook failure for the apiserver.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  const drain = deps.drain ?? { draining: false };
  app.addHook('preClose', (done) => {
    drain.draining = true;
    done();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
    if (drain.draining) reply.header('connection', 'close');
    return reply.code(status).type('application/json').send(body);
  }

  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    sendError(reply, 404, {
      error: 'not_found',
      message: `no route ${request.method} ${request.url.slice(0, 200)}; routes: POST /mutate, POST /validate, GET /healthz, GET /readyz${deps.serveMetrics ? ', GET /metrics' : ''}`,
    });
  app.setNotFoundHandler(notFound);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // Fastify parses the body before it knows there is no route: a wrong path is the problem to name.
    if (request.is404) return notFound(request, reply);
    const client = clientError(err, request, bodyLimitBytes);
    if (client !== undefined) {
      metrics.countRequestError(client.error);
      return sendError(reply, 400, client);
    }
    metrics.countRequestError('internal');
    logger.error({ err, method: request.method, url: request.url }, 'request failed');
    return sendError(reply, 500, { error: 'internal', message: 'internal error; the failure is logged' });
  });


  async function review(phase: Webhook, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const started = performance.now();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      metrics.countRequestError('invalid_review');
      return sendError(reply, 400, { error: 'invalid_review', message: decoded.error });
    }
    const req = decoded.request;
    const span = tracing.startReviewSpan(phase === 'mutate' ? 'admission mutate' : 'admission validate', request.headers);
    const recording = span.isRecording();
    if (recording) {
      span.setAttribute('k8s.namespace.name', req.namespace ?? '');
      span.setAttribute('tenantguard.kind', req.kind.kind);
      span.setAttribute('tenantguard.operation', req.operation);
      span.setAttribute('tenantguard.uid', req.uid);
    }
    let decision: Decision;
    try {
      // An unsampled review enters no context: AsyncLocalStorage would cost every review for a
      // span nothing records (the engine then makes no module spans either).
      decision = recording
        ? await context.with(reviewContext(span), engine.review, engine, req, phase)
        : await engine.review(req, phase);
    } catch (err) {
      return internalError(err, req, span, reply);
    }
    if (recording) {
      span.setAttribute('tenantguard.tenant', decision.tenant ?? '');
      span.setAttribute('tenantguard.decision', decision.allowed ? 'allowed' : 'denied');
    }
    span.end();
    if (decision.allowed && deps.onAdmitted !== undefined) {
      try {
        deps.onAdmitted(req, decision);
      } catch (err) {
        metrics.countRequestError('internal');
        logger.error({ err, uid: req.uid, trace_id: span.spanContext().traceId }, 'applying the admitted review to the state failed');
      }
    }
    const durationMs = performance.now() - started;
    metrics.recordReview(phase, req.operation, req.kind.kind, decision.allowed, durationMs / 1000);
    metrics.recordPolicies(decision.modules);
    if (logger.isLevelEnabled('info')) {
      const ids = span.spanContext();
      logReview(logger, {
        webhook: phase,
        uid: req.uid,
        namespace: req.namespace,
        kind: req.kind.kind,
        name: req.name || req.object?.metadata?.name || req.object?.metadata?.generateName,
        operation: req.operation,
        user: req.userInfo.username,
        tenant: decision.tenant,
        decision: decision.allowed ? 'allowed' : 'denied',
        reasons: decision.status?.message ?? decision.exemptBy,
        warnings: decision.warnings.length,
        dryRun: req.dryRun === true,
        durationMs,
        trace_id: ids.traceId,
        span_id: ids.spanId,
      });
    }
    if (drain.draining) reply.header('connection', 'close');
    return encodeResponse(req.uid, decision);
  }

  /** The engine contains module failures itself; anything reaching here is a bug, answered with 500. */
  function internalError(err: unknown, req: AdmissionRequest, span: Span, reply: FastifyReply): FastifyReply {
    if (span.isRecording()) {
      span.recordException(err instanceof Error ? err : new Error(String(err)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'review failed' });
    }
    span.end();
    metrics.countRequestError('internal');
    const ids = span.spanContext();
    logger.error({ err, uid: req.uid, trace_id: ids.traceId, span_id: ids.spanId }, 'review failed');
    return sendError(reply, 500, { error: 'internal', message: `review ${req.uid} failed; the error is logged with trace id ${ids.traceId}` });
  }

  app.post('/mutate', (request, reply) => review('mutate', request, reply));
  app.post('/validate', (request, reply) => review('validate', request, reply));
  app.get('/healthz', (_request, reply) => reply.type('application/json').send({ ok: true }));
  app.get('/readyz', (_request, reply) => {
    const state = deps.readiness();
    const details = state.details !== undefined && state.details.length > 0 ? { details: state.details } : {};
    if (state.ready) return reply.type('application/json').send({ ready: true, ...details });
    return reply.code(503).type('application/json').send({ ready: false, reasons: state.reasons, ...details });
  });
  if (deps.serveMetrics) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  }
  return app;
}
