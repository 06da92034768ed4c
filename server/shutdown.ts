// Graceful shutdown (SPEC 3): the apiserver keeps reusing connections to a terminating pod, so
// readiness goes 503 first, the listener stops, idle keep-alive sockets are closed at once,
// in-flight reviews finish and are answered with Connection: close (see app.ts), and whatever is
// still open after the grace period is destroyed.
import type { AdmissionApp } from './app.js';

export interface ShutdownOptions {
  /** Longest to wait for in-flight reviews before destroying their connections. */
  graceMs: number;
  markNotReady(): void;
}

export async function gracefulShutdown(app: AdmissionApp, opts: ShutdownOptions): Promise<void> {
  opts.markNotReady();
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
