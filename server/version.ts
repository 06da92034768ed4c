// tenantguard's version, from the one place it is written: package.json's `version` (SPEC 11.1).
// `--version`, the build_info metric and the traces' service.version all read it from here; the
// image labels take it from package.json too (Makefile). package.json sits at the checkout's or
// the image's root, above both server/ (tsx) and dist/server/ (compiled), so it is looked up.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      // Not here: one level up.
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tenantguard' && typeof pkg.version === 'string') return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error("tenantguard's package.json was not found above its code: the version cannot be known");
  }
}

export const VERSION = readVersion();
