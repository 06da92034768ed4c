// `tenantguard audit`: judge every workload already in a state directory or the live cluster (Pods,
// pod-template workloads, KubeVirt objects) as if it were created now, and report what each tenant
// violates, whatever the mode (enforce, warn, audit). Nothing is admitted or reserved: reviews are dryRun.
// Quota is judged as what exists (SPEC 10): an existing object is already in its tenant's usage, so
// charging it again as a create would report a tenant exactly at its limit (2 of 2 pods) as over it.
// The finding is per tenant and resource, where what runs (observed usage) is over `hard`.
import type { ParseArgsConfig } from 'node:util';
import { stringify } from 'yaml';
import type { ModuleOutcome, PolicyEngine } from '../../policies/engine.js';
import { QUOTA_MODULE } from '../../policies/quota/module.js';
import { formatAmount, parseHard } from '../../policies/quota/resources.js';
import { MODULES } from '../../policies/registry.js';
import type { ClusterView, KubeObject, QuotaLedger, ViewKind } from '../../policies/types.js';
import { ClusterReadError, DEFAULT_PAGE_SIZE } from '../cluster/cluster-snapshot.js';
import type { ServerConfig } from '../config.js';
import { KubeClient, loadKubeConfig } from '../cluster/kube-client.js';
import { openReports, policyReports, type Violation } from '../replay/policy-report.js';
import { writeReports } from '../replay/report-writer.js';
import { deterministicUid, filesIn, InputError, parseDocuments, readText, wrapManifest } from '../replay/inputs.js';
import { setupCluster, type ClusterSetup } from '../setup/cluster-setup.js';
import { fileConfig } from '../setup/file-config.js';
import { SetupError } from '../setup/setup-error.js';
import { parseCommandArgs, type RawCommandIO } from './command.js';

const USAGE = `Usage: tenantguard audit [options]

Evaluate every Pod, pod-template workload (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
CronJob) and KubeVirt object (VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceReplicaSet,
VirtualMachinePool, VirtualMachineInstanceMigration) in a state directory or the live cluster as a
dry-run CREATE, and report the violations per tenant and policy, whatever their mode.

Options:
  --state DIR                     state directory
  --kubeconfig FILE               audit the live cluster this kubeconfig points to
  --namespace NS                  judge only this namespace's workloads (repeatable)
  --chunk-size N                  live cluster: objects per list call (default ${DEFAULT_PAGE_SIZE})
  --config FILE                   server config (exemptions, module failure modes, defaultTenant)
  --output table|json|policyreport|openreports
                                  policyreport: one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace (YAML)
                                  openreports: one openreports.io/v1alpha1 Report per namespace (YAML)
  --fail-on-violation             exit 1 when anything is violated
  --apply                         live cluster, with --output policyreport or openreports: also write
                                  the reports into the cluster (create or replace each namespace's)
  -h, --help                      show this help

Without --state, a kubeconfig (--kubeconfig, KUBECONFIG, or running in a pod) selects the live
cluster; with neither, the embedded example state is audited. On the live cluster, Pods and the
KubeVirt kinds its API serves are judged (pod-template workloads are judged through their Pods);
reading it needs the list permissions the webhook's cluster view has; with --namespace, namespaced
kinds are listed in those namespaces only and each Namespace is read with get.
`;

const OPTIONS = {
  state: { type: 'string' },
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', multiple: true },
  'chunk-size': { type: 'string' },
  config: { type: 'string' },
  output: { type: 'string', default: 'table' },
  'fail-on-violation': { type: 'boolean', default: false },
  apply: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const OUTPUTS = ['table', 'json', 'policyreport', 'openreports'] as const;
type Output = (typeof OUTPUTS)[number];

const AUDITED_KINDS: ReadonlySet<string> = new Set([
  'Pod',
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
  'VirtualMachineInstanceMigration',
]);

const AUDIT_USER = 'tenantguard-audit';
const DEFAULT_TENANT_LABEL = '(default)';

export interface AuditReport {
  evaluated: number;
  exempt: number;
  /** Namespaces that hold audited objects. */
  namespaces: string[];
  violations: Violation[];
}

/**
 * Who the audit pretends created the object. The creator of an existing object is unknown; a pod
 * that KubeVirt's controller would have made (launcher label, controlled by a VMI that exists with
 * that uid) is judged as made by the controller, else every running VM would show up as a
 * privileged pod. Anything else is judged as made by an ordinary user.
 */
function creatorOf(obj: KubeObject, namespace: string, view: ClusterView, controllers: string[]): string {
  if (obj.kind !== 'Pod' || obj.metadata?.labels?.['kubevirt.io'] !== 'virt-launcher' || controllers.length === 0) return AUDIT_USER;
  const owners = (obj.metadata.ownerReferences ?? []).filter((o) => o.controller === true);
  if (owners.length !== 1 || owners[0]!.kind !== 'VirtualMachineInstance') return AUDIT_USER;
  const vmi = view.get('VirtualMachineInstance', namespace, owners[0]!.name);
  return vmi?.metadata?.uid === owners[0]!.uid ? controllers[0]! : AUDIT_USER;
}

function violationsOf(outcome: ModuleOutcome, base: Omit<Violation, 'policy' | 'mode' | 'rule' | 'message'>): Violation[] {
  if (outcome.result === 'error') {
    return [{ ...base, policy: outcome.module, mode: 'error', rule: 'evaluation', message: outcome.error ?? 'the policy failed' }];
  }
  return outcome.findings.map((f) => ({ ...base, policy: outcome.module, mode: f.mode, rule: f.rule, message: f.message }));
}

/** Kinds the audit judges that the cluster view keeps: all a live cluster is read for. */
const AUDITED_VIEW_KINDS: readonly ViewKind[] = [
  'Pod',
  'VirtualMachine',
  'VirtualMachineInstance',
  'VirtualMachineInstanceReplicaSet',
  'VirtualMachinePool',
  'VirtualMachineInstanceMigration',
];

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface AuditSetup {
  config: ServerConfig;
  view: ClusterView;
  engine: PolicyEngine;
  ledger: QuotaLedger;
}

/**
 * One finding per tenant and resource whose observed usage is over its hard limit, reported in
 * each audited namespace of the tenant (a report is per namespace), naming the Tenant.
 */
function quotaViolations(setup: AuditSetup, namespaces: readonly string[]): Violation[] {
  const out: Violation[] = [];
  for (const tenant of setup.view.list('Tenant')) {
    const name = tenant.metadata?.name;
    const hard = parseHard((tenant.spec as { quota?: { hard?: Record<string, unknown> } } | undefined)?.quota?.hard);
    if (name === undefined || Object.keys(hard).length === 0) continue;
    const used = setup.ledger.used(name);
    const over = Object.entries(hard)
      .filter(([resource, limit]) => (used[resource] ?? 0) > limit)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (over.length === 0) continue;
    const claimed = namespaces.filter((ns) => setup.view.tenantOf(ns).name === name);
    for (const namespace of claimed) {
      for (const [resource, limit] of over) {
        out.push({
          tenant: name,
          namespace,
          apiVersion: tenant.apiVersion ?? 'tenantguard.io/v1alpha1',
          kind: 'Tenant',
          name,
          ...(tenant.metadata?.uid ? { uid: tenant.metadata.uid } : {}),
          policy: QUOTA_MODULE,
          mode: 'enforce',
          rule: resource,
          message: `over quota: ${name}, used: ${formatAmount(resource, used[resource] ?? 0)}, limited: ${formatAmount(resource, limit)}`,
        });
      }
    }
  }
  return out;
}

/** Judges the audited kinds among `objects`; `namespaces` (when given) limits which, and each is reported even when empty. */
async function judge(setup: AuditSetup, objects: Iterable<KubeObject> | AsyncIterable<KubeObject>, namespaces?: readonly string[]): Promise<AuditReport> {
  const controllers = setup.config.kubevirt.serviceAccounts;
  const only = namespaces === undefined ? undefined : new Set(namespaces);
  const report: AuditReport = { evaluated: 0, exempt: 0, namespaces: [], violations: [] };
  const seen = new Set<string>(namespaces);
  for await (const obj of objects) {
    if (!AUDITED_KINDS.has(obj.kind!)) continue;
    const namespace = obj.metadata?.namespace ?? 'default';
    if (only !== undefined && !only.has(namespace)) continue;
    const name = obj.metadata?.name ?? '';
    const request = wrapManifest(obj, deterministicUid(`audit/${obj.kind}/${namespace}/${name}`), {
      username: creatorOf(obj, namespace, setup.view, controllers),
      groups: [],
    });
    request.dryRun = true;
    // Judge the object as it is: mutation would only hide what the stored object lacks.
    const decision = await setup.engine.review(request, 'validate');
    seen.add(namespace);
    report.evaluated += 1;
    if (decision.exemptBy !== undefined) {
      report.exempt += 1;
      continue;
    }
    const base = {
      tenant: setup.view.tenantOf(namespace).name,
      namespace,
      apiVersion: obj.apiVersion!,
      kind: obj.kind!,
      name,
      ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
    };
    // Quota is judged per tenant below, on what runs, not per object as a second charge.
    for (const outcome of decision.modules) if (outcome.module !== QUOTA_MODULE) report.violations.push(...violationsOf(outcome, base));
  }
  report.namespaces = [...seen].sort();
  report.violations.push(...quotaViolations(setup, report.namespaces));
  const key = (v: Violation): string => `${v.tenant ?? ''}\0${v.policy}\0${v.namespace}\0${v.kind}\0${v.name}\0${v.rule}`;
  report.violations.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return report;
}

/** Every object of the state directory, including the kinds the view does not keep (Deployments...). */
async function* stateObjects(dir: string): AsyncGenerator<KubeObject> {
  for (const file of await filesIn(dir)) yield* parseDocuments(await readText(file), file);
}

function* viewObjects(view: ClusterView): Generator<KubeObject> {
  for (const kind of AUDITED_VIEW_KINDS) yield* view.list(kind);
}

/** Evaluates every audited object of the state directory or the live cluster the setup holds. */
async function audit(setup: ClusterSetup, config: ServerConfig, namespaces: readonly string[] | undefined): Promise<AuditReport> {
  const judged = { config, view: setup.view, engine: setup.engine, ledger: setup.ledger };
  if (setup.mode === 'live') return judge(judged, viewObjects(setup.view), namespaces);
  for (const ns of namespaces ?? []) {
    if (!setup.view.get('Namespace', undefined, ns)) throw new InputError(`namespace ${ns} is not in the state directory ${setup.state}`);
  }
  return judge(judged, stateObjects(setup.state), namespaces);
}

type Counts = Record<Violation['mode'], number>;

/** tenant -> policy -> violations by mode. */
function countsOf(violations: Violation[]): Record<string, Record<string, Counts>> {
  const out: Record<string, Record<string, Counts>> = {};
  for (const v of violations) {
    const byPolicy = (out[v.tenant ?? DEFAULT_TENANT_LABEL] ??= {});
    const counts = (byPolicy[v.policy] ??= { enforce: 0, warn: 0, audit: 0, error: 0 });
    counts[v.mode] += 1;
  }
  return out;
}

function summaryLine(r: AuditReport): string {
  return `${r.evaluated} objects evaluated (${r.exempt} exempt), ${r.violations.length} violation${r.violations.length === 1 ? '' : 's'}`;
}

const MESSAGE_WIDTH = 160;

function formatTable(r: AuditReport): string {
  const header = ['TENANT', 'POLICY', 'MODE', 'OBJECT', 'RULE', 'MESSAGE'];
  const rows = r.violations.map((v) => {
    const message = v.message.replace(/\s+/g, ' ');
    return [
      v.tenant ?? DEFAULT_TENANT_LABEL,
      v.policy,
      v.mode,
      `${v.namespace}/${v.kind}/${v.name}`,
      v.rule,
      message.length <= MESSAGE_WIDTH ? message : `${message.slice(0, MESSAGE_WIDTH - 1)}…`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const lines = rows.length > 0 ? [line(header), ...rows.map(line), ''] : [];
  for (const [tenant, byPolicy] of Object.entries(countsOf(r.violations))) {
    for (const [policy, c] of Object.entries(byPolicy)) {
      lines.push(`${tenant} ${policy}: enforce ${c.enforce}, warn ${c.warn}, audit ${c.audit}, error ${c.error}`);
    }
  }
  lines.push(summaryLine(r));
  return `${lines.join('\n')}\n`;
}

function formatJson(r: AuditReport): string {
  const violations = r.violations.map((v) => ({ ...v, tenant: v.tenant ?? null }));
  return `${JSON.stringify({ evaluated: r.evaluated, exempt: r.exempt, violations, byTenant: countsOf(r.violations) }, null, 2)}\n`;
}

function formatReports(reports: object[]): string {
  return reports.map((report) => stringify(report)).join('---\n');
}

/** Entry point of `tenantguard audit`; argv is what follows the subcommand. */
export async function runAudit(argv: string[], io: RawCommandIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const parsed = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }, USAGE);
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!OUTPUTS.includes(v.output as Output)) throw new InputError(`--output must be one of ${OUTPUTS.join(', ')}, got ${v.output}`);
    if (v.state !== undefined && v.kubeconfig !== undefined) {
      throw new InputError('--state and --kubeconfig exclude each other: audit either a state directory or a live cluster');
    }
    const namespaces = v.namespace === undefined ? undefined : [...new Set(v.namespace)];
    for (const ns of namespaces ?? []) {
      if (!NAMESPACE_NAME.test(ns) || ns.length > 63) throw new InputError(`--namespace ${JSON.stringify(ns)}: not a namespace name (a DNS label)`);
    }
    if (v.apply && v.output !== 'policyreport' && v.output !== 'openreports') {
      throw new InputError('--apply writes reports: use it with --output policyreport or --output openreports');
    }
    const chunk = v['chunk-size'];
    if (chunk !== undefined && !/^[1-9][0-9]{0,5}$/.test(chunk)) throw new InputError(`--chunk-size must be a whole number from 1 to 999999, got ${chunk}`);

    const config = await fileConfig(v.config);
    // --kubeconfig names the cluster to audit, so the config's state does not apply with it.
    const setup = await setupCluster({
      config,
      env: process.env,
      state: v.state ?? (v.kubeconfig === undefined ? config.state : undefined),
      kubeconfig: v.kubeconfig ?? config.kubeconfig,
      modules: io.modules ?? MODULES,
      for: { command: 'audit', ...(namespaces === undefined ? {} : { namespaces }), ...(chunk === undefined ? {} : { pageSize: Number(chunk) }) },
    });
    if (v.apply && setup.mode !== 'live') throw new InputError('--apply writes into the live cluster: it needs a kubeconfig (or running in a pod), not --state');
    const report = await audit(setup, config, namespaces);
    const output = v.output as Output;
    const now = new Date();
    const reports = output === 'policyreport' ? policyReports(report.violations, report.namespaces, now) : openReports(report.violations, report.namespaces, now);
    const formats: Record<Output, () => string> = {
      table: () => formatTable(report),
      json: () => formatJson(report),
      policyreport: () => formatReports(reports),
      openreports: () => formatReports(reports),
    };
    io.stdout.write(formats[output]());
    if (v.apply) {
      try {
        await writeReports(new KubeClient(loadKubeConfig(v.kubeconfig ?? config.kubeconfig)), reports);
      } catch (err) {
        throw new ClusterReadError(`writing the reports failed: ${(err as Error).message}`);
      }
    }
    return v['fail-on-violation'] && report.violations.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof InputError || err instanceof SetupError || err instanceof ClusterReadError) {
      io.stderr.write(`tenantguard audit: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
