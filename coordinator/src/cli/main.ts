/**
 * attnfit command line. Each command group lives in its own module under ./commands and
 * registers itself on the program; this file only wires them and maps errors to exit codes
 * (0 ok, 2 bad input or usage, 1 internal).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { readConfig } from '@attnfit/shared/config';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { reportError } from './errors.js';

export interface CommandModule {
  register(program: Command): void | Promise<void>;
}

/**
 * Command modules, loaded on demand: a run loads only the module of the command it names (start-up
 * time matters for `attnfit loss` in scripts); help and unknown commands load them all.
 */
const MODULES: Array<{ commands: readonly string[]; load: () => Promise<CommandModule> }> = [
  { commands: ['generate'], load: () => import('./commands/generate.js') },
  { commands: ['loss'], load: () => import('./commands/loss.js') },
  { commands: ['solve'], load: () => import('./commands/solve.js') },
  { commands: ['dynamic'], load: () => import('./commands/dynamic.js') },
  {
    commands: ['worker', 'coordinator', 'submit', 'status', 'result', 'cancel', 'jobs', 'cluster'],
    load: () => import('./commands/cluster.js'),
  },
];

async function version(): Promise<string> {
  const { gemmBackendDetail } = await import('@attnfit/shared/kernels');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `attnfit ${pkg.version} (gemm: ${gemmBackendDetail()}, node ${process.version})`;
}

/**
 * Build the program (exported for tests and for --help generation); `only` = the command named on
 * the command line. Validates the ATTNFIT_* environment first (BAD_OPTION naming the variable),
 * then loads the kernels: they read their switches from it when they load.
 */
export async function buildProgram(only?: string): Promise<Command> {
  readConfig();
  // Optional native BLAS (active only when built); the worker thread entry imports it as well.
  await import('@attnfit/shared/native');
  const program = new Command('attnfit');
  program
    .description('Fit and maintain single-layer softmax attention at large n, on a cluster.')
    .version(await version(), '-V, --version', 'print the version and the GEMM kernel in use')
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      writeErr: (s) => {
        if (!/^error: /.test(s)) process.stderr.write(s);
      },
    });
  const wanted = MODULES.filter((m) => only !== undefined && m.commands.includes(only));
  for (const m of wanted.length ? wanted : MODULES) await (await m.load()).register(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv[2]);
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // `attnfit` with no command prints help on stderr with a non-zero code: that is a usage error.
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
      const msg = err.message.replace(/^error: /, '');
      return reportError(new AttnfitError(ErrorCodes.USAGE, msg));
    }
    return reportError(err);
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry)
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
