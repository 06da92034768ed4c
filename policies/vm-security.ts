// vm-security (SPEC 6.3): KubeVirt features that reach through the VM onto the node. hostDisk
// volumes, host devices and GPUs outside the tenant's allow list, hook sidecars (arbitrary
// containers in the virt-launcher pod) and dedicated CPU placement, in the VMI template and in the
// instancetype a VM refers to (KubeVirt copies its cpu, gpus, hostDevices and annotations into the
// VMI). An UPDATE is denied only for violations it introduces: one already in oldObject must not
// block e.g. stopping the VM.
import { kubevirtKindOf, vmiTemplateOf, type InstancetypeMatcher, type VmiSpec, type VmiTemplate } from './kube/kubevirt-templates.js';
import type { ClusterView, Finding, KubeObject, ModuleResult, PolicyInput, PolicyModule, TenantSpec } from './types.js';

export const HOOK_SIDECARS_ANNOTATION = 'hooks.kubevirt.io/hookSidecars';

type VmSecurity = NonNullable<TenantSpec['vmSecurity']>;

interface Violation {
  /** Identity independent of list positions, to recognise the same violation in oldObject. */
  key: string;
  rule: string;
  message: string;
}

const EMPTY: ModuleResult = Object.freeze({}) as ModuleResult;

/**
 * hostDevices and gpus come from a device plugin (deviceName, the resource name the allow list
 * holds) or, with KubeVirt's GPUsWithDRA/HostDevicesWithDRA gates, from a DRA ResourceClaim
 * (kubevirt.io/v1 GPU and HostDevice: the inline ClaimRequest's claimName and requestName, no
 * deviceName). What a claim gives is decided by its DeviceClass, not by any name the VM carries, so
 * the allow list cannot admit one: such a device is named by its claim and denied. An allow-list
 * entry "" admits nothing.
 */
function checkDevices(
  out: Violation[],
  devices: unknown,
  path: string,
  rule: 'hostDevices' | 'gpus',
  allowed: readonly string[],
): void {
  if (!Array.isArray(devices)) return;
  const what = rule === 'gpus' ? 'GPU' : 'host device';
  for (let i = 0; i < devices.length; i++) {
    const device = (devices[i] ?? {}) as { deviceName?: unknown; claimName?: unknown; requestName?: unknown };
    const deviceName = typeof device.deviceName === 'string' ? device.deviceName : '';
    if (deviceName === '' && (device.claimName !== undefined || device.requestName !== undefined)) {
      const claim = `claim "${String(device.claimName ?? '')}" request "${String(device.requestName ?? '')}"`;
      out.push({
        key: `${rule}|dra|${String(device.claimName ?? '')}|${String(device.requestName ?? '')}`,
        rule,
        message: `${path}[${i}].claimName: ${what} from DRA ${claim} is not allowed: the tenant's allowed host devices name device-plugin devices only`,
      });
      continue;
    }
    if (deviceName !== '' && allowed.includes(deviceName)) continue;
    out.push({
      key: `${rule}|${deviceName}`,
      rule,
      message: `${path}[${i}].deviceName: ${what} "${deviceName}" is not in the tenant's allowed host devices`,
    });
  }
}

function checkHookSidecars(out: Violation[], annotations: Record<string, string> | undefined, path: string, where: string): void {
  const value = annotations?.[HOOK_SIDECARS_ANNOTATION];
  if (value === undefined) return;
  out.push({
    key: `hookSidecars|${where}|${value}`,
    rule: 'hookSidecars',
    message: `${path}["${HOOK_SIDECARS_ANNOTATION}"]: hook sidecars are not allowed`,
  });
}

function checkSpec(out: Violation[], spec: VmiSpec | undefined, path: string, settings: VmSecurity): void {
  if (!spec) return;
  const volumes = spec.volumes;
  if (Array.isArray(volumes)) {
    for (let i = 0; i < volumes.length; i++) {
      const hostDisk = volumes[i]?.hostDisk;
      if (hostDisk === null || typeof hostDisk !== 'object') continue;
      out.push({
        key: `hostDisk|${volumes[i]!.name}|${hostDisk.path}|${hostDisk.type}`,
        rule: 'hostDisk',
        message: `${path}.volumes[${i}].hostDisk: hostDisk volumes are not allowed (path "${hostDisk.path ?? ''}")`,
      });
    }
  }
  const allowed = settings.allowHostDevices ?? [];
  const devices = spec.domain?.devices;
  checkDevices(out, devices?.hostDevices, `${path}.domain.devices.hostDevices`, 'hostDevices', allowed);
  checkDevices(out, devices?.gpus, `${path}.domain.devices.gpus`, 'gpus', allowed);
  if (!settings.allowDedicatedCpu && spec.domain?.cpu?.dedicatedCpuPlacement === true) {
    out.push({
      key: 'dedicatedCpuPlacement',
      rule: 'dedicatedCpuPlacement',
      message: `${path}.domain.cpu.dedicatedCpuPlacement: dedicated CPU placement is not allowed`,
    });
  }
}

/** The instancetype object a VM refers to; KubeVirt accepts singular and plural resource names. */
function instancetypeOf(matcher: InstancetypeMatcher | undefined, namespace: string, view: ClusterView): { obj: KubeObject; kind: string } | undefined {
  if (!matcher?.name) return undefined;
  const kind = (matcher.kind ?? '').toLowerCase();
  if (kind === 'virtualmachineinstancetype' || kind === 'virtualmachineinstancetypes') {
    const obj = view.get('VirtualMachineInstancetype', namespace, matcher.name);
    return obj ? { obj, kind: 'VirtualMachineInstancetype' } : undefined;
  }
  if (kind === '' || kind === 'virtualmachineclusterinstancetype' || kind === 'virtualmachineclusterinstancetypes') {
    const obj = view.get('VirtualMachineClusterInstancetype', undefined, matcher.name);
    return obj ? { obj, kind: 'VirtualMachineClusterInstancetype' } : undefined;
  }
  return undefined;
}

function checkInstancetype(out: Violation[], t: VmiTemplate, namespace: string, view: ClusterView, settings: VmSecurity): void {
  if (!t.vm) return;
  const found = instancetypeOf(t.vm.instancetype, namespace, view);
  if (!found) return;
  const spec = found.obj.spec;
  const prefix = `${t.vm.instancetypePath} (${found.kind} "${found.obj.metadata?.name}") spec`;
  const allowed = settings.allowHostDevices ?? [];
  checkDevices(out, spec?.hostDevices, `${prefix}.hostDevices`, 'hostDevices', allowed);
  checkDevices(out, spec?.gpus, `${prefix}.gpus`, 'gpus', allowed);
  if (!settings.allowHookSidecars) checkHookSidecars(out, spec?.annotations, `${prefix}.annotations`, 'instancetype');
  if (!settings.allowDedicatedCpu && spec?.cpu?.dedicatedCPUPlacement === true) {
    out.push({
      key: 'dedicatedCpuPlacement',
      rule: 'dedicatedCpuPlacement',
      message: `${prefix}.cpu.dedicatedCPUPlacement: dedicated CPU placement is not allowed`,
    });
  }
}

function violationsOf(t: VmiTemplate, namespace: string, view: ClusterView, settings: VmSecurity): Violation[] {
  const out: Violation[] = [];
  checkSpec(out, t.spec, t.specPath, settings);
  if (!settings.allowHookSidecars) {
    checkHookSidecars(out, t.metadata?.annotations, `${t.metadataPath}.annotations`, 'vmi');
    if (t.vm) checkHookSidecars(out, t.vm.metadata?.annotations, `${t.vm.metadataPath}.annotations`, 'vm');
  }
  checkInstancetype(out, t, namespace, view, settings);
  return out;
}

function evaluate(input: PolicyInput): ModuleResult {
  const { request, tenant, view } = input;
  const settings = tenant.spec.vmSecurity;
  if (!settings || settings.mode === 'off' || request.subResource) return EMPTY;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return EMPTY;
  const mode = settings.mode;
  const kind = kubevirtKindOf(request.kind);
  const obj = input.object;
  if (kind === undefined || !obj) return EMPTY;
  const namespace = request.namespace ?? obj.metadata?.namespace ?? '';

  const violations = violationsOf(vmiTemplateOf(kind, obj), namespace, view, settings);
  if (violations.length === 0) return EMPTY;

  let fresh = violations;
  let preExisting = 0;
  if (request.operation === 'UPDATE' && input.oldObject) {
    const before = new Map<string, number>();
    for (const v of violationsOf(vmiTemplateOf(kind, input.oldObject), namespace, view, settings)) {
      before.set(v.key, (before.get(v.key) ?? 0) + 1);
    }
    fresh = violations.filter((v) => {
      const n = before.get(v.key) ?? 0;
      if (n === 0) return true;
      before.set(v.key, n - 1);
      preExisting++;
      return false;
    });
  }
  const findings: Finding[] = fresh.map((v) => ({ mode, rule: v.rule, message: v.message }));
  return preExisting > 0
    ? { findings, annotation: `${preExisting} violation(s) already present before this update were not judged again` }
    : { findings };
}

export const vmSecurity: PolicyModule = {
  name: 'vm-security',
  type: 'validate',
  evaluate,
};
