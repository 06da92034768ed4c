import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SetupError } from './setup-error.js';

/**
 * The example state shipped with tenantguard in server/embedded-state/. Compiled, this module runs
 * from dist/server/setup/, which has no copy: the source directory three levels up is used instead.
 */
export function embeddedStateDir(): string {
  for (const candidate of ['../embedded-state', '../../../server/embedded-state']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new SetupError('the embedded state directory (server/embedded-state) is missing from this installation; pass --state DIR');
}
