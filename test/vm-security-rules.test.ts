import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, GroupVersionKind, KubeObject, TenantSpec } from '../policies/types.js';
import { vmSecurity } from '../policies/vm-security.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';

const NS = 'team-a';
const VM: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' };
const VMI: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstance' };
const VMIRS: GroupVersionKind = { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceReplicaSet' };
const POOL: GroupVersionKind = { group: 'pool.kubevirt.io', version: 'v1alpha1', kind: 'VirtualMachinePool' };

type VmSec = NonNullable<TenantSpec['vmSecurity']>;

function setup(vmSec: Partial<VmSec> = {}, objects: KubeObject[] = []) {
  const view = new SnapshotView({ vmSecurity: { mode: 'enforce', ...vmSec } });
  for (const o of objects) view.add(o);
  const config: EngineConfig = {
    exemptions: { namespaces: [], usernames: [], groups: [] },
    modules: { 'vm-security': { failureMode: 'fail', timeoutMs: 100, enabled: true } },
    settings: { kubevirtServiceAccounts: [] },
  };
  return new PolicyEngine([vmSecurity], config, { view, ledger: new MemoryLedger(view) });
}

function review(kind: GroupVersionKind, object: KubeObject, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-vm',
    kind,
    resource: { group: kind.group, version: kind.version, resource: 'x' },
    namespace: NS,
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
    ...over,
  };
}

const containerDisk = { name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:latest' } };
const hostDiskVolume = { name: 'scratch', hostDisk: { path: '/var/lib/data/disk.img', type: 'DiskOrCreate', capacity: '1Gi' } };

/** A VirtualMachine whose VMI template spec is `spec` and template annotations `annotations`. */
function vm(spec: Record<string, unknown>, annotations?: Record<string, string>, vmAnnotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'vm1', namespace: NS, ...(vmAnnotations ? { annotations: vmAnnotations } : {}) },
    spec: {
      runStrategy: 'Always',
      template: { metadata: { labels: { app: 'vm1' }, ...(annotations ? { annotations } : {}) }, spec: { domain: { devices: {} }, ...spec } },
    },
  };
}

const denials = async (engine: PolicyEngine, req: AdmissionRequest) => {
  const d = await engine.review(req, 'validate');
  return d.allowed ? [] : d.status!.message.split('; ');
};

t.test('a plain VM is allowed', async (t) => {
  t.same(await denials(setup(), review(VM, vm({ volumes: [containerDisk] }))), []);
});

t.test('hostDisk volumes are denied, naming the volume index', async (t) => {
  t.same(await denials(setup(), review(VM, vm({ volumes: [containerDisk, hostDiskVolume] }))), [
    '[vm-security] spec.template.spec.volumes[1].hostDisk: hostDisk volumes are not allowed (path "/var/lib/data/disk.img")',
  ]);
});

t.test('host devices and GPUs must be in the tenant allow list', async (t) => {
  const devices = {
    domain: {
      devices: {
        hostDevices: [{ name: 'nic', deviceName: 'intel.com/sriov_vf' }, { name: 'usb', deviceName: 'kubevirt.io/usb-storage' }],
        gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' }],
      },
    },
  };
  t.same(await denials(setup(), review(VM, vm(devices))), [
    '[vm-security] spec.template.spec.domain.devices.hostDevices[0].deviceName: host device "intel.com/sriov_vf" is not in the tenant\'s allowed host devices',
    '[vm-security] spec.template.spec.domain.devices.hostDevices[1].deviceName: host device "kubevirt.io/usb-storage" is not in the tenant\'s allowed host devices',
    '[vm-security] spec.template.spec.domain.devices.gpus[0].deviceName: GPU "nvidia.com/GA102GL_A10" is not in the tenant\'s allowed host devices',
  ]);
  const partly = setup({ allowHostDevices: ['intel.com/sriov_vf', 'nvidia.com/GA102GL_A10'] });
  t.same(await denials(partly, review(VM, vm(devices))), [
    '[vm-security] spec.template.spec.domain.devices.hostDevices[1].deviceName: host device "kubevirt.io/usb-storage" is not in the tenant\'s allowed host devices',
  ]);
  const all = setup({ allowHostDevices: ['intel.com/sriov_vf', 'nvidia.com/GA102GL_A10', 'kubevirt.io/usb-storage'] });
  t.same(await denials(all, review(VM, vm(devices))), []);
});

t.test('the hook-sidecar annotation is denied on the template and on the VM object unless allowed', async (t) => {
  const hook = { 'hooks.kubevirt.io/hookSidecars': '[{"image": "registry.example/hook:1"}]' };
  t.same(await denials(setup(), review(VM, vm({}, hook))), [
    '[vm-security] spec.template.metadata.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed',
  ]);
  t.same(await denials(setup(), review(VM, vm({}, undefined, hook))), [
    '[vm-security] metadata.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed',
  ]);
  t.same(await denials(setup({ allowHookSidecars: true }), review(VM, vm({}, hook, hook))), []);
});

t.test('dedicated CPU placement is denied unless allowed', async (t) => {
  const pinned = { domain: { cpu: { cores: 4, dedicatedCpuPlacement: true }, devices: {} } };
  t.same(await denials(setup(), review(VM, vm(pinned))), [
    '[vm-security] spec.template.spec.domain.cpu.dedicatedCpuPlacement: dedicated CPU placement is not allowed',
  ]);
  t.same(await denials(setup({ allowDedicatedCpu: true }), review(VM, vm(pinned))), []);
  t.same(await denials(setup(), review(VM, vm({ domain: { cpu: { dedicatedCpuPlacement: false }, devices: {} } }))), []);
});

t.test('a denial lists every violated rule', async (t) => {
  const everything = vm(
    { volumes: [hostDiskVolume], domain: { cpu: { dedicatedCpuPlacement: true }, devices: { gpus: [{ name: 'g', deviceName: 'nvidia.com/X' }] } } },
    { 'hooks.kubevirt.io/hookSidecars': '[]' },
  );
  const d = await setup().review(review(VM, everything), 'validate');
  t.equal(d.allowed, false);
  t.same(d.modules[0]!.findings.map((f) => f.rule).sort(), ['dedicatedCpuPlacement', 'gpus', 'hookSidecars', 'hostDisk']);
});

t.test('each KubeVirt kind is judged at its own template path', async (t) => {
  const vmiSpec = { domain: { devices: {} }, volumes: [hostDiskVolume] };
  const vmi: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'i', namespace: NS }, spec: vmiSpec };
  t.same(await denials(setup(), review(VMI, vmi)), ['[vm-security] spec.volumes[0].hostDisk: hostDisk volumes are not allowed (path "/var/lib/data/disk.img")']);
  const vmirs: KubeObject = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceReplicaSet',
    metadata: { name: 'rs', namespace: NS },
    spec: { replicas: 2, template: { metadata: { annotations: { 'hooks.kubevirt.io/hookSidecars': '[]' } }, spec: vmiSpec } },
  };
  t.same(await denials(setup(), review(VMIRS, vmirs)), [
    '[vm-security] spec.template.spec.volumes[0].hostDisk: hostDisk volumes are not allowed (path "/var/lib/data/disk.img")',
    '[vm-security] spec.template.metadata.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed',
  ]);
  const pool: KubeObject = {
    apiVersion: 'pool.kubevirt.io/v1alpha1',
    kind: 'VirtualMachinePool',
    metadata: { name: 'p', namespace: NS },
    spec: {
      replicas: 2,
      virtualMachineTemplate: {
        metadata: { annotations: { 'hooks.kubevirt.io/hookSidecars': '[]' } },
        spec: { runStrategy: 'Always', template: { spec: vmiSpec } },
      },
    },
  };
  t.same(await denials(setup(), review(POOL, pool)), [
    '[vm-security] spec.virtualMachineTemplate.spec.template.spec.volumes[0].hostDisk: hostDisk volumes are not allowed (path "/var/lib/data/disk.img")',
    '[vm-security] spec.virtualMachineTemplate.metadata.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed',
  ]);
  t.same(await denials(setup(), review({ ...POOL, version: 'v1beta1' }, pool)), await denials(setup(), review(POOL, pool)), 'v1beta1 pools alike');
});

t.test('what a referenced instancetype brings in is judged too', async (t) => {
  const clusterType: KubeObject = {
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineClusterInstancetype',
    metadata: { name: 'gpu.large' },
    spec: { cpu: { guest: 8 }, memory: { guest: '32Gi' }, gpus: [{ name: 'g', deviceName: 'nvidia.com/A100' }] },
  };
  const nsType: KubeObject = {
    apiVersion: 'instancetype.kubevirt.io/v1beta1',
    kind: 'VirtualMachineInstancetype',
    metadata: { name: 'pinned', namespace: NS },
    spec: { cpu: { guest: 2, dedicatedCPUPlacement: true }, memory: { guest: '4Gi' }, annotations: { 'hooks.kubevirt.io/hookSidecars': '[]' } },
  };
  const engine = setup({}, [clusterType, nsType]);
  const withType = (instancetype: Record<string, string>) => {
    const v = vm({});
    v.spec.instancetype = instancetype;
    return v;
  };
  t.same(await denials(engine, review(VM, withType({ name: 'gpu.large' }))), [
    '[vm-security] spec.instancetype (VirtualMachineClusterInstancetype "gpu.large") spec.gpus[0].deviceName: GPU "nvidia.com/A100" is not in the tenant\'s allowed host devices',
  ], 'the kind defaults to the cluster-scoped instancetype');
  t.same(await denials(engine, review(VM, withType({ name: 'pinned', kind: 'VirtualMachineInstancetype' }))), [
    '[vm-security] spec.instancetype (VirtualMachineInstancetype "pinned") spec.annotations["hooks.kubevirt.io/hookSidecars"]: hook sidecars are not allowed',
    '[vm-security] spec.instancetype (VirtualMachineInstancetype "pinned") spec.cpu.dedicatedCPUPlacement: dedicated CPU placement is not allowed',
  ]);
  const byResourceName = await denials(engine, review(VM, withType({ name: 'pinned', kind: 'virtualmachineinstancetypes' })));
  t.equal(byResourceName.length, 2, 'resource names are accepted as kinds');
  t.same(await denials(setup({ allowHostDevices: ['nvidia.com/A100'] }, [clusterType]), review(VM, withType({ name: 'gpu.large' }))), []);
  t.same(await denials(engine, review(VM, withType({ name: 'absent' }))), [], 'an instancetype that does not exist brings nothing');
});

t.test('modes: warn, audit and off', async (t) => {
  const bad = review(VM, vm({ volumes: [hostDiskVolume] }));
  const w = await setup({ mode: 'warn' }).review(bad, 'validate');
  t.equal(w.allowed, true);
  t.same(w.warnings, ['[vm-security] spec.template.spec.volumes[0].hostDisk: hostDisk volumes are not allowed (path "/var/lib/data/disk.img")']);
  const a = await setup({ mode: 'audit' }).review(bad, 'validate');
  t.equal(a.allowed, true);
  t.match(a.auditAnnotations['tenantguard.io/vm-security'], /hostDisk volumes are not allowed/);
  const o = await setup({ mode: 'off' }).review(bad, 'validate');
  t.same({ allowed: o.allowed, warnings: o.warnings, audit: o.auditAnnotations }, { allowed: true, warnings: [], audit: {} });
});

t.test('objects that are not KubeVirt workloads, subresources and deletes are not judged', async (t) => {
  const engine = setup();
  const bad = vm({ volumes: [hostDiskVolume] });
  t.same(await denials(engine, review({ group: 'vm.neon.tech', version: 'v1', kind: 'VirtualMachine' }, bad)), []);
  t.same(await denials(engine, review(VM, bad, { subResource: 'status', operation: 'UPDATE' })), []);
  t.same(await denials(engine, review(VM, null as unknown as KubeObject, { operation: 'DELETE', oldObject: bad })), []);
});

t.test('registered among the validators, before tenant-quota', async (t) => {
  const names = MODULES.map((m) => m.name);
  const vmAt = names.indexOf('vm-security');
  const npAt = names.indexOf('network-policy');
  t.ok(vmAt >= 0 && npAt > vmAt, 'vm-security then network-policy');
  const quotaAt = names.indexOf('tenant-quota');
  if (quotaAt >= 0) t.ok(quotaAt > npAt, 'tenant-quota after them');
  const podSecurityAt = names.indexOf('pod-security');
  if (podSecurityAt >= 0) t.ok(podSecurityAt < vmAt, 'pod-security before them');
});
