// The fixed module order (SPEC 5): mutators first, then validators; tenant-quota is last because
// it reserves quota, which only an otherwise admitted request may do. vm-security and
// network-policy follow pod-security.
import { podSecurityModule } from './pod-security/module.js';
import { networkPolicy } from './network-policy.js';
import { secureDefaultsModule } from './secure-defaults.js';
import type { PolicyModule } from './types.js';
import { vmSecurity } from './vm-security.js';
import { tenantQuota } from './quota/module.js';

export const MODULES: readonly PolicyModule[] = [secureDefaultsModule, podSecurityModule, vmSecurity, networkPolicy, tenantQuota];
