// `tenantguard explain -f FILE` (SPEC 10): for each object in the files (manifests or AdmissionReviews),
// what tenant-quota would charge and why, term by term (the charge functions' own terms), whether the
// change fits each limit of its Tenant with the usage now, and what every module would do (deny,
// warn, the mutation patch). Each object is judged alone against the state as it is: reviews are
// dryRun, so nothing is created or reserved.
import type { ParseArgsConfig } from 'node:util';
import type { Decision } from '../../policies/engine.js';
import { chargedKindOf, chargeOf } from '../../policies/quota/charge.js';
import { formatValue, objectLabel, termsSum } from '../../policies/quota/explanation.js';
import { admissionChargeContext, claimantsOf } from '../../policies/quota/module.js';
import { chargeDelta, zeroCharge, type Charge } from '../../policies/quota/resources.js';
import { Terms, type Term } from '../../policies/quota/terms.js';
import { MODULES } from '../../policies/registry.js';
import type { AdmissionRequest, KubeObject, ResourceAmounts } from '../../policies/types.js';
import { ClusterReadError } from '../cluster/cluster-snapshot.js';
import { engineConfigOf } from '../config-load.js';
import type { ServerConfig } from '../config.js';
import { displayPath, expandInputs, InputError, readFixtures, type Fixture } from '../replay/inputs.js';
import { setupCluster, type ClusterSetup } from '../setup/cluster-setup.js';
import { fileConfig } from '../setup/file-config.js';
import { SetupError } from '../setup/setup-error.js';
import { loadStatusReservations } from '../setup/status-reservations.js';
import { parseCommandArgs, type RawCommandIO } from './command.js';

const USAGE = `Usage: tenantguard explain -f FILE [-f FILE...] [options]

For each object in the files (manifests, or AdmissionReviews; YAML or JSON, multi-document, lists),
show what tenant-quota would charge it and why, term by term, whether it fits each limit of its
Tenant with the usage now, and what every policy module would do (deny, warn, the mutation patch).
Each object is judged alone against the current state as a dry run: nothing is created or reserved.

Options:
  -f, --filename FILE   a file or directory of manifests or AdmissionReviews (repeatable)
  --state DIR           state directory (default: the embedded example state)
  --kubeconfig FILE     explain against the live cluster this kubeconfig points to
  --config FILE         server config (exemptions, module modes, defaultTenant)
  --user NAME           the user manifests are created as (default: explain-user)
  --output table|json   output format (default: table)
  -h, --help            show this help

Without --state, a kubeconfig (--kubeconfig, KUBECONFIG, or running in a pod) selects the live
cluster; with neither, the embedded example state is used.
Exit status: 0 explained, 2 unusable input.
`;

const OPTIONS = {
  filename: { type: 'string', short: 'f', multiple: true },
  state: { type: 'string' },
  kubeconfig: { type: 'string' },
  config: { type: 'string' },
  user: { type: 'string', default: 'explain-user' },
  output: { type: 'string', default: 'table' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface Fit {
  /** The Tenant whose limit this is (several where Tenants share the namespace). */
  tenant: string;
  resource: string;
  used: number;
  /** What this change adds (0 when it adds nothing). */
  adds: number;
  hard: number;
  fits: boolean;
}

export interface Explained {
  source: string;
  operation: string;
  kind: string;
  namespace?: string;
  name: string;
  tenant: string | undefined;
  /** The object's charge after the change (charged kinds only). */
  charge?: Charge;
  terms?: Term[];
  fit?: Fit[];
  allowed: boolean;
  message?: string;
  warnings: string[];
  modules: Array<{ module: string; result: string; messages: string[] }>;
  patch?: unknown;
}

function sourceOf(f: Fixture): string {
  return `${displayPath(f.file, process.cwd())}${f.count > 1 ? `#${f.index}` : ''}`;
}

/** The charge part: the object's charge with its terms, the change's increase and the fit against each limit. */
function quota(setup: ClusterSetup, config: ServerConfig, request: AdmissionRequest, object: KubeObject | undefined): Pick<Explained, 'charge' | 'terms' | 'fit'> {
  const kind = chargedKindOf(request.kind, request.resource, request.subResource);
  const namespace = request.namespace ?? object?.metadata?.namespace;
  if (kind === undefined || namespace === undefined || object === undefined) return {};
  const tenant = setup.view.tenantOf(namespace);
  const input = { request, tenant, view: setup.view, settings: engineConfigOf(config).settings, object, oldObject: request.oldObject ?? undefined };
  const claimants = claimantsOf(tenant);
  const ctx = admissionChargeContext(input, kind, claimants.map((c) => c.hard));
  const terms = new Terms();
  let charge: Charge;
  let prev: Charge = zeroCharge();
  try {
    charge = chargeOf(kind, object, { ...ctx, terms });
    if (request.operation !== 'CREATE' && request.oldObject) prev = chargeOf(kind, request.oldObject, ctx);
  } catch (err) {
    return { terms: [{ label: `cannot be charged: ${(err as Error).message}`, amounts: {} }] };
  }
  const out: Pick<Explained, 'charge' | 'terms' | 'fit'> = { charge, terms: terms.list };
  if (claimants.length === 0) return out;
  const { increase } = chargeDelta(prev, charge);
  // Each Tenant charged for the namespace is judged against its own limits, as tenant-quota does.
  out.fit = claimants.flatMap(({ tenant: name, hard }) => {
    const used = setup.ledger.used(name);
    return Object.keys(hard)
      .sort()
      .map((resource) => {
        const adds = increase[resource] ?? 0;
        const u = used[resource] ?? 0;
        return { tenant: name, resource, used: u, adds, hard: hard[resource]!, fits: adds === 0 || u + adds <= hard[resource]! };
      });
  });
  return out;
}

/** One outcome per module: a module with a commit phase (tenant-quota) reports twice, and the commit is its verdict. */
function lastPerModule(decision: Decision): Decision['modules'] {
  const byModule = new Map<string, Decision['modules'][number]>();
  for (const m of decision.modules) byModule.set(m.module, m);
  return [...byModule.values()];
}

async function explainOne(setup: ClusterSetup, config: ServerConfig, f: Fixture): Promise<Explained> {
  const request: AdmissionRequest = { ...f.request, dryRun: true };
  const decision = await setup.engine.review(request, 'both');
  const object = decision.patchedObject ?? request.object ?? undefined;
  const out: Explained = {
    source: sourceOf(f),
    operation: request.operation,
    kind: request.kind.kind,
    name: request.name ?? object?.metadata?.name ?? '',
    tenant: decision.tenant,
    ...quota(setup, config, request, object),
    allowed: decision.allowed,
    warnings: decision.warnings,
    modules: lastPerModule(decision).map((m) => ({ module: m.module, result: m.result, messages: m.error ? [`error: ${m.error}`] : m.findings.map((f) => `${f.mode}: ${f.message}`) })),
  };
  if (request.namespace !== undefined) out.namespace = request.namespace;
  if (decision.status?.message) out.message = decision.status.message;
  if (decision.patch) out.patch = decision.patch;
  return out;
}

function pad(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Resources the object is charged, in a stable order (the terms' order of first mention). */
function chargedResources(e: Explained): string[] {
  const seen = new Set<string>();
  for (const t of e.terms ?? []) for (const r of Object.keys(t.amounts)) seen.add(r);
  for (const [r, v] of Object.entries(e.charge ?? {})) if (v !== 0) seen.add(r);
  return [...seen].filter((r) => (e.charge?.[r] ?? 0) !== 0 || (e.terms ?? []).some((t) => (t.amounts[r] ?? 0) !== 0));
}

function formatTable(all: Explained[]): string {
  const lines: string[] = [];
  for (const e of all) {
    const subject = objectLabel({ kind: e.kind, namespace: e.namespace ?? '-', name: e.name || '<generated>' });
    lines.push(`${subject}  ${e.operation}  tenant ${e.tenant ?? '(none)'}  (${e.source})`);
    if (e.terms !== undefined) {
      const resources = chargedResources(e);
      if (resources.length > 0) {
        lines.push('  charge:', ...pad([['RESOURCE', 'CHARGE', 'WHY'], ...resources.map((r) => [r, formatValue(r, e.charge?.[r] ?? 0), termsSum(r, e.terms!, Infinity)])]).map((l) => `    ${l}`));
      }
      const notes = e.terms.filter((t) => Object.keys(t.amounts).length === 0).map((t) => t.label);
      if (notes.length > 0) lines.push(`    (${notes.join('; ')})`);
    } else {
      lines.push('  charge: not charged by tenant-quota');
    }
    if (e.fit && e.fit.length > 0) {
      const rows = e.fit.map((f) => [
        f.tenant,
        f.resource,
        formatValue(f.resource, f.used),
        `+${formatValue(f.resource, f.adds)}`,
        formatValue(f.resource, f.hard),
        f.fits ? 'yes' : `NO (over by ${formatValue(f.resource, f.used + f.adds - f.hard)})`,
      ]);
      lines.push('  fit:', ...pad([['TENANT', 'RESOURCE', 'USED', 'THIS', 'HARD', 'FITS'], ...rows]).map((l) => `    ${l}`));
    }
    lines.push(`  decision: ${e.allowed ? 'allowed' : 'denied'}`);
    const rows = e.modules.map((m) => [m.module, m.result, m.messages.join(' | ')]);
    if (rows.length > 0) lines.push(...pad([['MODULE', 'RESULT', 'MESSAGES'], ...rows]).map((l) => `    ${l}`));
    if (e.patch) lines.push(`    mutation patch: ${JSON.stringify(e.patch)}`);
    for (const w of e.warnings) lines.push(`    warning: ${w}`);
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

function formatJson(all: Explained[]): string {
  const amounts = (a: ResourceAmounts) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== 0).map(([r, v]) => [r, formatValue(r, v)]));
  const objects = all.map((e) => ({
    ...e,
    ...(e.charge ? { charge: amounts(e.charge) } : {}),
    ...(e.terms ? { terms: e.terms.map((t) => ({ ...t, amounts: amounts(t.amounts) })) } : {}),
    ...(e.fit ? { fit: e.fit.map((f) => ({ tenant: f.tenant, resource: f.resource, used: formatValue(f.resource, f.used), adds: formatValue(f.resource, f.adds), hard: formatValue(f.resource, f.hard), fits: f.fits })) } : {}),
  }));
  return `${JSON.stringify({ objects }, null, 2)}\n`;
}

/** Entry point of `tenantguard explain`; argv is what follows the subcommand. */
export async function runExplain(argv: string[], io: RawCommandIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const parsed = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }, USAGE);
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (v.output !== 'table' && v.output !== 'json') throw new InputError(`--output must be table or json, got ${v.output}`);
    if (!v.filename || v.filename.length === 0) throw new InputError(`no input: name the objects to explain with -f FILE\n\n${USAGE}`);
    if (v.state !== undefined && v.kubeconfig !== undefined) throw new InputError('--state and --kubeconfig exclude each other: explain against a state directory or a live cluster');
    const config = await fileConfig(v.config);
    // The inputs first: a typo in them is reported before a cluster is read.
    const files = await expandInputs(v.filename, new Set());
    const fixtures = await readFixtures(files, { username: v.user, groups: [], oldObjects: [], uidSource: (file) => `explain/${displayPath(file, process.cwd())}` });
    const setup = await setupCluster({
      config,
      env: process.env,
      state: v.state ?? (v.kubeconfig === undefined ? config.state : undefined),
      kubeconfig: v.kubeconfig ?? config.kubeconfig,
      modules: io.modules ?? MODULES,
      for: { command: 'explain' },
    });
    loadStatusReservations(setup);
    const all: Explained[] = [];
    for (const f of fixtures) all.push(await explainOne(setup, config, f));
    io.stdout.write(v.output === 'json' ? formatJson(all) : formatTable(all));
    return 0;
  } catch (err) {
    if (err instanceof InputError || err instanceof SetupError || err instanceof ClusterReadError) {
      io.stderr.write(`tenantguard explain: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
