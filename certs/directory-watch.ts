// Watching files that get replaced rather than written: editors rename a new file over the old one,
// a mounted Secret or ConfigMap swaps a `..data` symlink, `tenantguard certs` renames into place. A
// watch on the file itself goes deaf after the first swap, so the directories are watched. Events
// come in bursts, so the re-check is debounced, and it never runs twice at once: an event during a
// re-check schedules one more pass after it.
import { watch, type FSWatcher } from 'node:fs';

export interface DirectoryWatchOptions {
  directories: Iterable<string>;
  /** Re-reads whatever was watched; its own errors are its to report. */
  recheck(): Promise<void>;
  onWatchError(directory: string, err: Error): void;
  debounceMs?: number;
}

export class DirectoryWatch {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly opts: DirectoryWatchOptions) {
    for (const dir of new Set(opts.directories)) {
      const w = watch(dir, { persistent: false }, () => this.schedule());
      w.on('error', (err) => opts.onWatchError(dir, err));
      this.watchers.push(w);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }

  /** Resolves once no re-check is pending or running (tests and shutdown use it). */
  async settled(): Promise<void> {
    while (this.running || this.timer) await (this.running ?? new Promise((r) => setTimeout(r, 5)));
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) this.again = true;
      else this.running = this.loop();
    }, this.opts.debounceMs ?? 200);
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.opts.recheck();
      } while (this.again && !this.closed);
    } finally {
      this.running = undefined;
    }
  }
}
