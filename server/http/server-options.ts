// The Fastify and HTTPS server options of the admission app (SPEC 3): TLS 1.2+, HTTP/1.1 only,
// optional mutual TLS, and the connection timeouts that bound slow clients, each checked first.
import type { FastifyHttpsOptions } from 'fastify';
import type { Server } from 'node:https';
import type { AppDeps, ConnectionTimeouts } from './app-deps.js';

// kube-apiserver gives a webhook call at most 30 s (10 s by default), body included.
export const DEFAULT_CONNECTION_TIMEOUTS: ConnectionTimeouts = { handshakeMs: 10_000, headersMs: 10_000, requestMs: 10_000, keepAliveMs: 72_000 };

function checkedTimeouts(overrides: Partial<ConnectionTimeouts> | undefined): ConnectionTimeouts {
  const timeouts = { ...DEFAULT_CONNECTION_TIMEOUTS, ...overrides };
  for (const [name, ms] of Object.entries(timeouts)) {
    if (!Number.isInteger(ms) || ms <= 0) throw new Error(`connectionTimeouts.${name}: must be a positive integer of milliseconds, got ${ms}`);
  }
  if (timeouts.requestMs < timeouts.headersMs) {
    throw new Error(`connectionTimeouts.requestMs (${timeouts.requestMs}) must be at least headersMs (${timeouts.headersMs})`);
  }
  return timeouts;
}

export function serverOptions(deps: AppDeps): FastifyHttpsOptions<Server> {
  const mtls = deps.https.requestCert === true;
  if (mtls && deps.https.ca === undefined) {
    throw new Error('https.requestCert needs https.ca: the CA that client certificates must chain to');
  }
  const timeouts = checkedTimeouts(deps.connectionTimeouts);
  return {
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
    bodyLimit: deps.bodyLimitBytes,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    logger: false,
    // During shutdown a request on a kept-alive socket is still answered (with Connection: close):
    // a 503 would be a webhook failure for the apiserver.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  };
}
