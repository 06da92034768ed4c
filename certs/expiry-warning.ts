// A serving certificate past its renewal time is a warning log line, once a day per certificate
// (SPEC 11.1), next to the tenantguard_cert_expiry_timestamp_seconds metric and its alert: readiness
// fails only once the certificate has expired, so approaching expiry never takes every replica out
// at once.
import type { Logger } from 'pino';
import type { CertPair } from './cert-watch.js';
import { renewalTime } from './renewal-schedule.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface ExpiryWarningOptions {
  pair(): CertPair;
  /** undefined: due when a third of the certificate's validity remains. */
  renewBeforeMs: number | undefined;
  /** What to do about it, appended to the line. */
  hint: string;
  logger: Logger;
  clock?: () => Date;
  /** How often the certificate is looked at (default hourly). */
  checkEveryMs?: number;
}

export class CertExpiryWarning {
  private readonly clock: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private last: { serial: string; at: number } | undefined;

  constructor(private readonly opts: ExpiryWarningOptions) {
    this.clock = opts.clock ?? (() => new Date());
  }

  /** Logs the warning when the certificate is past its renewal time and was not warned about within a day; true when it logged. */
  check(): boolean {
    const pair = this.opts.pair();
    const now = this.clock().getTime();
    const due = renewalTime(pair, this.opts.renewBeforeMs);
    if (now < due.getTime()) return false;
    if (this.last?.serial === pair.serial && now - this.last.at < DAY_MS) return false;
    this.last = { serial: pair.serial, at: now };
    const days = Math.floor((pair.notAfter.getTime() - now) / DAY_MS);
    const when = now >= pair.notAfter.getTime() ? 'has expired' : `expires in ${days} day${days === 1 ? '' : 's'}`;
    this.opts.logger.warn(
      { serial: pair.serial, notAfter: pair.notAfter.toISOString(), renewalDue: due.toISOString() },
      `serving certificate ${when} (at ${pair.notAfter.toISOString()}) and was due for renewal at ${due.toISOString()}: ${this.opts.hint}`,
    );
    return true;
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs ?? HOUR_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
