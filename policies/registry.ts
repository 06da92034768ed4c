// The fixed module order (SPEC 5): mutators first, then validators; tenant-quota is last because
// it reserves quota, which only an otherwise admitted request may do. vm-security and
// network-policy follow pod-security. launcher-stamp marks KubeVirt's verified launcher pods at
// CREATE (mutate) and refuses a forged mark (validate) before quota relies on it. namespace-label
// only ever acts on Namespaces, which no other module judges.
import { namespaceLabel } from './namespace-label.js';
import { launcherStampMutate, launcherStampValidate } from './launcher-stamp.js';
import { podSecurityModule } from './pod-security/module.js';
import { networkPolicy } from './network-policy.js';
import { secureDefaultsModule } from './secure-defaults.js';
import type { PolicyModule } from './types.js';
import { vmSecurity } from './vm-security.js';
import { tenantQuota } from './quota/module.js';

export const MODULES: readonly PolicyModule[] = [
  namespaceLabel,
  secureDefaultsModule,
  launcherStampMutate,
  podSecurityModule,
  vmSecurity,
  networkPolicy,
  launcherStampValidate,
  tenantQuota,
];
