// `tenantguard usage` and `tenantguard explain` against a live cluster (the fake apiserver): read
// once, no watch; reserved comes from the Tenant's status.reservations as every replica wrote them.
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { runCli } from './helpers/cli-run.js';
import { liveCluster, namespace, pod, tenant } from './helpers/live-cluster.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const vm: KubeObject = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { namespace: 'team-b', name: 'db' },
  spec: { runStrategy: 'Always', template: { spec: { domain: { cpu: { cores: 2 }, memory: { guest: '4Gi' }, devices: {} } } } },
};

t.test('usage and explain read the live cluster once', async (t) => {
  const c = await liveCluster({ kubevirt: true });
  t.teardown(() => c.close());
  const expires = new Date(Date.now() + 3_600_000).toISOString();
  c.api.apply(
    tenant(
      'tenant-a',
      { namespaceSelector: { matchLabels: { tenant: 'tenant-a' } }, quota: { hard: { 'requests.memory': '8Gi' } } },
      { reservations: [{ uid: 'r-1', kind: 'Pod', namespace: 'team-a', name: 'batch', amounts: { 'requests.memory': '512Mi' }, created: new Date().toISOString(), expires }] },
    ),
  );
  c.api.apply(namespace('team-a', { tenant: 'tenant-a' }));
  c.api.apply(namespace('team-b', { tenant: 'tenant-a' }));
  c.api.apply(pod('team-a', 'web', { cpu: '100m', memory: '1Gi' }));
  c.api.apply(vm);

  const usage = await runCli('usage', 'tenant-a', '--kubeconfig', c.kubeconfig, '--output', 'json');
  t.equal(usage.code, 0, usage.stderr);
  const [report] = JSON.parse(usage.stdout).tenants;
  t.same(report.namespaces, ['team-a', 'team-b']);
  const memory = report.resources.find((r: any) => r.resource === 'requests.memory');
  t.equal(memory.reserved, '512Mi', "another replica's reservation, from the Tenant's status");
  t.equal(report.largest['requests.memory'][0].name, 'db', 'the VM uses the most memory');
  t.same(report.reservedFor, [{ kind: 'Pod', namespace: 'team-a', name: 'batch', amounts: { 'requests.memory': '512Mi' } }]);

  const dir = await mkdtemp(join(tmpdir(), 'tg-explain-live-'));
  await writeFile(join(dir, 'vm.yaml'), JSON.stringify({ ...vm, metadata: { namespace: 'team-a', name: 'second' } }));
  const explained = await runCli('explain', '--kubeconfig', c.kubeconfig, '-f', join(dir, 'vm.yaml'), '--output', 'json');
  t.equal(explained.code, 0, explained.stderr);
  const [obj] = JSON.parse(explained.stdout).objects;
  t.equal(obj.tenant, 'tenant-a');
  t.equal(obj.fit[0].fits, false, 'a second 4Gi VM does not fit 8Gi beside the first, the pod and the reservation');
  t.notOk(c.api.requests.some((q) => q.method !== 'GET'), 'nothing written to the cluster');
  t.notOk(c.api.requests.some((q) => q.query.get('watch') === 'true'), 'read once, not watched');
});
