// Hot reload of the server config file (SPEC 4). The directory is watched, not the file: editors
// write a new file and rename it over the old one, and a mounted ConfigMap swaps a `..data`
// symlink, so a watch on the file itself would go deaf after the first change. Every event re-reads
// the file (debounced); a text that did not change is ignored, an invalid one is logged and counted
// and the last good config stays in force.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import { buildConfig, type ConfigSources, parseConfigText } from './config-load.js';

export type ReloadResult = 'success' | 'failure';

export interface ConfigWatchOptions {
  /** The config file (absolute); env and flags are re-applied over it on every reload. */
  file: string;
  sources: ConfigSources;
  /** The config in force when the watch starts. */
  initial: ServerConfig;
  onConfig(config: ServerConfig, previous: ServerConfig): void;
  logger: Pick<Logger, 'info' | 'error'>;
  metrics?: { configReload(result: ReloadResult): void };
  debounceMs?: number;
}

export class ConfigWatcher {
  private current: ServerConfig;
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly opts: ConfigWatchOptions) {
    this.current = opts.initial;
  }

  /** The last good config. */
  config(): ServerConfig {
    return this.current;
  }

  async start(): Promise<void> {
    this.lastText = await this.read();
    this.watcher = watch(dirname(this.opts.file), { persistent: false }, () => this.schedule());
    this.watcher.on('error', (err) => this.opts.logger.error({ file: this.opts.file, err: err.message }, 'config watch failed'));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** Resolves once no reload is pending or running (tests and shutdown use it). */
  async settled(): Promise<void> {
    while (this.running || this.timer) await (this.running ?? new Promise((r) => setTimeout(r, 5)));
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) this.again = true;
      else this.running = this.reloadLoop();
    }, this.opts.debounceMs ?? 200);
  }

  private async reloadLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.reload();
      } while (this.again && !this.closed);
    } finally {
      this.running = undefined;
    }
  }

  private async read(): Promise<string | undefined> {
    try {
      return await readFile(this.opts.file, 'utf8');
    } catch {
      return undefined;
    }
  }

  private async reload(): Promise<void> {
    const text = await this.read();
    if (text === this.lastText || this.closed) return;
    this.lastText = text;
    const { file, logger, metrics } = this.opts;
    const parsed = text === undefined
      ? { ok: false as const, errors: [`cannot read config file ${file}`] }
      : parseConfigText(text, file);
    const result = parsed.ok ? buildConfig(parsed.value, this.opts.sources) : parsed;
    if (!result.ok) {
      metrics?.configReload('failure');
      logger.error({ file, errors: result.errors }, `config reload rejected, keeping the last good config: ${result.errors.join('; ')}`);
      return;
    }
    const previous = this.current;
    this.current = result.config;
    metrics?.configReload('success');
    logger.info({ file: basename(file), changed: changedFields(previous, result.config) }, 'config reloaded');
    this.opts.onConfig(result.config, previous);
  }
}

/** Top-level config fields whose value differs, for the reload log line. */
export function changedFields(a: ServerConfig, b: ServerConfig): Array<keyof ServerConfig> {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ServerConfig>;
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

export async function watchConfig(opts: ConfigWatchOptions): Promise<ConfigWatcher> {
  const watcher = new ConfigWatcher(opts);
  await watcher.start();
  return watcher;
}
