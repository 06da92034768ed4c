// What KubeVirt objects cost (SPEC 6.4). Each running VM is charged once: by the object that wants
// it, and any excess by the object that really runs it.
//
// Who pays (each rule from KubeVirt's controllers, kubevirt/kubevirt pkg/virt-controller/watch):
// - A VirtualMachine: 1 count/virtualmachines, plus its compute and one count/pods while it runs.
//   It runs while its run strategy runs it (vm/vm.go syncRunStrategy) or while a VMI it controls
//   exists and is not final, whatever the run strategy says now: Always -> Halted or -> Manual only
//   asks the VMI to stop, and it runs out its grace period (which the tenant chooses) or forever.
// - A VirtualMachineInstanceReplicaSet (replicaset/replicaset.go) and a VirtualMachinePool
//   (pool/pool.go) pay one template charge per replica: max(spec.replicas, what they control now),
//   since a scale-down frees nothing until the surplus VMIs/VMs are gone.
// - What they own pays only what it runs beyond what its owner pays for it (chargeBeyond): a VMI
//   of a VM (the one named after it), of a replica set; a VM of a pool. The owner counts only when verified (owners.ts):
//   a made-up owner reference leaves the object paying in full. So a VM the pool created from its
//   template costs nothing more, and a pool VM the tenant starts or grows (the pool controller does
//   not revert edits to its VMs) pays the difference. No VM is charged twice: the pool's share for
//   it is subtracted from it, and the VM's own charge for its VMI from the VMI.
// - A standalone VMI pays while not final.
//
// Run strategies (kubevirt.io/v1 VirtualMachine.RunStrategy(): `running: true|false` maps to
// Always|Halted, neither set means Halted): Always, RerunOnFailure, WaitAsReceiver run; Once runs
// until its VMI has run (is final); Halted and Manual run only while their VMI does. Pools run one
// VM per replica; a pool template with Once is charged as running (no per-replica VMI to look at).
//
// With ctx.terms, each charge writes what it adds up from (terms.ts); what an owner already pays and
// a replica count are terms of their own.
import { formatMilli, formatUnits } from '../kube/quantity.js';
import type { ClusterView, KubeObject } from '../types.js';
import { instancetypeOf } from './instancetypes.js';
import { guestResources, launcherResources, type KubeVirtResourceConfig, type LauncherInput } from './kubevirt-launcher-resources.js';
import { ownedBy, verifiedController } from './owners.js';
import {
  COUNT_PODS,
  COUNT_VMS,
  LIMITS_CPU,
  LIMITS_MEMORY,
  REQUESTS_CPU,
  REQUESTS_HUGEPAGES_PREFIX,
  REQUESTS_MEMORY,
  addCharge,
  chargeBeyond,
  zeroCharge,
  type Charge,
} from './resources.js';
import { noteChange, Terms } from './terms.js';

export type VmCharging = 'pod' | 'guest';

export interface VmChargeContext {
  view: ClusterView;
  namespace: string;
  vmCharging: VmCharging;
  /** KubeVirt's cluster configuration (kubevirtConfigOf). */
  kubevirt: KubeVirtResourceConfig;
  /**
   * Told what could not be known (an instancetype that is gone), with the object it concerns; the
   * charge then holds what can be known. The reconcile reports these on the Tenant's status.
   */
  onProblem?: (problem: string) => void;
  /** Set when the charge is to be explained: each charge function writes its terms here. */
  terms?: Terms;
}

/** The context for a charge that is subtracted or scaled, not explained term by term. */
function withoutTerms<C extends VmChargeContext>(ctx: C): C {
  return ctx.terms === undefined ? ctx : { ...ctx, terms: undefined };
}

/** Runs `charge` with its terms in a fresh collector, for a caller that scales or relabels them. */
function termsOf<C extends VmChargeContext>(ctx: C, charge: (ctx: C) => Charge): { charge: Charge; terms: Terms | undefined } {
  if (ctx.terms === undefined) return { charge: charge(ctx), terms: undefined };
  const terms = new Terms();
  return { charge: charge({ ...ctx, terms }), terms };
}

const RUN_STRATEGIES = new Set(['Always', 'RerunOnFailure', 'Once', 'Manual', 'Halted', 'WaitAsReceiver']);

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

/** Compute of one running VMI plus the count/pods of its virt-launcher pod. */
function runningVmi(input: LauncherInput, ctx: VmChargeContext): Charge {
  const charge = zeroCharge();
  charge[COUNT_PODS] = 1;
  const terms = ctx.terms;
  terms?.add('its virt-launcher pod', { [COUNT_PODS]: 1 });
  if (ctx.vmCharging === 'guest') {
    const g = guestResources(input, ctx.kubevirt);
    charge[REQUESTS_CPU] = g.requestsCpu;
    charge[LIMITS_CPU] = g.limitsCpu;
    terms?.add(`guest CPUs ${formatMilli(g.requestsCpu)} (vmCharging: guest)`, { [REQUESTS_CPU]: g.requestsCpu, [LIMITS_CPU]: g.limitsCpu });
    const pageSize = input.instancetype?.hugepagesPageSize ?? input.spec?.domain?.memory?.hugepages?.pageSize;
    if (typeof pageSize === 'string') {
      // A hugepage-backed guest's memory is hugepages, not memory (as in launcher sizing below).
      charge[`${REQUESTS_HUGEPAGES_PREFIX}${pageSize}`] = g.requestsMemory;
      terms?.add(`guest memory as hugepages-${pageSize} (vmCharging: guest)`, { [`${REQUESTS_HUGEPAGES_PREFIX}${pageSize}`]: g.requestsMemory });
    } else {
      charge[REQUESTS_MEMORY] = g.requestsMemory;
      charge[LIMITS_MEMORY] = g.limitsMemory;
      terms?.add(`guest memory ${formatUnits(g.requestsMemory)} (vmCharging: guest)`, { [REQUESTS_MEMORY]: g.requestsMemory, [LIMITS_MEMORY]: g.limitsMemory });
    }
    return charge;
  }
  const r = launcherResources(input, ctx.kubevirt, terms);
  charge[REQUESTS_CPU] = r.requestsCpu;
  charge[REQUESTS_MEMORY] = r.requestsMemory;
  charge[LIMITS_CPU] = r.limitsCpu;
  charge[LIMITS_MEMORY] = r.limitsMemory;
  if (r.hugepages) charge[`${REQUESTS_HUGEPAGES_PREFIX}${r.hugepages.pageSize}`] = r.hugepages.amount;
  return charge;
}

/** One VM (a VirtualMachine's spec or a pool's VM template spec) with the given run decision. */
function vmSpecCharge(vmSpec: any, vm: KubeObject | undefined, where: string, runs: boolean, ctx: VmChargeContext): Charge {
  const charge = zeroCharge();
  charge[COUNT_VMS] = 1;
  ctx.terms?.add('the VirtualMachine', { [COUNT_VMS]: 1 });
  if (!runs) {
    ctx.terms?.note('not running: no compute');
    return charge;
  }
  const template = vmSpec?.template;
  const lookup = instancetypeOf(vmSpec, vm, ctx.namespace, ctx.view, `${where}.instancetype`);
  if (lookup.problem !== undefined) ctx.onProblem?.(`VirtualMachine${vm?.metadata?.name ? ` ${vm.metadata.name}` : ''}: ${lookup.problem}`);
  if (lookup.sizing) ctx.terms?.note(`sized by ${vmSpec?.instancetype?.kind ?? 'instancetype'} ${vmSpec?.instancetype?.name ?? ''}`.trimEnd());
  return addCharge(charge, runningVmi({ spec: template?.spec, where: `${where}.template.spec`, instancetype: lookup.sizing }, ctx));
}

/** The VMI a VM controls (same name, verified controller), if it exists. */
function vmiOfVm(vm: KubeObject, ctx: VmChargeContext): KubeObject | undefined {
  const name = vm.metadata?.name;
  const vmi = name === undefined ? undefined : ctx.view.get('VirtualMachineInstance', ctx.namespace, name);
  return vmi !== undefined && verifiedController(vmi, 'VirtualMachine', ctx.view, ctx.namespace) !== undefined ? vmi : undefined;
}

function vmRuns(vm: KubeObject, strategy: string, ctx: VmChargeContext): boolean {
  const vmi = vmiOfVm(vm, ctx);
  if (vmi !== undefined && !isFinalVmi(vmi)) return true;
  switch (strategy) {
    case 'Halted':
    case 'Manual':
      return false;
    case 'Once':
      return vmi === undefined;
    default:
      return true;
  }
}

/** Everything a VM runs, whoever pays for it. */
function vmGrossCharge(vm: KubeObject, ctx: VmChargeContext): Charge {
  return vmSpecCharge(vm.spec, vm, 'spec', vmRuns(vm, runStrategyOf(vm.spec, 'spec'), ctx), ctx);
}

/** What a pool pays for each of its VMs: its VM template, run as the template's strategy says. */
function poolShare(pool: KubeObject, ctx: VmChargeContext): Charge {
  const where = 'spec.virtualMachineTemplate.spec';
  const vmSpec = pool.spec?.virtualMachineTemplate?.spec;
  const strategy = runStrategyOf(vmSpec, where);
  return vmSpecCharge(vmSpec, undefined, where, strategy !== 'Halted' && strategy !== 'Manual', ctx);
}

/** What a replica set pays for each of its VMIs: its template, running. */
function replicaSetShare(rs: KubeObject, ctx: VmChargeContext): Charge {
  return runningVmi({ spec: rs.spec?.template?.spec, where: 'spec.template.spec' }, ctx);
}

/** `total` beyond what `owner` pays, with the difference as a term. */
function beyondOwner(total: Charge, share: Charge, owner: KubeObject, ctx: VmChargeContext): Charge {
  const out = chargeBeyond(total, share);
  noteChange(ctx.terms, `already paid by ${owner.kind ?? 'its owner'} ${owner.metadata?.name ?? ''}`.trimEnd(), total, out);
  return out;
}

export function virtualMachineCharge(vm: KubeObject, ctx: VmChargeContext): Charge {
  const gross = vmGrossCharge(vm, ctx);
  const pool = verifiedController(vm, 'VirtualMachinePool', ctx.view, ctx.namespace);
  return pool === undefined ? gross : beyondOwner(gross, poolShare(pool, withoutTerms(ctx)), pool, ctx);
}

export function virtualMachineInstanceCharge(vmi: KubeObject, ctx: VmChargeContext): Charge {
  if (isFinalVmi(vmi)) {
    ctx.terms?.note('final (Succeeded or Failed): no charge');
    return zeroCharge();
  }
  const own = runningVmi({ spec: vmi.spec, where: 'spec', status: vmi.status }, ctx);
  // A VM's VMI bears the VM's name (pkg/virt-controller/watch/vm/vm.go SetupVMIFromVM); another VMI claiming the VM as its
  // controller would share the one VMI's worth the VM pays for, so it pays for itself.
  const vm = verifiedController(vmi, 'VirtualMachine', ctx.view, ctx.namespace);
  if (vm !== undefined && vm.metadata?.name === vmi.metadata?.name) return beyondOwner(own, vmGrossCharge(vm, withoutTerms(ctx)), vm, ctx);
  const rs = verifiedController(vmi, 'VirtualMachineInstanceReplicaSet', ctx.view, ctx.namespace);
  if (rs !== undefined) return beyondOwner(own, replicaSetShare(rs, withoutTerms(ctx)), rs, ctx);
  return own;
}

/** `n` times one replica's charge; the replica's terms scaled and labelled "n x". */
function replicas(n: number, ctx: VmChargeContext, share: (ctx: VmChargeContext) => Charge): Charge {
  if (n === 0) {
    ctx.terms?.note('0 replicas: no charge');
    return zeroCharge();
  }
  const one = termsOf(ctx, share);
  if (one.terms) ctx.terms!.addAll(one.terms, n, `${n} x `);
  return addCharge(zeroCharge(), one.charge, n);
}

/** spec.replicas; KubeVirt defaults it to 1. */
export function replicasOf(value: unknown, where: string): number {
  if (value === undefined || value === null) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new Error(`${where}: must be a non-negative integer`);
  return value;
}

export function replicaSetCharge(rs: KubeObject, ctx: VmChargeContext, count = replicasOf(rs.spec?.replicas, 'spec.replicas')): Charge {
  const live = ownedBy(rs, 'VirtualMachineInstanceReplicaSet', 'VirtualMachineInstance', ctx.view, ctx.namespace).filter((v) => !isFinalVmi(v)).length;
  return replicas(Math.max(count, live), ctx, (c) => replicaSetShare(rs, c));
}

export function poolCharge(pool: KubeObject, ctx: VmChargeContext, count = replicasOf(pool.spec?.replicas, 'spec.replicas')): Charge {
  const n = Math.max(count, ownedBy(pool, 'VirtualMachinePool', 'VirtualMachine', ctx.view, ctx.namespace).length);
  return replicas(n, ctx, (c) => poolShare(pool, c));
}
