// The read-once commands (explain, usage) count as reserved what every replica recorded in the
// Tenants' status.reservations (unexpired entries only), as the running webhook does.
import { mergeStatus } from '../quota-ledger/tenant-reservations.js';
import type { ClusterSetup } from './cluster-setup.js';

export function loadStatusReservations(setup: ClusterSetup): void {
  for (const t of setup.view.list('Tenant')) if (t.metadata?.name) mergeStatus(setup.ledger.book, t.metadata.name, t.status);
}
