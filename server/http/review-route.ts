// POST /mutate and /validate (SPEC 3): decode the AdmissionReview, run the engine under the review
// span, apply what was admitted (snapshot mode), record it, and answer with the encoded response.
import { context, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Decision } from '../../policies/engine.js';
import type { AdmissionRequest } from '../../policies/types.js';
import { decodeReview, encodeResponse } from '../admission-codec.js';
import type { Webhook } from '../telemetry/metrics.js';
import { reviewContext } from '../telemetry/tracing.js';
import type { AdmissionApp, AppDeps, DrainSignal } from './app-deps.js';
import { sendError } from './error-replies.js';
import { recordReview } from './review-record.js';

type ReviewDeps = Pick<AppDeps, 'engine' | 'telemetry' | 'onAdmitted' | 'unsynced'> & { drain: DrainSignal };

export function registerReviewRoutes(app: AdmissionApp, deps: ReviewDeps): void {
  const { engine, drain, onAdmitted } = deps;
  const { tracing, logger, metrics } = deps.telemetry;
  metrics.preparePolicies([...engine.mutators, ...engine.validators].map((m) => m.name));

  async function review(phase: Webhook, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const started = performance.now();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      metrics.countRequestError('invalid_review');
      return sendError(reply, drain, 400, { error: 'invalid_review', message: decoded.error });
    }
    const req = decoded.request;
    // A view that has not synced would judge a tenant namespace as nobody's (allowing what its
    // Tenant denies). kube-apiserver treats a non-2xx reply as a failed call (webhook/mutating and
    // validating dispatcher.go: r.Do(ctx).Into(response) fails, ErrCallingWebhook), so the
    // webhook's failurePolicy decides, as it would with this replica down.
    const unsynced = deps.unsynced?.() ?? [];
    if (unsynced.length > 0) {
      metrics.countRequestError('not_synced');
      return sendError(reply, drain, 503, {
        error: 'not_synced',
        message: `review ${req.uid} not judged: the cluster view has not synced (${unsynced.join('; ')}); the webhook's failurePolicy applies`,
      });
    }
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
      // The review's deadline runs from the request's arrival (Fastify's onRequest), before the body was read.
      const receivedAt = performance.now() - reply.elapsedTime;
      decision = recording
        ? await context.with(reviewContext(span), engine.review, engine, req, phase, receivedAt)
        : await engine.review(req, phase, receivedAt);
    } catch (err) {
      return internalError(err, req, span, reply);
    }
    if (recording) {
      span.setAttribute('tenantguard.tenant', decision.tenant ?? '');
      span.setAttribute('tenantguard.decision', decision.allowed ? 'allowed' : 'denied');
    }
    span.end();
    if (decision.allowed && onAdmitted !== undefined) {
      try {
        onAdmitted(req, decision);
      } catch (err) {
        metrics.countRequestError('internal');
        logger.error({ err, uid: req.uid, trace_id: span.spanContext().traceId }, 'applying the admitted review to the state failed');
      }
    }
    recordReview(deps.telemetry, phase, req, decision, span, performance.now() - started);
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
    return sendError(reply, drain, 500, { error: 'internal', message: `review ${req.uid} failed; the error is logged with trace id ${ids.traceId}` });
  }

  app.post('/mutate', (request, reply) => review('mutate', request, reply));
  app.post('/validate', (request, reply) => review('validate', request, reply));
}
