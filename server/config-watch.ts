// Hot reload of the server config file (SPEC 4), through a DirectoryWatch (editors rename a new file
// over the old one; a mounted ConfigMap swaps a `..data` symlink). Every event re-reads the file
// (debounced); a text that did not change is ignored, an invalid one is logged and counted
// and the last good config stays in force.
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import { buildConfig, type ConfigSources, parseConfigText } from './config-load.js';
import { DirectoryWatch } from '../certs/directory-watch.js';

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
  private watch: DirectoryWatch | undefined;

  constructor(private readonly opts: ConfigWatchOptions) {
    this.current = opts.initial;
  }

  /** The last good config. */
  config(): ServerConfig {
    return this.current;
  }

  async start(): Promise<void> {
    this.lastText = await this.read();
    this.watch = new DirectoryWatch({
      directories: [dirname(this.opts.file)],
      recheck: () => this.reload(),
      onWatchError: (_dir, err) => this.opts.logger.error({ file: this.opts.file, err: err.message }, 'config watch failed'),
      ...(this.opts.debounceMs !== undefined ? { debounceMs: this.opts.debounceMs } : {}),
    });
  }

  close(): void {
    this.watch?.close();
  }

  /** Resolves once no reload is pending or running (tests and shutdown use it). */
  async settled(): Promise<void> {
    await this.watch?.settled();
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
    if (text === this.lastText || this.watch?.isClosed) return;
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
