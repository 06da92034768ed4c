// What each review leaves behind (SPEC 8): its metric updates and its one log line, with the
// review span's ids so the line and the trace can be joined.
import type { Span } from '@opentelemetry/api';
import type { Decision } from '../../policies/engine.js';
import type { AdmissionRequest } from '../../policies/types.js';
import { logReview } from '../telemetry/logging.js';
import type { Webhook } from '../telemetry/metrics.js';
import type { Telemetry } from './app-deps.js';

export function recordReview(
  { logger, metrics }: Pick<Telemetry, 'logger' | 'metrics'>,
  phase: Webhook,
  req: AdmissionRequest,
  decision: Decision,
  span: Span,
  durationMs: number,
): void {
  metrics.recordReview(phase, req.operation, req.kind.kind, decision.allowed, durationMs / 1000);
  metrics.recordPolicies(decision.modules);
  if (!logger.isLevelEnabled('info')) return;
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
