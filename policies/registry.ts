// The fixed module order (SPEC 5): mutators first, then validators; tenant-quota is last because
// it reserves quota, which only an otherwise admitted request may do.
import type { PolicyModule } from './types.js';

export const MODULES: readonly PolicyModule[] = [];
