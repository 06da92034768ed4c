// The HTTPS admission server (SPEC 3), composed from the route handlers and hooks in server/http/:
// POST /mutate and /validate run the engine on an AdmissionReview; health, readiness and metrics
// endpoints; every malformed request is a 400 with a precise message.
import Fastify from 'fastify';
import type { AdmissionApp, AppDeps } from './http/app-deps.js';
import { registerErrorReplies } from './http/error-replies.js';
import { registerJsonBodyParser } from './http/json-body-parser.js';
import { registerReviewRoutes } from './http/review-route.js';
import { serverOptions } from './http/server-options.js';
import { registerStatusRoutes } from './http/status-routes.js';

export type { AdmissionApp, AppDeps, ConnectionTimeouts, DrainSignal, Readiness, Telemetry } from './http/app-deps.js';
export { DEFAULT_CONNECTION_TIMEOUTS } from './http/server-options.js';

export function buildApp(deps: AppDeps): AdmissionApp {
  const app = Fastify(serverOptions(deps));
  const drain = deps.drain ?? { draining: false };
  app.addHook('preClose', (done) => {
    drain.draining = true;
    done();
  });
  const { logger, metrics } = deps.telemetry;
  registerJsonBodyParser(app);
  registerErrorReplies(app, { drain, metrics, logger, bodyLimitBytes: deps.bodyLimitBytes, serveMetrics: deps.serveMetrics });
  registerReviewRoutes(app, {
    engine: deps.engine,
    telemetry: deps.telemetry,
    drain,
    ...(deps.onAdmitted ? { onAdmitted: deps.onAdmitted } : {}),
    ...(deps.unsynced ? { unsynced: deps.unsynced } : {}),
  });
  registerStatusRoutes(app, { readiness: deps.readiness, metrics, serveMetrics: deps.serveMetrics });
  return app;
}
