// Error answers (SPEC 3): every malformed request is a 400 with a JSON body naming what is wrong,
// an unknown route a 404 listing the routes, anything else a logged 500.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BodyParseError } from '../admission-codec.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics, RequestErrorReason } from '../telemetry/metrics.js';
import type { AdmissionApp, DrainSignal } from './app-deps.js';

export interface ErrorBody {
  error: RequestErrorReason | 'not_found';
  message: string;
}

export function sendError(reply: FastifyReply, drain: DrainSignal, status: number, body: ErrorBody): FastifyReply {
  if (drain.draining) reply.header('connection', 'close');
  return reply.code(status).type('application/json').send(body);
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

export function registerErrorReplies(
  app: AdmissionApp,
  opts: { drain: DrainSignal; metrics: Metrics; logger: Logger; bodyLimitBytes: number; serveMetrics: boolean },
): void {
  const { drain, metrics, logger } = opts;
  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    sendError(reply, drain, 404, {
      error: 'not_found',
      message: `no route ${request.method} ${request.url.slice(0, 200)}; routes: POST /mutate, POST /validate, GET /healthz, GET /readyz${opts.serveMetrics ? ', GET /metrics' : ''}`,
    });
  app.setNotFoundHandler(notFound);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // Fastify parses the body before it knows there is no route: a wrong path is the problem to name.
    if (request.is404) return notFound(request, reply);
    const client = clientError(err, request, opts.bodyLimitBytes);
    if (client !== undefined) {
      metrics.countRequestError(client.error);
      return sendError(reply, drain, 400, client);
    }
    metrics.countRequestError('internal');
    logger.error({ err, method: request.method, url: request.url }, 'request failed');
    return sendError(reply, drain, 500, { error: 'internal', message: 'internal error; the failure is logged' });
  });
}
