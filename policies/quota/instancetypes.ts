// The instancetype a VirtualMachine really runs with (SPEC 6.4 "Trust"). KubeVirt stores the
// instancetype it applied in a ControllerRevision controlled by the VM and runs every later start
// from it (pkg/instancetype/revision/store.go CreateControllerRevision; pkg/instancetype/find/
// spec.go and revision.go: spec.instancetype.revisionName, else status.instancetypeRef.
// controllerRevisionRef.name; only before either exists the live object). The cluster view keeps
// those revisions (the ones labelled instancetype.kubevirt.io/object-kind, which store.go sets), so
// the stored copy is what is charged, whatever the live object became since. The live
// (Cluster)Instancetype is the tenant's to edit or delete, so it is used only
// - before KubeVirt has stored a revision (a VM being created: KubeVirt will copy it as it is), or
// - when the revision is not (yet) in the view but the live object is provably the stored one: the
//   revision name is GenerateName(vm, name, version, uid, generation), and an object with that uid
//   and generation has that very spec (generation moves with every spec change).
// Otherwise (the revision is gone too, or the view lags) the charge falls back to the VM template
// alone and the problem is reported (ChargeContext.onProblem, shown as the Tenant's
// ChargeIncomplete condition), never thrown, so that no later review of the VM or the tenant's
// usage fails on it. What that fallback misses is paid when the VM runs: its VMI, which KubeVirt
// builds from the stored revision, pays what it runs beyond its VM's charge (vm-charge.ts).
// Preferences are not read: they pick topology and device defaults, not the size, and the only
// overhead term a preference could add (preferredTPM, 53Mi) is the one this can miss.
import type { ClusterView, KubeObject } from '../types.js';
import { instancetypeSizing, type InstancetypeSizing } from './kubevirt-launcher-resources.js';

export interface InstancetypeLookup {
  sizing?: InstancetypeSizing;
  /** Why the instancetype could not be read, for the Tenant's status; undefined when it was. */
  problem?: string;
}

type InstancetypeKind = 'VirtualMachineInstancetype' | 'VirtualMachineClusterInstancetype';

/** The instancetype kind a matcher names, as KubeVirt accepts it (singular or plural, empty = cluster). */
function kindOf(matcher: any): InstancetypeKind | undefined {
  const kind = String(matcher?.kind ?? '').toLowerCase();
  if (kind === '' || kind === 'virtualmachineclusterinstancetype' || kind === 'virtualmachineclusterinstancetypes') return 'VirtualMachineClusterInstancetype';
  if (kind === 'virtualmachineinstancetype' || kind === 'virtualmachineinstancetypes') return 'VirtualMachineInstancetype';
  return undefined;
}

function sizingOf(obj: KubeObject, what: string): InstancetypeLookup {
  try {
    return { sizing: instancetypeSizing(obj) };
  } catch (err) {
    return { problem: `${what}: ${(err as Error).message}` };
  }
}

/** The revision name KubeVirt stored for the VM, if any. */
function revisionNameOf(vm: KubeObject | undefined, matcher: any): string | undefined {
  if (typeof matcher?.revisionName === 'string' && matcher.revisionName !== '') return matcher.revisionName;
  const ref = vm?.status?.instancetypeRef?.controllerRevisionRef?.name;
  return typeof ref === 'string' && ref !== '' ? ref : undefined;
}

/**
 * The sizing of the instancetype `vmSpec.instancetype` names. `vm` is the VirtualMachine around the
 * spec (undefined for a pool's VM template, which has no revisions of its own).
 */
export function instancetypeOf(vmSpec: any, vm: KubeObject | undefined, namespace: string, view: ClusterView, where: string): InstancetypeLookup {
  const matcher = vmSpec?.instancetype;
  if (!matcher?.name) return {};
  const kind = kindOf(matcher);
  if (kind === undefined) return { problem: `${where}.kind: unknown instancetype kind ${JSON.stringify(matcher.kind)}` };
  const live = view.get(kind, kind === 'VirtualMachineInstancetype' ? namespace : undefined, matcher.name);
  const revisionName = revisionNameOf(vm, matcher);
  if (revisionName === undefined) {
    return live ? sizingOf(live, `${kind} ${matcher.name}`) : { problem: `${where}: ${kind} ${JSON.stringify(matcher.name)} not found` };
  }
  const stored = view.get('ControllerRevision', namespace, revisionName)?.data as KubeObject | undefined;
  if (stored?.spec !== undefined) return sizingOf(stored, `ControllerRevision ${revisionName}`);
  const uid = live?.metadata?.uid;
  const generation = live?.metadata?.generation;
  if (live && uid && typeof generation === 'number' && revisionName.endsWith(`-${uid}-${generation}`)) {
    return sizingOf(live, `${kind} ${matcher.name}`);
  }
  return { problem: `${where}: ${kind} ${JSON.stringify(matcher.name)} has changed or is gone since KubeVirt stored it as ControllerRevision ${revisionName}` };
}
