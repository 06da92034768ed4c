// `tenantguard replay`: judge admission fixtures offline against a snapshot of cluster state (the
// same engine and modules the webhook runs), or send them to a running webhook with --server, and
// compare each decision with an expectations file. Exit 0: all pass; 1: a mismatch; 2: unusable input.
import { resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Decision, Phase } from '../../policies/engine.js';
import { MODULES } from '../../policies/registry.js';
import type { AdmissionRequest, KubeObject, PolicyModule } from '../../policies/types.js';
import { expectationFor, loadExpectations, mismatches, type LoadedExpectations, type ReviewOutcome } from '../replay/expectations.js';
import { coveredBy, displayPath, expandInputs, InputError, parseDocuments, readFixtures, readText, type Fixture } from '../replay/inputs.js';
import { formatJson, formatTable, summarize, type ReplayResult } from '../replay/report.js';
import { ReviewHttpError, WebhookClient } from '../replay/webhook-client.js';
import { setupCluster, type StateSetup } from '../setup/cluster-setup.js';
import { fileConfig } from '../setup/file-config.js';
import { SetupError } from '../setup/setup-error.js';
import { parseCommandArgs, type RawCommandIO } from './command.js';

const PROCESS_IO: RawCommandIO = { stdout: process.stdout, stderr: process.stderr };

const USAGE = `Usage: tenantguard replay [options] FILE_OR_DIR...

Judge AdmissionReviews (JSON/YAML, single or lists) and plain manifests (wrapped as CREATE, or
UPDATE with --old) with tenantguard's policies, and compare each decision with an expectations file.

Options:
  --state DIR            snapshot of cluster state (default: the embedded example state)
  --config FILE          server config (exemptions, module failure modes, defaultTenant)
  --expect FILE          expectations (YAML: fixture path[#index] -> allowed, messages, warnings, ...)
  --output table|json    output format (default: table)
  --phase both|mutate|validate
                         which webhooks to run (default: both, mutate then validate)
  --old FILE             previous versions of manifests: a manifest with the same apiVersion, kind,
                         namespace and name becomes an UPDATE with that oldObject
  --user NAME            username of wrapped manifests (default: replay-user)
  --group NAME           group of wrapped manifests (repeatable)
  --server URL           send the reviews to a running webhook (POST URL/mutate, URL/validate)
  --ca FILE              CA certificate to trust for --server (required with --server)
  --cert FILE --key FILE client certificate for a webhook that requires mutual TLS
  -h, --help             show this help

Exit status: 0 every fixture passed, 1 a fixture did not match its expectation, 2 unusable input.
`;

const OPTIONS = {
  state: { type: 'string' },
  config: { type: 'string' },
  expect: { type: 'string' },
  output: { type: 'string', default: 'table' },
  phase: { type: 'string', default: 'both' },
  old: { type: 'string' },
  user: { type: 'string', default: 'replay-user' },
  group: { type: 'string', multiple: true, default: [] },
  server: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const PHASES: readonly Phase[] = ['both', 'mutate', 'validate'];

interface ReplayArgs {
  state?: string;
  config?: string;
  expect?: string;
  output: 'table' | 'json';
  phase: Phase;
  old?: string;
  user: string;
  groups: string[];
  server?: { url: URL; ca: string; cert?: string; key?: string };
  inputs: string[];
}

/** Usage errors are unusable input too: exit 2 with the reason. */
function parseReplayArgs(argv: string[]): ReplayArgs | 'help' {
  const parsed = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }, USAGE);
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.output !== 'table' && v.output !== 'json') throw new InputError(`--output must be table or json, got ${v.output}`);
  if (!PHASES.includes(v.phase as Phase)) throw new InputError(`--phase must be one of ${PHASES.join(', ')}, got ${v.phase}`);
  if (parsed.positionals.length === 0) throw new InputError(`no fixtures given: name at least one file or directory\n\n${USAGE}`);
  const args: ReplayArgs = {
    output: v.output,
    phase: v.phase as Phase,
    user: v.user,
    groups: v.group,
    inputs: parsed.positionals,
  };
  if (v.state !== undefined) args.state = v.state;
  if (v.config !== undefined) args.config = v.config;
  if (v.expect !== undefined) args.expect = v.expect;
  if (v.old !== undefined) args.old = v.old;
  if (v.server !== undefined) {
    let url: URL;
    try {
      url = new URL(v.server);
    } catch {
      throw new InputError(`--server must be a URL like https://127.0.0.1:8443, got ${v.server}`);
    }
    if (url.protocol !== 'https:') throw new InputError(`--server must be an https:// URL (the webhook serves HTTPS only), got ${v.server}`);
    if (v.ca === undefined) throw new InputError('--server needs --ca FILE: the CA certificate that signed the webhook certificate');
    if ((v.cert === undefined) !== (v.key === undefined)) throw new InputError('--cert and --key go together');
    if (v.state !== undefined || v.config !== undefined) {
      throw new InputError('--state and --config cannot be combined with --server: the running webhook uses its own state and config');
    }
    args.server = { url, ca: v.ca };
    if (v.cert !== undefined) args.server.cert = v.cert;
    if (v.key !== undefined) args.server.key = v.key;
  } else if (v.ca !== undefined || v.cert !== undefined || v.key !== undefined) {
    throw new InputError('--ca, --cert and --key only apply with --server');
  }
  return args;
}

/** The engine as `serve --state DIR` builds it: --state, else the config's state, else the embedded one. */
async function stateSetup(args: ReplayArgs, modules: readonly PolicyModule[]): Promise<StateSetup> {
  const config = await fileConfig(args.config);
  return setupCluster({ config, env: process.env, state: args.state ?? config.state, kubeconfig: undefined, modules, for: { command: 'replay' } });
}

/** The state's objects must all be chargeable, as the webhook's reconcile requires. */
function checkCharges(setup: StateSetup): void {
  for (const t of setup.view.list('Tenant')) {
    const [problem] = setup.ledger.observed.problems(t.metadata?.name ?? '');
    if (problem !== undefined) throw new InputError(`cannot charge the state's quota usage: ${problem}`);
  }
}

function outcomeOf(decision: Decision, request: AdmissionRequest): ReviewOutcome {
  const out: ReviewOutcome = {
    allowed: decision.allowed,
    warnings: decision.warnings,
    auditAnnotations: decision.auditAnnotations,
  };
  if (decision.status) {
    out.code = decision.status.code;
    out.message = decision.status.message;
  }
  if (decision.patch) out.patch = decision.patch;
  const finalObject = decision.patchedObject ?? request.object ?? undefined;
  if (finalObject) out.patchedObject = finalObject;
  return out;
}

function fixtureLabel(f: Fixture, base: string): string {
  return `${displayPath(f.file, base)}${f.count > 1 ? `#${f.index}` : ''}`;
}

function judge(f: Fixture, label: string, loaded: LoadedExpectations | undefined, outcome: ReviewOutcome | Error): ReplayResult {
  const req = f.request;
  const result: ReplayResult = {
    fixture: label,
    kind: req.kind.kind,
    operation: req.operation,
    uid: req.uid,
    passed: true,
    mismatches: [],
  };
  const name = req.name ?? req.object?.metadata?.name;
  if (req.namespace) result.namespace = req.namespace;
  if (name) result.name = name;
  const exp = expectationFor(loaded, f.file, f.index);
  if (exp) result.expectation = exp;
  if (outcome instanceof Error) {
    result.mismatches = [outcome.message];
  } else {
    result.outcome = outcome;
    if (exp) result.mismatches = mismatches(exp, outcome);
  }
  result.passed = result.mismatches.length === 0;
  return result;
}

/** Expectations for fixtures that should have been replayed but were not found. */
function unmatched(loaded: LoadedExpectations, fixtures: Fixture[], inputs: string[]): ReplayResult[] {
  const counts = new Map<string, number>();
  for (const f of fixtures) counts.set(f.file, f.count);
  const out: ReplayResult[] = [];
  for (const [file, entries] of loaded.byFile) {
    if (!coveredBy(file, inputs)) continue;
    const count = counts.get(file);
    for (const index of entries.keys()) {
      let reason: string | undefined;
      if (count === undefined) reason = `no review found in ${displayPath(file, loaded.base)} (the file is missing or empty)`;
      else if (index !== undefined && index >= count) reason = `${displayPath(file, loaded.base)} holds ${count} review(s); #${index} does not exist`;
      if (reason === undefined) continue;
      out.push({
        fixture: loaded.keyOf(file, index),
        kind: '-',
        operation: '-',
        expectation: entries.get(index)!,
        passed: false,
        mismatches: [reason],
      });
    }
  }
  return out;
}

async function readOldObjects(file: string | undefined): Promise<KubeObject[]> {
  if (file === undefined) return [];
  const abs = resolve(file);
  return parseDocuments(await readText(abs), abs);
}

async function replay(args: ReplayArgs, io: RawCommandIO): Promise<number> {
  const loaded = args.expect === undefined ? undefined : await loadExpectations(args.expect);
  const setup = args.server ? undefined : await stateSetup(args, io.modules ?? MODULES);
  const skip = new Set<string>(args.expect === undefined ? [] : [resolve(args.expect)]);
  const files = await expandInputs(args.inputs, skip);
  const cwd = process.cwd();
  const fixtures = await readFixtures(files, {
    username: args.user,
    groups: args.groups,
    oldObjects: await readOldObjects(args.old),
    uidSource: (file) => displayPath(file, cwd),
  });
  const base = loaded?.base ?? cwd;
  const results: ReplayResult[] = [];

  if (setup) {
    checkCharges(setup);
    for (const f of fixtures) {
      const decision = await setup.engine.review(f.request, args.phase);
      const outcome = outcomeOf(decision, f.request);
      // Persist what the apiserver would have persisted, so later fixtures see earlier ones.
      if (decision.allowed && !f.request.dryRun) {
        setup.persist(f.request, outcome.patchedObject);
        checkCharges(setup);
      }
      results.push(judge(f, fixtureLabel(f, base), loaded, outcome));
    }
  } else if (args.server) {
    const [ca, cert, key] = await Promise.all([
      readText(args.server.ca),
      args.server.cert === undefined ? undefined : readText(args.server.cert),
      args.server.key === undefined ? undefined : readText(args.server.key),
    ]);
    const client = new WebhookClient(args.server.url, { ca, ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) });
    try {
      for (const f of fixtures) {
        let outcome: ReviewOutcome | Error;
        try {
          outcome = await client.review(f.request, args.phase);
        } catch (err) {
          if (!(err instanceof ReviewHttpError)) throw err;
          outcome = err;
        }
        results.push(judge(f, fixtureLabel(f, base), loaded, outcome));
      }
    } finally {
      await client.close();
    }
  }
  if (loaded) results.push(...unmatched(loaded, fixtures, args.inputs));

  io.stdout.write(args.output === 'json' ? formatJson(results) : formatTable(results));
  return summarize(results).failed > 0 ? 1 : 0;
}

/** Entry point of `tenantguard replay`; argv is what follows the subcommand. */
export async function runReplay(argv: string[], io: RawCommandIO = PROCESS_IO): Promise<number> {
  try {
    const args = parseReplayArgs(argv);
    if (args === 'help') {
      io.stdout.write(USAGE);
      return 0;
    }
    return await replay(args, io);
  } catch (err) {
    if (err instanceof InputError || err instanceof SetupError) {
      io.stderr.write(`tenantguard replay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
