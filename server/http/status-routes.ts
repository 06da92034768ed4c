// GET /healthz (the process is alive), /readyz (503 with the reasons until ready) and, unless it
// is served on its own port, /metrics (SPEC 3). The plain metrics port answers /healthz and /readyz
// too (server/webhook-server.ts): the kubelet presents no client certificate under mutual TLS.
import type { Metrics } from '../telemetry/metrics.js';
import type { AdmissionApp, Readiness } from './app-deps.js';

/** /readyz's answer, the same on the HTTPS port and the plain metrics port (probes under mutual TLS). */
export function readinessReply(state: Readiness): { status: 200 | 503; body: Record<string, unknown> } {
  const details = state.details !== undefined && state.details.length > 0 ? { details: state.details } : {};
  if (state.ready) return { status: 200, body: { ready: true, ...details } };
  return { status: 503, body: { ready: false, reasons: state.reasons, ...details } };
}

export const HEALTHY = { ok: true };

export function registerStatusRoutes(app: AdmissionApp, opts: { readiness(): Readiness; metrics: Metrics; serveMetrics: boolean }): void {
  app.get('/healthz', (_request, reply) => reply.type('application/json').send(HEALTHY));
  app.get('/readyz', (_request, reply) => {
    const { status, body } = readinessReply(opts.readiness());
    return reply.code(status).type('application/json').send(body);
  });
  if (opts.serveMetrics) {
    const { metrics } = opts;
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  }
}
