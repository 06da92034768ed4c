// Structured logs (SPEC 8): pino JSON, and the one line per review that is the request log (the
// server's own per-request logging is off). The line carries identifiers and the verdict only:
// objects, and so Secret data, never reach the log.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger } from 'pino';

export function createLogger(opts: { level: LogLevel; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      // pino's default epoch-millisecond "time": an ISO timestamp adds ~60% to the cost of a line.
      formatters: { level: (label) => ({ level: label }) },
    },
    // stdout in batches of 4 KiB, flushed at least every 200ms: one asynchronous write per line
    // cost ~15% of a review's CPU in the HTTPS benchmark. pino flushes the rest when the process
    // exits, so only a SIGKILL can lose the last lines.
    opts.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 }),
  );
}

export interface ReviewLogEntry {
  webhook: string;
  uid: string;
  namespace: string | undefined;
  kind: string;
  name: string | undefined;
  operation: string;
  user: string | undefined;
  tenant: string | undefined;
  decision: 'allowed' | 'denied';
  /** The denial message, or what exempted the request. */
  reasons: string | undefined;
  warnings: number;
  dryRun: boolean;
  durationMs: number;
  trace_id: string;
  span_id: string;
}

export function logReview(logger: Logger, entry: ReviewLogEntry): void {
  logger.info(entry, 'admission review');
}
