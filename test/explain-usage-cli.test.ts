// `tenantguard explain` and `tenantguard usage` through the CLI's dispatcher: the shipped VM
// examples explained term by term with their fit, a VM that does not fit named as such with
// tenant-quota's explained denial, input errors named with file and position, and a tenant's usage
// split into observed and reserved, by namespace and largest objects.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli-run.js';

const EXAMPLES = 'test/fixtures/examples';

const run = runCli;

/** The embedded example state, with KubeVirt v1.9.0 and the first example VM already running. */
async function stateWithFirstVm(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-explain-'));
  await cp('server/embedded-state', dir, { recursive: true });
  await cp(join(EXAMPLES, '06-vm-first-fits-quota.yaml'), join(dir, 'vm-db-1.yaml'));
  await writeFile(
    join(dir, 'kubevirt.yaml'),
    'apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: kubevirt, namespace: kubevirt}\nspec: {configuration: {}}\nstatus: {observedKubeVirtVersion: v1.9.0}\n',
  );
  return dir;
}

t.test('explain on the shipped VM examples prints the breakdown and the fit', async (t) => {
  const r = await run('explain', '-f', join(EXAMPLES, '06-vm-first-fits-quota.yaml'), '-f', join(EXAMPLES, '12-vm-with-disks-charged-at-create.yaml'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'VirtualMachine tenant-a-prod/db-1  CREATE  tenant tenant-a');
  t.match(r.stdout, /requests\.memory\s+12564Mi\s+guest memory 12Gi \+ 276Mi KubeVirt v1\.6-v1\.9 overhead \(version not observed\) \(220Mi virt-launcher, libvirt and qemu processes, 16Mi 2 vCPU x 8Mi, 8Mi IOThread, 32Mi video RAM\)/);
  t.match(r.stdout, /requests\.cpu\s+200m\s+200m 2 vCPUs \/ cpuAllocationRatio 10/);
  t.match(r.stdout, /requests\.memory\s+256Mi\s+\+12564Mi\s+20Gi\s+yes/, 'the fit against the limit with the usage now');
  t.match(r.stdout, /disk web-1-root 10Gi \(class standard\) \+ \d+ CDI filesystem overhead of disk web-1-root \+ disk web-1-data 8Gi \(class standard\)/, 'each disk with its class and CDI\'s overhead');
  t.match(r.stdout, /tenant-quota\s+allow/);
});

t.test('explain against a state where the VM no longer fits: the fit says by how much, tenant-quota says why', async (t) => {
  const state = await stateWithFirstVm();
  const r = await run('explain', '--state', state, '-f', join(EXAMPLES, '07-vm-second-exceeds-quota.yaml'), '--output', 'json');
  t.equal(r.code, 0, r.stderr);
  const [vm] = JSON.parse(r.stdout).objects;
  t.equal(vm.name, 'db-2');
  t.equal(vm.allowed, false);
  t.same(vm.fit.find((f: any) => f.resource === 'requests.memory'), { tenant: 'tenant-a', resource: 'requests.memory', used: '12820Mi', adds: '12564Mi', hard: '20Gi', fits: false });
  t.equal(vm.charge['requests.memory'], '12564Mi');
  t.ok(vm.terms.some((x: any) => x.group === 'KubeVirt v1.9.0 overhead' && x.label === 'virt-launcher, libvirt and qemu processes'), 'the KubeVirt version the state runs');
  const quota = vm.modules.find((m: any) => m.module === 'tenant-quota');
  t.equal(quota.result, 'deny');
  t.match(quota.messages[0], /largest users now: 12564Mi VirtualMachine tenant-a-prod\/db-1, 256Mi Pod tenant-a-prod\/web-0/);
  t.same((await readFile(join(state, 'vm-db-1.yaml'), 'utf8')).includes('db-2'), false, 'nothing was created');
});

t.test('explain names bad input by file and position', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-explain-bad-'));
  await writeFile(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n');
  const broken = await run('explain', '-f', join(dir, 'broken.yaml'));
  t.equal(broken.code, 2);
  t.match(broken.stderr, /broken\.yaml: invalid YAML\/JSON: .*line \d+/);
  await writeFile(join(dir, 'second.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\njust: a map\n');
  const second = await run('explain', '-f', join(dir, 'second.yaml'));
  t.equal(second.code, 2);
  t.match(second.stderr, 'second.yaml: document 1 is not a Kubernetes object');
  t.equal((await run('explain')).code, 2, 'no -f');
});

t.test('usage: observed and reserved per resource, by namespace, and the largest objects', async (t) => {
  const state = await stateWithFirstVm();
  // A reservation another replica recorded in the Tenant's status, not yet observed.
  const tenant = await readFile(join(state, 'tenant-a.yaml'), 'utf8');
  const far = new Date(Date.now() + 3_600_000).toISOString();
  await writeFile(
    join(state, 'tenant-a.yaml'),
    `${tenant.trimEnd()}\nstatus:\n  reservations:\n  - {uid: r1, kind: Pod, namespace: tenant-a-dev, name: batch, amounts: {requests.memory: 1Gi, count/pods: "1"}, created: "${new Date().toISOString()}", expires: "${far}"}\n`,
  );
  const r = await run('usage', 'tenant-a', '--state', state, '--top', '2');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /requests\.memory\s+12820Mi\s+1Gi\s+13844Mi\s+20Gi/, 'observed, reserved, their sum and the limit');
  t.match(r.stdout, /tenant-a-prod\s+count\/pods=2, /, 'by namespace');
  t.match(r.stdout, /requests\.memory\s+12564Mi\s+VirtualMachine tenant-a-prod\/db-1\n\s+256Mi\s+Pod tenant-a-prod\/web-0/, 'the largest first');
  t.match(r.stdout, 'reserved for Pod tenant-a-dev/batch: requests.memory=1Gi, count/pods=1');
  const json = JSON.parse((await run('usage', '--all', '--state', state, '--output', 'json')).stdout);
  t.same(json.tenants.map((x: any) => x.tenant), ['tenant-a']);
  t.same(json.tenants[0].largest['requests.memory'][0], { kind: 'VirtualMachine', namespace: 'tenant-a-prod', name: 'db-1', amount: '12564Mi' });
  const unknown = await run('usage', 'nobody', '--state', state);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, 'Tenant nobody not found (Tenants: tenant-a)');
});
