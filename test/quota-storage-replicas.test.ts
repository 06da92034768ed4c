// Storage reservations shared between replicas (SPEC 6.4 over 6.6's resources): a PVC's or a
// DataVolume's reservation written by one replica to status.reservations is counted by another, so
// two replicas admitting at once cannot together take a tenant past its storage limit.
import t from 'tap';
import type { Reservation } from '../policies/types.js';
import { TenantStatusLedger } from '../server/quota-ledger/tenant-ledger.js';
import { liveCluster, namespace, tenant, until } from './helpers/live-cluster.js';

const Gi = 1024 ** 3;
const HARD = { 'requests.storage': 10 * Gi, persistentvolumeclaims: 5 };
const run = () => ({ dryRun: false, signal: AbortSignal.timeout(5000) });

function reservation(uid: string, kind: 'PersistentVolumeClaim' | 'DataVolume', name: string, bytes: number): Reservation {
  return { tenant: 'tenant-a', uid, object: { kind, namespace: 'team-a', name }, increase: { 'requests.storage': bytes, persistentvolumeclaims: 1 }, hard: HARD };
}

t.test('a PVC or DataVolume reserved on one replica counts on another', async (t) => {
  const c = await liveCluster({ kubevirt: false });
  t.teardown(() => c.close());
  c.api.apply(namespace('team-a'));
  c.api.apply(tenant('tenant-a', { namespaces: ['team-a'], quota: { hard: { 'requests.storage': '10Gi', persistentvolumeclaims: '5' } } }));
  const replica = async () => {
    const view = await c.view();
    await view.waitForSync(AbortSignal.timeout(5000));
    await until('tenant cached', () => view.get('Tenant', undefined, 'tenant-a') !== undefined);
    return new TenantStatusLedger(c.client(), view, { backoffMs: 1 });
  };
  const a = await replica();
  const b = await replica();
  t.match(await a.reserve(reservation('r-1', 'PersistentVolumeClaim', 'data', 6 * Gi), run()), { ok: true });
  t.same(await b.reserve(reservation('r-2', 'DataVolume', 'disk', 6 * Gi), run()), {
    ok: false,
    exceeded: [{ resource: 'requests.storage', requested: 6 * Gi, used: 6 * Gi, hard: 10 * Gi }],
  }, 'the other replica reads the PVC\'s reservation from the Tenant\'s status');
  t.match(await b.reserve(reservation('r-3', 'DataVolume', 'disk', 4 * Gi), run()), { ok: true });
  const status = c.api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status as Record<string, any>;
  t.same(status.reserved, { persistentvolumeclaims: '2', 'requests.storage': '10Gi' });
  t.same(status.reservations.map((r: { kind: string; name: string }) => `${r.kind}/${r.name}`), ['PersistentVolumeClaim/data', 'DataVolume/disk']);
});
