import { DEFAULT_CONFIG, type ServerConfig } from '../config.js';
import { loadConfig } from '../config-load.js';
import { SetupError } from './setup-error.js';

/** The config of the offline commands (replay, audit): the --config file alone, else the defaults. */
export async function fileConfig(file: string | undefined): Promise<ServerConfig> {
  if (file === undefined) return DEFAULT_CONFIG;
  const loaded = await loadConfig({ flags: { config: file } });
  if (!loaded.ok) throw new SetupError(`invalid config ${file}:\n  ${loaded.errors.join('\n  ')}`, true);
  return loaded.config;
}
