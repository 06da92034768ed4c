// What a subcommand of `tenantguard` looks like to the dispatcher (cli.ts). Apart from cli.ts so
// that the commands it loads do not import their own loader.
import type { ParseArgsConfig } from 'node:util';
import type { PolicyModule } from '../../policies/types.js';

export type CliValues = Record<string, string | boolean | string[] | undefined>;

export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
}

export interface CliCommand {
  /** The full `--help` text. */
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: CliValues, positionals: string[], io: CliIO): Promise<number>;
}

/** Subcommands that parse their own argv (replay, audit). */
export type RawCommand = (argv: string[]) => Promise<number>;

/** What replay and audit write to, and the policy modules they run (the registry's unless a test passes its own). */
export interface RawCommandIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  modules?: readonly PolicyModule[];
}
