// `tenantguard usage TENANT` / `--all` (SPEC 10): a tenant's quota usage per resource, split into
// observed (what the objects that exist cost) and reserved (increases admitted and not yet observed,
// from every replica's entries in the Tenant's status), by namespace, and its largest objects per
// resource (the ledger's top-consumers index), from a state directory or the live cluster.
import type { ParseArgsConfig } from 'node:util';
import { formatValue, objectLabel } from '../../policies/quota/explanation.js';
import { parseHard } from '../../policies/quota/resources.js';
import { MODULES } from '../../policies/registry.js';
import type { QuotaConsumer, ResourceAmounts } from '../../policies/types.js';
import { ClusterReadError } from '../cluster/cluster-snapshot.js';
import { InputError } from '../replay/inputs.js';
import { setupCluster, type ClusterSetup } from '../setup/cluster-setup.js';
import { fileConfig } from '../setup/file-config.js';
import { SetupError } from '../setup/setup-error.js';
import { loadStatusReservations } from '../setup/status-reservations.js';
import { parseCommandArgs, type RawCommandIO } from './command.js';

const USAGE = `Usage: tenantguard usage TENANT [options]
       tenantguard usage --all [options]

Show a Tenant's quota usage per resource, split into observed (the objects that exist) and reserved
(admitted, not yet observed), by namespace, and the largest objects of each resource.

Options:
  --all                 every Tenant
  --top N               largest objects shown per resource (default 5, at most 100)
  --state DIR           state directory (default: the embedded example state)
  --kubeconfig FILE     read the live cluster this kubeconfig points to
  --config FILE         server config (defaultTenant)
  --output table|json   output format (default: table)
  -h, --help            show this help

Exit status: 0 shown, 2 unusable input (an unknown Tenant included).
`;

const OPTIONS = {
  all: { type: 'boolean', default: false },
  top: { type: 'string', default: '5' },
  state: { type: 'string' },
  kubeconfig: { type: 'string' },
  config: { type: 'string' },
  output: { type: 'string', default: 'table' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export interface TenantUsageReport {
  tenant: string;
  namespaces: string[];
  resources: Array<{ resource: string; observed: number; reserved: number; used: number; hard?: number }>;
  byNamespace: Array<{ namespace: string; usage: ResourceAmounts }>;
  largest: Array<{ resource: string; objects: QuotaConsumer[] }>;
  /** Reservations waiting to be observed: the object each is for and what it holds. */
  reservations: Array<{ kind: string; namespace: string; name: string; amounts: ResourceAmounts }>;
  problems: string[];
}

function report(setup: ClusterSetup, tenant: string, top: number): TenantUsageReport {
  const { observed, book } = setup.ledger;
  const namespaces = [...observed.namespacesOf(tenant)].sort();
  const seen = observed.tenantUsage(tenant);
  const reserved = book.reserved(tenant);
  let hard: Readonly<ResourceAmounts> = {};
  try {
    hard = parseHard(setup.view.get('Tenant', undefined, tenant)?.spec?.quota?.hard);
  } catch {
    // Reported by the quota module on every review; usage is still worth showing.
  }
  // The resources the Tenant limits, then any other it uses.
  const names = [...new Set([...Object.keys(hard).sort(), ...Object.keys(seen).sort(), ...Object.keys(reserved).sort()])].filter(
    (r) => r in hard || (seen[r] ?? 0) !== 0 || (reserved[r] ?? 0) !== 0,
  );
  const resources = names.map((resource) => {
    const o = seen[resource] ?? 0;
    const r = reserved[resource] ?? 0;
    return { resource, observed: o, reserved: r, used: o + r, ...(resource in hard ? { hard: hard[resource]! } : {}) };
  });
  const byNamespace = namespaces.map((namespace) => {
    const usage = observed.namespaceUsage(namespace);
    return { namespace, usage: Object.fromEntries(names.filter((r) => (usage[r] ?? 0) !== 0).map((r) => [r, usage[r]!])) };
  });
  const largest = names.map((resource) => ({ resource, objects: observed.topConsumers(tenant, resource, top) })).filter((l) => l.objects.length > 0);
  const reservations = book.entries(tenant).map((e) => ({ kind: e.object.kind, namespace: e.object.namespace, name: e.object.name, amounts: e.amounts }));
  return { tenant, namespaces, resources, byNamespace, largest, reservations, problems: observed.problems(tenant) };
}

function pad(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function formatTable(reports: TenantUsageReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`Tenant ${r.tenant}  namespaces: ${r.namespaces.join(', ') || '(none)'}`);
    const rows = r.resources.map((x) => [
      x.resource,
      formatValue(x.resource, x.observed),
      formatValue(x.resource, x.reserved),
      formatValue(x.resource, x.used),
      x.hard === undefined ? '-' : formatValue(x.resource, x.hard),
    ]);
    lines.push(...pad([['RESOURCE', 'OBSERVED', 'RESERVED', 'USED', 'HARD'], ...rows]).map((l) => `  ${l}`));
    const nsRows = r.byNamespace.map((n) => [n.namespace, Object.entries(n.usage).map(([res, v]) => `${res}=${formatValue(res, v)}`).join(', ') || '-']);
    if (nsRows.length > 0) lines.push('  by namespace (observed):', ...pad([['NAMESPACE', 'USAGE'], ...nsRows]).map((l) => `    ${l}`));
    const topRows = r.largest.flatMap((l) => l.objects.map((o, i) => [i === 0 ? l.resource : '', formatValue(l.resource, o.amount), objectLabel(o)]));
    if (topRows.length > 0) lines.push('  largest objects (observed):', ...pad([['RESOURCE', 'AMOUNT', 'OBJECT'], ...topRows]).map((l) => `    ${l}`));
    const amountsText = (a: ResourceAmounts) => Object.entries(a).map(([res, v]) => `${res}=${formatValue(res, v)}`).join(', ');
    for (const o of r.reservations) lines.push(`  reserved for ${objectLabel(o)}: ${amountsText(o.amounts)}`);
    for (const p of r.problems) lines.push(`  cannot charge: ${p}`);
    lines.push('');
  }
  return lines.join('\n');
}

function formatJson(reports: TenantUsageReport[]): string {
  const amounts = (a: ResourceAmounts) => Object.fromEntries(Object.entries(a).map(([r, v]) => [r, formatValue(r, v)]));
  const out = reports.map((r) => ({
    tenant: r.tenant,
    namespaces: r.namespaces,
    resources: r.resources.map((x) => ({
      resource: x.resource,
      observed: formatValue(x.resource, x.observed),
      reserved: formatValue(x.resource, x.reserved),
      used: formatValue(x.resource, x.used),
      ...(x.hard === undefined ? {} : { hard: formatValue(x.resource, x.hard) }),
    })),
    byNamespace: r.byNamespace.map((n) => ({ namespace: n.namespace, usage: amounts(n.usage) })),
    largest: Object.fromEntries(r.largest.map((l) => [l.resource, l.objects.map((o) => ({ kind: o.kind, namespace: o.namespace, name: o.name, amount: formatValue(l.resource, o.amount) }))])),
    reservedFor: r.reservations.map((o) => ({ ...o, amounts: amounts(o.amounts) })),
    problems: r.problems,
  }));
  return `${JSON.stringify({ tenants: out }, null, 2)}\n`;
}

/** Entry point of `tenantguard usage`; argv is what follows the subcommand. */
export async function runUsage(argv: string[], io: RawCommandIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const parsed = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }, USAGE);
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (v.output !== 'table' && v.output !== 'json') throw new InputError(`--output must be table or json, got ${v.output}`);
    if (!/^[1-9][0-9]?$|^100$/.test(v.top)) throw new InputError(`--top must be a whole number from 1 to 100, got ${v.top}`);
    if (v.all === (parsed.positionals.length > 0) || parsed.positionals.length > 1) throw new InputError(`name one Tenant, or --all\n\n${USAGE}`);
    if (v.state !== undefined && v.kubeconfig !== undefined) throw new InputError('--state and --kubeconfig exclude each other: read a state directory or a live cluster');
    const config = await fileConfig(v.config);
    const setup = await setupCluster({
      config,
      env: process.env,
      state: v.state ?? (v.kubeconfig === undefined ? config.state : undefined),
      kubeconfig: v.kubeconfig ?? config.kubeconfig,
      modules: io.modules ?? MODULES,
      for: { command: 'usage' },
    });
    loadStatusReservations(setup);
    const known = setup.view.list('Tenant').map((t) => t.metadata?.name ?? '').filter((n) => n !== '').sort();
    const wanted = v.all ? known : parsed.positionals;
    for (const name of wanted) if (!known.includes(name)) throw new InputError(`Tenant ${name} not found (Tenants: ${known.join(', ') || 'none'})`);
    const reports = wanted.map((t) => report(setup, t, Number(v.top)));
    io.stdout.write(v.output === 'json' ? formatJson(reports) : formatTable(reports));
    return 0;
  } catch (err) {
    if (err instanceof InputError || err instanceof SetupError || err instanceof ClusterReadError) {
      io.stderr.write(`tenantguard usage: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
