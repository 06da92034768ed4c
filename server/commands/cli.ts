#!/usr/bin/env node
// The `tenantguard` command (SPEC 10): parses the subcommand's flags strictly (an unknown flag is a
// usage error, exit 2), answers --help per subcommand and runs it. Subcommands are loaded on demand
// so `tenantguard certs` does not pay for the server's imports.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VERSION } from '../version.js';
import type { CliCommand, CliIO, CliValues, RawCommand } from './command.js';

const COMMANDS: Record<string, { summary: string; load(): Promise<CliCommand | RawCommand> }> = {
  serve: { summary: 'run the admission webhook', load: async () => (await import('./serve.js')).serveCommand },
  certs: {
    summary: 'create the CA, the serving certificate and the caBundle',
    load: async () => (await import('./certs.js')).certsCommand,
  },
  replay: {
    summary: 'judge admission fixtures offline against a state snapshot',
    load: async () => (await import('./replay.js')).runReplay,
  },
  audit: {
    summary: 'report policy violations of every workload in a state snapshot or the live cluster',
    load: async () => (await import('./audit.js')).runAudit,
  },
  explain: {
    summary: 'what objects would be charged, term by term, whether they fit, and what every policy would do',
    load: async () => (await import('./explain.js')).runExplain,
  },
  usage: {
    summary: "a tenant's quota usage, observed and reserved, by namespace and largest objects",
    load: async () => (await import('./usage.js')).runUsage,
  },
};

const IO: CliIO = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

function topUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: tenantguard <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'tenantguard <command> --help' for a command's options, 'tenantguard --version' for the version.`;
}

/** node:util's messages, minus its advice about positionals that starts with `-`. */
function usageError(err: unknown): string {
  return String((err as Error).message).replace(/\. To specify a positional argument.*$/s, '');
}

export async function main(argv: string[], io: CliIO = IO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(topUsage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(topUsage());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout(`tenantguard ${VERSION}`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) {
    io.stderr(`tenantguard: unknown command "${name}"\n\n${topUsage()}`);
    return 2;
  }
  const command = await entry.load();
  if (typeof command === 'function') return command(rest);

  let parsed: { values: CliValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }) as { values: CliValues; positionals: string[] };
  } catch (err) {
    io.stderr(`tenantguard ${name}: ${usageError(err)}\nRun 'tenantguard ${name} --help' for usage.`);
    return 2;
  }
  if (parsed.values.help === true) {
    io.stdout(command.usage);
    return 0;
  }
  return command.run(parsed.values, parsed.positionals, io);
}

// Runs only as the program itself (npm's bin symlink included), not when a test imports main().
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
  // A handle left open by a library must not keep a finished command (or a stopped server) alive.
  setTimeout(() => process.exit(), 2000).unref();
}
