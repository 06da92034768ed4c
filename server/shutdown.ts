// Graceful shutdown (SPEC 3): the apiserver keeps reusing connections to a terminating pod, so
// readiness goes 503 first; then, for a short linger, every answer says Connection: close, so the
// clients drop their kept-alive sockets themselves instead of racing a request into a socket the
// server is closing; then the listener stops, idle sockets are closed, in-flight reviews finish,
// and whatever is still open after the grace period is destroyed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdmissionApp, DrainSignal } from './app.js';

export interface ShutdownOptions {
  /** Longest to wait for in-flight reviews before destroying their connections. */
  graceMs: number;
  markNotReady(): void;
  /** The app's drain signal (AppDeps.drain); without it there is no linger. */
  drain?: DrainSignal;
  /** How long busy keep-alive clients get to see Connection: close; at most half of graceMs. */
  lingerMs?: number;
}

export const DEFAULT_LINGER_MS = 1000;

export async function gracefulShutdown(app: AdmissionApp, opts: ShutdownOptions): Promise<void> {
  opts.markNotReady();
  if (opts.drain) {
    opts.drain.draining = true;
    await sleep(Math.min(opts.lingerMs ?? DEFAULT_LINGER_MS, opts.graceMs / 2));
  }
  const server = app.server;
  const deadline = setTimeout(() => server.closeAllConnections(), opts.graceMs);
  try {
    // fastify.close() stops the listener; Node's server.close() closes the idle keep-alive
    // sockets at once, and the call resolves when the last connection has ended.
    await app.close();
  } finally {
    clearTimeout(deadline);
  }
}
