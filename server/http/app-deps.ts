// What the admission app is built from (buildApp in server/app.ts): shared by its route handlers
// and hooks in this folder.
import type { Server } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Decision, PolicyEngine } from '../../policies/engine.js';
import type { AdmissionRequest } from '../../policies/types.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';

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

/** Once raised, every answer carries Connection: close, so clients stop reusing the socket. */
export interface DrainSignal {
  draining: boolean;
}

export interface AppDeps {
  engine: PolicyEngine;
  telemetry: Telemetry;
  bodyLimitBytes: number;
  https: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  readiness(): Readiness;
  /**
   * Why the cluster view cannot judge a review now (live: its first sync is not complete); empty
   * when it can. Reviews are then answered 503, never allowed (SPEC 11.1).
   */
  unsynced?(): string[];
  /** Called after an allowed review with the final (mutated) object; snapshot mode applies it. */
  onAdmitted?(request: AdmissionRequest, decision: Decision): void;
  serveMetrics: boolean;
  connectionTimeouts?: Partial<ConnectionTimeouts>;
  /** Shared with gracefulShutdown, which raises it before the listener closes. */
  drain?: DrainSignal;
}

export type AdmissionApp = FastifyInstance<Server>;
