// GET /healthz (the process is alive), /readyz (503 with the reasons until ready) and, unless it
// is served on its own port, /metrics (SPEC 3).
import type { Metrics } from '../telemetry/metrics.js';
import type { AdmissionApp, Readiness } from './app-deps.js';

export function registerStatusRoutes(app: AdmissionApp, opts: { readiness(): Readiness; metrics: Metrics; serveMetrics: boolean }): void {
  app.get('/healthz', (_request, reply) => reply.type('application/json').send({ ok: true }));
  app.get('/readyz', (_request, reply) => {
    const state = opts.readiness();
    const details = state.details !== undefined && state.details.length > 0 ? { details: state.details } : {};
    if (state.ready) return reply.type('application/json').send({ ready: true, ...details });
    return reply.code(503).type('application/json').send({ ready: false, reasons: state.reasons, ...details });
  });
  if (opts.serveMetrics) {
    const { metrics } = opts;
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  }
}
