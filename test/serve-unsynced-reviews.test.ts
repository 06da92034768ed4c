// A replica judges only with a synced view (SPEC 11.1): in live mode, until the cluster view's
// first sync, /validate and /mutate answer 503 with a JSON reason (kube-apiserver counts a non-2xx
// reply as a failed call, so the webhook's failurePolicy decides), never `allowed: true`. Through
// HTTPS, with the fake apiserver unreachable, then reachable but failing the Tenant list.
import { Agent, request } from 'undici';
import t from 'tap';
import { startServer } from '../server/webhook-server.js';
import { FakeApiServer } from './helpers/fake-apiserver.js';
import { tenant, until } from './helpers/live-cluster.js';

let uids = 0;

/** A privileged pod in team-a, which its restricted/enforce Tenant must deny. */
function privilegedPodReview(): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `unsynced-${++uids}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'team-a',
      name: 'root',
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'root', namespace: 'team-a' },
        spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
      },
    },
  });
}

t.test('before its first sync a replica answers 503 to every review, never an allow', async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tenant: 'a' } } });
  api.apply(tenant('tenant-a', { namespaceSelector: { matchLabels: { tenant: 'a' } }, podSecurity: { level: 'restricted', mode: 'enforce' } }));
  const kubeconfig = await api.writeKubeconfig(t.testdir({}));
  await api.stop();

  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', 'metrics-port': '0', kubeconfig, 'log-level': 'error' }, env: {} });
  t.teardown(() => server.stop());
  const agent = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => agent.close());
  const post = async (path: '/validate' | '/mutate') => {
    const res = await request(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: privilegedPodReview(), dispatcher: agent });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };
  /** The plain metrics port, where the kubelet probes under mutual TLS (manifests/components/mtls). */
  const plain = server.metricsUrl!.replace(/\/metrics$/, '');
  const readyz = async () => {
    const res = await request(`${plain}/readyz`);
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };
  const metric = async () => {
    const text = await (await request(`${plain}/metrics`)).body.text();
    return Number(/^tenantguard_request_errors_total\{reason="not_synced"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };

  // The apiserver unreachable: nothing is known of team-a's Tenant.
  for (const path of ['/validate', '/mutate'] as const) {
    const unreachable = await post(path);
    t.equal(unreachable.status, 503, `${path}: 503, so the failurePolicy applies`);
    t.equal(unreachable.body.error, 'not_synced');
    t.match(unreachable.body.message, /^review unsynced-\d+ not judged: the cluster view has not synced \(API discovery failed: .*\); the webhook's failurePolicy applies$/);
    t.equal(unreachable.body.response, undefined, 'no AdmissionReview answer, so no allow');
  }
  t.equal(await metric(), 2, 'counted as request errors by reason not_synced');
  const unready = await readyz();
  t.equal(unready.status, 503, 'the plain port says not ready, as the webhook port does');
  t.match(unready.body.reasons, [/^API discovery failed: /]);

  // Reachable, but the Tenant list fails: the view is still not synced.
  api.intercept = (req) => (req.method === 'GET' && req.path === '/apis/tenantguard.io/v1alpha1/tenants' && req.query.get('watch') !== 'true' ? { status: 500, body: { kind: 'Status', message: 'etcd slow' } } : undefined);
  await api.restart();
  await until('the other informers synced', () => server.readiness().reasons.every((r) => r.startsWith('Tenant')), 15_000);
  const slow = await post('/validate');
  t.equal(slow.status, 503, 'with Namespaces and Pods synced but not Tenants: still 503');
  t.match(slow.body.message, /Tenant: initial list not complete/);

  api.intercept = undefined;
  await until('synced', () => server.readiness().ready, 20_000);
  const judged = await post('/validate');
  t.equal(judged.status, 200);
  t.equal(judged.body.response.allowed, false, 'once synced, the privileged pod is judged and denied by its Tenant');
  t.same(await readyz(), { status: 200, body: { ready: true } }, 'and the plain port says ready');
  t.equal((await request(`${plain}/healthz`)).statusCode, 200);
});
