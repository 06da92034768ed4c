// Where the VirtualMachineInstance lives inside each KubeVirt kind (kubevirt.io/v1 and
// pool.kubevirt.io/v1alpha1|v1beta1 field names), and the labels virt-controller gives the
// virt-launcher pod that runs it (pkg/virt-controller/services/template.go podLabels, KubeVirt
// v1.7+: the VMI's labels, then kubevirt.io=virt-launcher, kubevirt.io/created-by=<VMI uid>,
// vm.kubevirt.io/name=<hostname>, vmi.kubevirt.io/id=<VMI id>, and sidecar.istio.io/inject copied
// from the VMI annotation of that name).
import { createHash } from 'node:crypto';
import type { GroupVersionKind, KubeObject, ObjectMeta } from '../types.js';

export type KubeVirtKind =
  | 'VirtualMachine'
  | 'VirtualMachineInstance'
  | 'VirtualMachineInstanceReplicaSet'
  | 'VirtualMachinePool';

export const LAUNCHER_APP_LABEL = 'kubevirt.io';
export const LAUNCHER_APP_VALUE = 'virt-launcher';
export const CREATED_BY_LABEL = 'kubevirt.io/created-by';
export const VM_NAME_LABEL = 'vm.kubevirt.io/name';
export const VMI_ID_LABEL = 'vmi.kubevirt.io/id';
export const ISTIO_INJECT = 'sidecar.istio.io/inject';

/** The parts of kubevirt.io/v1 VirtualMachineInstanceSpec that tenantguard reads. */
export interface VmiSpec {
  hostname?: string;
  volumes?: Array<{ name?: string; hostDisk?: { path?: string; type?: string } | null }>;
  domain?: {
    cpu?: { dedicatedCpuPlacement?: boolean } | null;
    devices?: {
      hostDevices?: Array<{ name?: string; deviceName?: string }> | null;
      gpus?: Array<{ name?: string; deviceName?: string }> | null;
    } | null;
  } | null;
}

/** kubevirt.io/v1 InstancetypeMatcher (VirtualMachineSpec.instancetype). */
export interface InstancetypeMatcher {
  name?: string;
  /** VirtualMachineInstancetype or VirtualMachineClusterInstancetype (the default when empty). */
  kind?: string;
}

export interface VmiTemplate {
  kind: KubeVirtKind;
  /** The VMI spec the object will run; undefined when the object carries none. */
  spec: VmiSpec | undefined;
  /** Dotted field path of `spec` in the object, for messages. */
  specPath: string;
  /** The VMI's metadata (its own for a VMI, the template's otherwise). */
  metadata: ObjectMeta | undefined;
  metadataPath: string;
  /** The VirtualMachine around the template: the object itself, or a pool's VM template. */
  vm?: { metadata: ObjectMeta | undefined; metadataPath: string; instancetype: InstancetypeMatcher | undefined; instancetypePath: string };
  /** The VMI's name where it is fixed: a VMI's own, a VM's (its VMI takes the VM's name). */
  vmiName: string | undefined;
  vmiUid: string | undefined;
}

export function kubevirtKindOf(gvk: Pick<GroupVersionKind, 'group' | 'kind'>): KubeVirtKind | undefined {
  if (gvk.group === 'kubevirt.io') {
    if (gvk.kind === 'VirtualMachine' || gvk.kind === 'VirtualMachineInstance' || gvk.kind === 'VirtualMachineInstanceReplicaSet') {
      return gvk.kind;
    }
  } else if (gvk.group === 'pool.kubevirt.io' && gvk.kind === 'VirtualMachinePool') {
    return gvk.kind;
  }
  return undefined;
}

function record(value: unknown): Record<string, any> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, any>) : undefined;
}

/** A VMI template's spec and metadata, with the field paths to them. */
function templateAt(value: unknown, path: string): Pick<VmiTemplate, 'spec' | 'specPath' | 'metadata' | 'metadataPath'> {
  const template = record(value);
  return {
    spec: record(template?.spec) as VmiSpec | undefined,
    specPath: `${path}.spec`,
    metadata: record(template?.metadata) as ObjectMeta | undefined,
    metadataPath: `${path}.metadata`,
  };
}

/** The VMI template of a KubeVirt object of the given kind. */
export function vmiTemplateOf(kind: KubeVirtKind, obj: KubeObject): VmiTemplate {
  const spec = record(obj.spec);
  switch (kind) {
    case 'VirtualMachineInstance':
      return {
        kind,
        spec: spec as VmiSpec | undefined,
        specPath: 'spec',
        metadata: obj.metadata,
        metadataPath: 'metadata',
        vmiName: obj.metadata?.name,
        vmiUid: obj.metadata?.uid,
      };
    case 'VirtualMachine': {
      return {
        kind,
        ...templateAt(spec?.template, 'spec.template'),
        vm: {
          metadata: obj.metadata,
          metadataPath: 'metadata',
          instancetype: record(spec?.instancetype) as InstancetypeMatcher | undefined,
          instancetypePath: 'spec.instancetype',
        },
        vmiName: obj.metadata?.name,
        vmiUid: undefined,
      };
    }
    case 'VirtualMachineInstanceReplicaSet': {
      return {
        kind,
        ...templateAt(spec?.template, 'spec.template'),
        vmiName: undefined,
        vmiUid: undefined,
      };
    }
    case 'VirtualMachinePool': {
      const vmTemplate = record(spec?.virtualMachineTemplate);
      const vmSpec = record(vmTemplate?.spec);
      return {
        kind,
        ...templateAt(vmSpec?.template, 'spec.virtualMachineTemplate.spec.template'),
        vm: {
          metadata: record(vmTemplate?.metadata) as ObjectMeta | undefined,
          metadataPath: 'spec.virtualMachineTemplate.metadata',
          instancetype: record(vmSpec?.instancetype) as InstancetypeMatcher | undefined,
          instancetypePath: 'spec.virtualMachineTemplate.spec.instancetype',
        },
        vmiName: undefined,
        vmiUid: undefined,
      };
    }
  }
}

const DNS1123_LABEL_MAX = 63;

/** KubeVirt's pkg/util/net/dns SanitizeHostname. */
function launcherHostname(vmiName: string | undefined, spec: VmiSpec | undefined): string | undefined {
  if (typeof spec?.hostname === 'string' && spec.hostname !== '') return spec.hostname;
  if (vmiName === undefined) return undefined;
  return vmiName.split('.')[0]!.slice(0, DNS1123_LABEL_MAX);
}

/** KubeVirt's apimachinery.CalculateVirtualMachineInstanceID: long names are cut and hashed (SHA-1). */
export function virtualMachineInstanceId(vmiName: string): string {
  if (vmiName.length <= DNS1123_LABEL_MAX) return vmiName;
  const hash = createHash('sha1').update(vmiName).digest('hex').slice(0, 8);
  return `${vmiName.slice(0, DNS1123_LABEL_MAX - 8 - 1)}-${hash}`;
}

/**
 * The labels the virt-launcher pod of this template will carry. Labels derived from a VMI's name or
 * uid are left out where they are not fixed yet (replica sets and pools name every VMI differently;
 * a VM's VMI gets its uid only when created): no selector on them can cover every replica anyway.
 */
export function launcherPodLabels(t: VmiTemplate): Record<string, string> {
  const labels: Record<string, string> = { ...t.metadata?.labels };
  labels[LAUNCHER_APP_LABEL] = LAUNCHER_APP_VALUE;
  if (t.vmiUid) labels[CREATED_BY_LABEL] = t.vmiUid;
  const hostname = launcherHostname(t.vmiName, t.spec);
  if (hostname !== undefined) labels[VM_NAME_LABEL] = hostname;
  if (t.vmiName !== undefined) labels[VMI_ID_LABEL] = virtualMachineInstanceId(t.vmiName);
  const istio = t.metadata?.annotations?.[ISTIO_INJECT];
  if (istio !== undefined) labels[ISTIO_INJECT] = istio;
  return labels;
}
