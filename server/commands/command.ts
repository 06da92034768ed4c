// What a subcommand of `tenantguard` looks like to the dispatcher (cli.ts). Apart from cli.ts so
// that the commands it loads do not import their own loader.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { PolicyModule } from '../../policies/types.js';
import { InputError } from '../replay/inputs.js';

type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

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

/** argv parsed strictly against a command's options; a usage error is unusable input (exit 2), followed by the usage. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T, usage: string): ParsedResults<T> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new InputError(`${(err as Error).message}\n\n${usage}`);
  }
}
