// What KubeVirt objects cost (SPEC 6.4). Each running VM is charged once, at the object that wants
// it: a VirtualMachine while its run strategy runs it, a standalone VMI while it is not final, a
// VirtualMachineInstanceReplicaSet or VirtualMachinePool per desired replica. What they own costs
// nothing: VMIs of a VM or replica set, VMs of a pool, and (see launcher-pods.ts) the virt-launcher
// pods. A running VM also takes one count/pods for its virt-launcher pod.
//
// Run strategies (kubevirt.io/v1 VirtualMachine.RunStrategy(): `running: true|false` maps to
// Always|Halted, neither set means Halted):
// - Always, RerunOnFailure, WaitAsReceiver: running. RerunOnFailure stays charged after a clean
//   guest shutdown, because a restart would not come through admission again.
// - Once: running until it has run, i.e. unless its VMI exists and is final (the VM controller
//   starts a VMI for Once only when there is none, and never restarts a final one).
// - Halted: not running. Manual: not running by the VM's doing; `virtctl start` makes KubeVirt
//   create the VMI, so a Manual VM's VMI pays for itself, like a standalone one.
// Pools run one VM per replica; a pool template with Once is charged as running (no per-replica VMI
// to look at).
import type { ClusterView, KubeObject, OwnerReference } from '../types.js';
import {
  guestResources,
  instancetypeSizing,
  launcherResources,
  type InstancetypeSizing,
  type KubeVirtResourceConfig,
  type LauncherInput,
} from './kubevirt-launcher-resources.js';
import {
  COUNT_PODS,
  COUNT_VMS,
  LIMITS_CPU,
  LIMITS_MEMORY,
  REQUESTS_CPU,
  REQUESTS_MEMORY,
  addCharge,
  zeroCharge,
  type Charge,
} from './resources.js';

export type VmCharging = 'pod' | 'guest';

export interface VmChargeContext {
  view: ClusterView;
  namespace: string;
  vmCharging: VmCharging;
  /** KubeVirt's cluster configuration (kubevirtConfigOf). */
  kubevirt: KubeVirtResourceConfig;
}

const RUN_STRATEGIES = new Set(['Always', 'RerunOnFailure', 'Once', 'Manual', 'Halted', 'WaitAsReceiver']);

function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

function isFinalVmi(vmi: KubeObject): boolean {
  const phase = vmi.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** VirtualMachine.RunStrategy() for a VirtualMachineSpec. */
function runStrategyOf(vmSpec: any, where: string): string {
  if (vmSpec?.running !== undefined && vmSpec?.running !== null && vmSpec?.runStrategy !== undefined && vmSpec?.runStrategy !== null) {
    throw new Error(`${where}: running and runStrategy are mutually exclusive`);
  }
  if (typeof vmSpec?.running === 'boolean') return vmSpec.running ? 'Always' : 'Halted';
  const strategy = vmSpec?.runStrategy;
  if (strategy === undefined || strategy === null) return 'Halted';
  if (typeof strategy !== 'string' || !RUN_STRATEGIES.has(strategy)) {
    throw new Error(`${where}.runStrategy: unknown run strategy ${JSON.stringify(strategy)}`);
  }
  return strategy;
}

/** An instancetype matcher resolved through the view (kind as KubeVirt accepts it; empty = cluster-wide). */
function instancetypeOf(matcher: any, namespace: string, view: ClusterView, where: string): InstancetypeSizing | undefined {
  if (!matcher?.name) return undefined;
  const kind = String(matcher.kind ?? '').toLowerCase();
  let obj: KubeObject | undefined;
  if (kind === '' || kind === 'virtualmachineclusterinstancetype' || kind === 'virtualmachineclusterinstancetypes') {
    obj = view.get('VirtualMachineClusterInstancetype', undefined, matcher.name);
  } else if (kind === 'virtualmachineinstancetype' || kind === 'virtualmachineinstancetypes') {
    obj = view.get('VirtualMachineInstancetype', namespace, matcher.name);
  } else {
    throw new Error(`${where}.kind: unknown instancetype kind ${JSON.stringify(matcher.kind)}`);
  }
  if (!obj) throw new Error(`${where}: ${matcher.kind || 'VirtualMachineClusterInstancetype'} ${JSON.stringify(matcher.name)} not found`);
  return instancetypeSizing(obj);
}

/** Compute of one running VMI plus the count/pods of its virt-launcher pod. */
function runningVmi(input: LauncherInput, ctx: VmChargeContext): Charge {
  const r = ctx.vmCharging === 'guest' ? guestResources(input, ctx.kubevirt) : launcherResources(input, ctx.kubevirt);
  const charge = zeroCharge();
  charge[COUNT_PODS] = 1;
  charge[REQUESTS_CPU] = r.requestsCpu;
  charge[REQUESTS_MEMORY] = r.requestsMemory;
  charge[LIMITS_CPU] = r.limitsCpu;
  charge[LIMITS_MEMORY] = r.limitsMemory;
  return charge;
}

/** One VM (its spec, as in a VirtualMachine or a pool's virtualMachineTemplate) with the given run decision. */
function vmSpecCharge(vmSpec: any, where: string, runs: boolean, ctx: VmChargeContext): Charge {
  const charge = zeroCharge();
  charge[COUNT_VMS] = 1;
  if (!runs) return charge;
  const template = vmSpec?.template;
  return addCharge(
    charge,
    runningVmi(
      {
        spec: template?.spec,
        where: `${where}.template.spec`,
        instancetype: instancetypeOf(vmSpec?.instancetype, ctx.namespace, ctx.view, `${where}.instancetype`),
        annotations: template?.metadata?.annotations,
      },
      ctx,
    ),
  );
}

function vmRuns(vm: KubeObject, strategy: string, ctx: VmChargeContext): boolean {
  switch (strategy) {
    case 'Halted':
    case 'Manual':
      return false;
    case 'Once': {
      const name = vm.metadata?.name;
      const vmi = name === undefined ? undefined : ctx.view.get('VirtualMachineInstance', ctx.namespace, name);
      return vmi === undefined || !isFinalVmi(vmi);
    }
    default:
      return true;
  }
}

export function virtualMachineCharge(vm: KubeObject, ctx: VmChargeContext): Charge {
  const owner = controllerOf(vm);
  if (owner?.kind === 'VirtualMachinePool') return zeroCharge();
  const strategy = runStrategyOf(vm.spec, 'spec');
  return vmSpecCharge(vm.spec, 'spec', vmRuns(vm, strategy, ctx), ctx);
}

export function virtualMachineInstanceCharge(vmi: KubeObject, ctx: VmChargeContext): Charge {
  const owner = controllerOf(vmi);
  if (owner?.kind === 'VirtualMachineInstanceReplicaSet') return zeroCharge();
  if (owner?.kind === 'VirtualMachine') {
    const vm = ctx.view.get('VirtualMachine', ctx.namespace, owner.name);
    const startedByHand = vm !== undefined && vm.metadata?.uid === owner.uid && runStrategyOf(vm.spec, 'spec') === 'Manual';
    if (!startedByHand) return zeroCharge();
  }
  if (isFinalVmi(vmi)) return zeroCharge();
  return runningVmi({ spec: vmi.spec, where: 'spec', annotations: vmi.metadata?.annotations, status: vmi.status }, ctx);
}

function replicas(value: unknown, where: string): number {
  if (value === undefined || value === null) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new Error(`${where}: must be a non-negative integer`);
  return value;
}

export function replicaSetCharge(rs: KubeObject, ctx: VmChargeContext): Charge {
  const n = replicas(rs.spec?.replicas, 'spec.replicas');
  if (n === 0) return zeroCharge();
  const template = rs.spec?.template;
  const one = runningVmi({ spec: template?.spec, where: 'spec.template.spec', annotations: template?.metadata?.annotations }, ctx);
  return addCharge(zeroCharge(), one, n);
}

export function poolCharge(pool: KubeObject, ctx: VmChargeContext): Charge {
  const n = replicas(pool.spec?.replicas, 'spec.replicas');
  if (n === 0) return zeroCharge();
  const where = 'spec.virtualMachineTemplate.spec';
  const vmSpec = pool.spec?.virtualMachineTemplate?.spec;
  const strategy = runStrategyOf(vmSpec, where);
  const one = vmSpecCharge(vmSpec, where, strategy !== 'Halted' && strategy !== 'Manual', ctx);
  return addCharge(zeroCharge(), one, n);
}
