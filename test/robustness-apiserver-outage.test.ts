// The API server going away and coming back, in live mode (SPEC 3, 6.4, 7), through startServer
// with a kubeconfig to the fake apiserver:
// - down before the first sync: /readyz is 503 naming the discovery failure, ready once it is back;
// - down after the sync: /readyz stays 200. The cache is warm and reviews that need no API call
//   keep working; a 503 would take the webhook out of its Service and, with failurePolicy Fail,
//   block every admission in the cluster for an outage the cache rides out. Decisions that must
//   write to the API (a quota reservation beyond the replica's grant) follow the module's failure mode:
//   tenant-quota fails closed with "policy failed";
// - back again: watches resume (a Pod created after the restart reaches the view) and
//   reservations are written again.
import { Agent, request } from 'undici';
import t from 'tap';
import { startServer } from '../server/webhook-server.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { networkPolicy, pod, tenant, until } from './helpers/live-cluster.js';

let uids = 0;

function review(operation: 'CREATE' | 'DELETE', kind: { group: string; kind: string; resource: string }, name: string, object: Record<string, unknown> | null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `outage-${++uids}`,
      kind: { group: kind.group, version: 'v1', kind: kind.kind },
      resource: { group: kind.group, version: 'v1', resource: kind.resource },
      namespace: 'team-a',
      name,
      operation,
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
      ...(operation === 'DELETE' ? { oldObject: null } : {}),
      ...extra,
    },
  });
}

const POD = { group: '', kind: 'Pod', resource: 'pods' };
const NETPOL = { group: 'networking.k8s.io', kind: 'NetworkPolicy', resource: 'networkpolicies' };

/** A Pod that passes pod-security at any level, so only quota and network policy decide. */
function restrictedPod(name: string): Record<string, unknown> {
  const p = pod('team-a', name, { cpu: '10m', memory: '16Mi' }, { app: name });
  (p.spec as Record<string, unknown>).securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  const container = (p.spec as { containers: Array<Record<string, unknown>> }).containers[0]!;
  container.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  delete p.status;
  return p;
}

t.test('the apiserver down at start, down after the sync, and back', async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tenant: 'tenant-a' } } });
  api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'tenant-a' } }, quota: { hard: { 'count/pods': '10' } }, networkPolicy: { mode: 'enforce' } }));
  api.apply(networkPolicy('team-a', 'default-deny', {}));
  const kubeconfig = await api.writeKubeconfig(t.testdir({}));

  await api.stop();
  const logs: Array<Record<string, any>> = [];
  const server = await startServer({
    flags: { host: '127.0.0.1', port: '0', kubeconfig, 'log-level': 'info' },
    env: {},
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) },
  });
  t.teardown(() => server.stop());
  t.equal(server.mode, 'live');
  const agent = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => agent.close());
  const get = async (path: string) => {
    const res = await request(`${server.url}${path}`, { dispatcher: agent });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };
  const post = async (body: string) => {
    const res = await request(`${server.url}/validate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
    return { status: res.statusCode, response: ((await res.body.json()) as any).response };
  };

  const cold = await get('/readyz');
  t.equal(cold.status, 503, 'not ready while the apiserver was never reached');
  t.match(cold.body.reasons, [/^API discovery failed: /], 'the reason names the discovery failure');

  await api.restart();
  const readyAgainAt = Date.now();
  await until('ready after the apiserver came up', () => server.readiness().ready, 15_000);
  t.comment(`ready ${Date.now() - readyAgainAt} ms after the apiserver came up`);
  t.equal((await get('/readyz')).status, 200);

  const one = await post(review('CREATE', POD, 'one', restrictedPod('one')));
  t.equal(one.response.allowed, true, 'a pod is admitted while the apiserver is up');
  t.equal(api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.reserved?.['count/pods'], '1', 'and reserved in the Tenant status');

  await api.stop();
  const brokenAt = logs.length;
  await until('the informers notice the outage', () => logs.slice(brokenAt).some((l) => l.level === 'warn' && /^cluster view: \w+ failed; retrying$/.test(l.msg)), 10_000);
  const warm = await get('/readyz');
  t.same(warm, { status: 200, body: { ready: true } }, 'with a warm cache the webhook stays ready while the apiserver is down');

  // Within the grant this replica took while the apiserver was up (half of the 9 left, README
  // "Quota ledger"), creates need no API call; the one beyond it needs a write.
  const fromGrant = [];
  for (const name of ['g1', 'g2', 'g3', 'g4']) fromGrant.push((await post(review('CREATE', POD, name, restrictedPod(name)))).response.allowed);
  t.same(fromGrant, [true, true, true, true], 'creates within the replica\'s grant are admitted without the apiserver');
  const two = await post(review('CREATE', POD, 'two', restrictedPod('two')));
  t.equal(two.status, 200, 'the review is answered');
  t.equal(two.response.allowed, false, 'a create that must write its reservation is denied: tenant-quota fails closed');
  t.match(two.response.status.message, /\[tenant-quota\] policy failed \(failure mode fail\)/);
  t.match(two.response.status.message, /GET \/apis\/tenantguard\.io\/v1alpha1\/tenants\/tenant-a: .*ECONNREFUSED/, 'naming the API call that failed');
  // A dry run writes nothing, so it is judged against this replica's observed + reserved usage.
  const dry = await post(review('CREATE', POD, 'dry', restrictedPod('dry'), { dryRun: true }));
  t.equal(dry.status, 200, 'a dry-run pod is answered from the warm cache');
  const config = await post(review('CREATE', { group: '', kind: 'ConfigMap', resource: 'configmaps' }, 'settings', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'team-a' } }));
  t.same(config.response, { uid: `outage-${uids}`, allowed: true }, 'a review that needs no API call is decided from the warm cache');

  await api.restart();
  api.apply({ ...pod('team-a', 'late', { cpu: '10m', memory: '16Mi' }, { app: 'late' }), metadata: { namespace: 'team-a', name: 'late', labels: { app: 'late' }, uid: 'late-uid' } });
  const back = Date.now();
  // Only the view knows the pod: deleting the policy that covers it warns naming it.
  let warning: string | undefined;
  for (const deadline = Date.now() + 20_000; !warning?.includes('late') && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    warning = (await post(review('DELETE', NETPOL, 'default-deny', null))).response.warnings?.[0];
  }
  t.comment(`the pod created after the restart was in the view within ${Date.now() - back} ms`);
  t.match(warning, /^\[network-policy\] deleting this NetworkPolicy leaves pods .*late.* uncovered$/, 'the watch resumed and delivered the new pod');

  const three = await post(review('CREATE', POD, 'three', restrictedPod('three')));
  t.equal(three.response.allowed, true, 'reservations work again once the apiserver is back');
  // one, g1-g4 and three: admitted, never stored (these reviews were posted by hand).
  t.equal(api.get('tenantguard.io/v1alpha1', 'Tenant', undefined, 'tenant-a')?.status?.reserved?.['count/pods'], '6', 'and are written to the Tenant status');
  t.equal((await get('/readyz')).status, 200);
});
