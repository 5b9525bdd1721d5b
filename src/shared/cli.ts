import { Command, CommanderError, Option } from 'commander';
import { exitStatusFor, VmiError, EXIT_INTERNAL } from './errors.js';
import { parseCliTime } from './imagelist/dates.js';

/**
 * What both programs share on the command line: error reporting (one place maps codes to
 * exit statuses), `--json` output, and option parsers that fail with USAGE.
 */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a failure the way CONTRACT.md says and returns the exit status. */
export function reportError(program: string, err: unknown, json: boolean): number {
  const known = err instanceof VmiError;
  const code = known ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (json) printJson({ ok: false, code, message });
  process.stderr.write(`${program}: ${code}: ${message}\n`);
  if (
    !known &&
    err instanceof Error &&
    err.stack !== undefined &&
    process.env['VMICAST_DEBUG'] !== undefined
  ) {
    process.stderr.write(`${err.stack}\n`);
  }
  return known ? exitStatusFor(err) : EXIT_INTERNAL;
}

/** Wraps a commander action: errors become coded output and an exit status. */
export function action<A extends unknown[]>(
  program: string,
  handler: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1];
    const json = cmd instanceof Command && cmd.opts()['json'] === true;
    try {
      await handler(...args);
    } catch (err) {
      process.exitCode = reportError(program, err, json);
    }
  };
}

export function parseTime(value: string): Date {
  return parseCliTime(value);
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new VmiError('USAGE', `not a positive integer: ${value}`);
  return n;
}

export function choice<T extends string>(flags: string, description: string, choices: readonly T[]): Option {
  return new Option(flags, description).choices(choices);
}

/**
 * Runs a commander program: usage errors exit with the USAGE status (and JSON when
 * `--json` is among the arguments), everything else through `action`.
 */
export async function runProgram(name: string, program: Command, argv: string[]): Promise<void> {
  const configure = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: () => undefined, // reported once by reportError below
    });
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.exitCode = 0;
        return;
      }
      const usage = new VmiError('USAGE', err.message.replace(/^error: /, ''));
      process.exitCode = reportError(name, usage, argv.includes('--json'));
      return;
    }
    process.exitCode = reportError(name, err, argv.includes('--json'));
  }
}
