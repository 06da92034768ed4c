// Storage per tenant in the metrics and in `kubectl get tenants` terms: `tenantguard serve` on the
// embedded example state, fed the example VM with disks, publishes requests.storage used and hard.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { startServer } from '../server/webhook-server.js';

const VM = new URL('./fixtures/examples/12-vm-with-disks-charged-at-create.yaml', import.meta.url);

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('tenantguard_quota_used and _hard carry storage, per class where the hard names the class', async (t) => {
  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', 'log-level': 'silent' }, env: {} });
  t.teardown(() => server.stop());
  const agent = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => agent.close());
  const series = async (resource: string, gauge = 'used') =>
    metricValue(await server.metrics.render(), `tenantguard_quota_${gauge}{tenant="tenant-a",resource="${resource}"}`);

  t.equal(await series('requests.storage'), 0, 'published before anything is charged');
  t.equal(await series('requests.storage', 'hard'), 50 * 1024 ** 3);
  t.equal(await series('fast-ssd.storageclass.storage.k8s.io/requests.storage', 'hard'), 10 * 1024 ** 3);

  const vm = parse(await readFile(VM, 'utf8'));
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'b7c1e0d2-9f3a-4c5e-8d6b-0a1f2e3d4c5b',
      kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
      resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
      name: vm.metadata.name,
      namespace: vm.metadata.namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object: vm,
    },
  });
  const res = await request(`${server.url}/validate`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
  const review = (await res.body.json()) as { response: { allowed: boolean } };
  t.equal(review.response.allowed, true);
  t.equal(await series('requests.storage'), 19952281936, 'both disks, as CDI will request them');
  t.equal(await series('fast-ssd.storageclass.storage.k8s.io/requests.storage'), 0, 'the class the hard names: nothing in it');
  t.equal(await series('standard.storageclass.storage.k8s.io/requests.storage'), undefined, 'the default class they are in: not accounted, the hard does not name it');
  t.equal(await series('persistentvolumeclaims'), 2);
});
