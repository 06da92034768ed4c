// An UPDATE is denied only for violations it introduces: a VM created before the policy (or before
// its tenant's allow list shrank) must still be stoppable and editable.
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { vmSecurity } from '../policies/vm-security.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';

function engine() {
  const view = new SnapshotView({ vmSecurity: { mode: 'enforce', allowHostDevices: [] } });
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'vm-security': { failureMode: 'fail', timeoutMs: 100, enabled: true } },
    settings: { kubevirtServiceAccounts: [] },
  };
  return new PolicyEngine([vmSecurity], config, { view, ledger: new MemoryLedger(view) });
}

const hostDisk = (name: string, path: string) => ({ name, hostDisk: { path, type: 'DiskOrCreate', capacity: '1Gi' } });
const gpu = (name: string) => ({ name, deviceName: 'nvidia.com/A10' });

function vm(runStrategy: string, volumes: unknown[], gpus: unknown[] = [], annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'legacy', namespace: NS },
    spec: {
      runStrategy,
      template: { metadata: annotations ? { annotations } : {}, spec: { domain: { devices: { gpus } }, volumes } },
    },
  };
}

function update(object: KubeObject, oldObject: KubeObject): AdmissionRequest {
  return {
    uid: 'uid-upd',
    kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
    resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
    namespace: NS,
    name: 'legacy',
    operation: 'UPDATE',
    userInfo: { username: 'alice' },
    object,
    oldObject,
  };
}

const legacy = () => vm('Always', [hostDisk('data', '/data/a.img')], [gpu('g1')], { 'hooks.kubevirt.io/hookSidecars': '[{"image":"h:1"}]' });

t.test('stopping a VM that already has violations is allowed, and the skip is recorded', async (t) => {
  const stopped = legacy();
  stopped.spec.runStrategy = 'Halted';
  const d = await engine().review(update(stopped, legacy()), 'validate');
  t.equal(d.allowed, true);
  t.equal(d.auditAnnotations['tenantguard.io/vm-security'], '3 violation(s) already present before this update were not judged again');
});

t.test('the same violation is denied on CREATE', async (t) => {
  const d = await engine().review({ ...update(legacy(), legacy()), operation: 'CREATE', oldObject: null }, 'validate');
  t.equal(d.allowed, false);
});

t.test('removing a violation is allowed', async (t) => {
  const cleaned = vm('Always', [], [gpu('g1')]);
  t.equal((await engine().review(update(cleaned, legacy()), 'validate')).allowed, true);
});

t.test('reordering volumes does not make an old hostDisk new', async (t) => {
  const old = vm('Always', [hostDisk('data', '/data/a.img'), { name: 'root', containerDisk: { image: 'img' } }]);
  const reordered = vm('Always', [{ name: 'root', containerDisk: { image: 'img' } }, hostDisk('data', '/data/a.img')]);
  t.equal((await engine().review(update(reordered, old), 'validate')).allowed, true);
});

t.test('an added hostDisk is denied, naming only the new one', async (t) => {
  const more = legacy();
  more.spec.template.spec.volumes.push(hostDisk('more', '/data/b.img'));
  const d = await engine().review(update(more, legacy()), 'validate');
  t.equal(d.status?.message, '[vm-security] spec.template.spec.volumes[1].hostDisk: hostDisk volumes are not allowed (path "/data/b.img")');
});

t.test('pointing an existing hostDisk at another path is a new violation', async (t) => {
  const moved = legacy();
  moved.spec.template.spec.volumes[0].hostDisk.path = '/etc/shadow';
  const d = await engine().review(update(moved, legacy()), 'validate');
  t.match(d.status?.message, /volumes\[0\]\.hostDisk: hostDisk volumes are not allowed \(path "\/etc\/shadow"\)$/);
});

t.test('a second GPU of a kind already attached is denied (violations are counted, not just named)', async (t) => {
  const twoGpus = legacy();
  twoGpus.spec.template.spec.domain.devices.gpus.push(gpu('g2'));
  const d = await engine().review(update(twoGpus, legacy()), 'validate');
  t.equal(d.allowed, false);
  t.match(d.status?.message, /gpus\[1\]\.deviceName: GPU "nvidia.com\/A10"/);
});

t.test('changing the hook sidecar is a new violation', async (t) => {
  const other = legacy();
  other.spec.template.metadata.annotations['hooks.kubevirt.io/hookSidecars'] = '[{"image":"evil:1"}]';
  const d = await engine().review(update(other, legacy()), 'validate');
  t.equal(d.status?.message, '[vm-security] spec.template.metadata.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed');
});
