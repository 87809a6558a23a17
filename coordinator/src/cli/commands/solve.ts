/**
 * `attnfit solve PROBLEM [--out DIR] [--x0 X.npy] [--y0 Y.npy] [--method M] [--tol REL] [--gtol G]
 *   [--max-iter N] [--starts K] [--seed S] [--threads T] [--gamma G] [--progress FILE] [--json]`
 *
 * Fits X, Y with the solver over the local engine and writes X.npy, Y.npy, report.json and
 * loss.svg into --out atomically. SIGINT / SIGTERM: the best iterate so far is written with
 * `interrupted: true` and the exit code is 130 (a second signal exits at once).
 */
import type { Command } from 'commander';
import { writeSync } from 'node:fs';
import { checkOutputDir, loadMatrix, loadProblem, openAppendFile } from '@attnfit/shared/io';
import { defaultThreads, shutdownEngine } from '../../engine/index.js';
import { createOracle, TrafficLog } from '../../oracle/index.js';
import { buildReport, solve, writeSolveOutputs } from '../../solver/index.js';
import type { IterationEvent, SolveOptions } from '../../solver/index.js';
import { authOptions, withAuth, type AuthFlags } from '../connection.js';
import { threadsOption } from '../options.js';
import { searchChoice, withSolveOptions, type SolveFlags } from '../solve-options.js';
import { progressBar } from '../progress.js';

/** Defaults of `attnfit solve` beyond SOLVE_DEFAULTS. */
export const SOLVE_CLI_DEFAULTS = Object.freeze({ out: 'attnfit-solve' });

/** What `attnfit solve` writes into --out (each must be replaceable: checked before solving). */
const SOLVE_OUTPUT_FILES = ['X.npy', 'Y.npy', 'report.json', 'loss.svg'];

/** Parsed flags: the shared solve options always set (they have defaults here). */
interface SolveCliOpts extends AuthFlags, SolveFlags {
  out: string;
  tol: number;
  gtol: number;
  maxIter: number;
  starts: number;
  seed: number;
  gamma: number;
  threads?: number;
  progress?: string;
  json?: boolean;
}

/** Registers `attnfit solve`. */
export function register(program: Command): void {
  withSolveOptions(
    withAuth(program.command('solve'), { bareNats: true })
      .summary('fit X, Y (Newton on the variable-projection objective) and write X.npy, Y.npy, report.json, loss.svg')
      .description(
        'Minimise L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F. Y is solved exactly for each X (variable projection); the method works on X. ' +
          'Default method: newton for d ≤ 24, newton-cg above.\n\n' +
          'Without --x0 the fit starts from scratch: a seeded search over a population of starts (scaled identity, whitened identity ' +
          'and random matrices at a ladder of logit spreads), pruned by successive halving, the best polished with the method, then ' +
          'basin hopping around the best point until one reaches --tol or the schedule (or --budget / --max-evals) ends; report.json ' +
          '"search" lists every start. --x0 skips the search; --starts K (or --no-search) runs K random starts X0 ~ N(0, 1/d²) instead, ' +
          'start k seeded with --seed + k.\n\n' +
          "With --nats URL the row blocks are evaluated by the cluster's workers (`attnfit worker`) instead of local threads; " +
          'the result is bitwise identical to the local solve.\n\n' +
          'Writes X.npy, Y.npy, report.json and loss.svg into --out. Ctrl-C / SIGTERM writes the best iterate so far (report.json "interrupted": true) and exits 130. ' +
          'Exit 0 ok, 2 bad input (with "attnfit: error [CODE]: message" on stderr), 1 internal error.',
      )
      .argument('<PROBLEM>', 'problem directory (A1.npy A2.npy A3.npy B.npy) or .safetensors file')
      .option(
        '--out <DIR>',
        'output directory (created if missing; files replaced atomically)',
        SOLVE_CLI_DEFAULTS.out,
      ),
    true,
  )
    .option('--threads <T>', 'local threads (integer >= 1, default: all cores)', threadsOption())
    .option('--progress <FILE>', 'append one JSON line per iteration to FILE ("-" = stderr)')
    .option('--json', 'print report.json on stdout')
    .action(async (problem: string, opts: SolveCliOpts, cmd: Command) => {
      await runSolve(problem, opts, cmd.getOptionValueSource('starts') === 'cli');
    });
}

async function runSolve(problemPath: string, o: SolveCliOpts, startsGiven: boolean): Promise<void> {
  // 1. Validate everything before computing.
  const nats = o.nats !== undefined ? authOptions(o) : undefined;
  await checkOutputDir(o.out, '--out', { files: SOLVE_OUTPUT_FILES });
  const problem = await loadProblem(problemPath);
  const d = problem.d;
  const opts: SolveOptions = {
    method: o.method ?? 'auto',
    tol: o.tol,
    gtol: o.gtol,
    maxIter: o.maxIter,
    starts: o.starts,
    seed: o.seed,
    gamma: o.gamma,
  };
  if (o.x0) opts.x0 = (await loadMatrix(o.x0, { rows: d, cols: d, field: '--x0' })).data;
  if (o.y0) opts.y0 = (await loadMatrix(o.y0, { rows: d, cols: d, field: '--y0' })).data;
  // --progress is appended to in place: opened (and so created) only once every input is valid;
  // a FIFO, a device or a file under /proc is refused rather than blocked on.
  const progress = o.progress && o.progress !== '-' ? await openAppendFile(o.progress, '--progress') : undefined;
  const threads = o.threads ?? defaultThreads();
  const choice = searchChoice(o, startsGiven);
  const search = choice.search;
  if (choice.search) {
    const { search: _on, ...caps } = choice;
    opts.search = caps;
  }
  // Several starts (or search candidates) run side by side on the pool (one start of a
  // single-block problem keeps only one thread busy); results do not depend on it.
  opts.concurrency = search ? threads : Math.min(o.starts, threads);

  // 2. Signals: first one stops the solve gracefully, a second one exits at once.
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const t0 = performance.now();
  let oracle;
  try {
    oracle = await createOracle(problem, nats ? { threads, nats } : { threads });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await progress?.close();
    throw err;
  }
  // A terminal gets a bar of iterations done (all starts) out of the most --max-iter allows; a
  // search has no such bound, so it gets the counters without a bar.
  const bar = progressBar(
    search
      ? 'attnfit solve: search start {start}  iter {value}  relLoss {relLoss}  |grad| {grad}  {secs}'
      : 'attnfit solve {bar} iter {value}/{total}  start {start}  relLoss {relLoss}  |grad| {grad}  {secs}',
    Math.max(1, o.maxIter * o.starts),
    { start: '0', relLoss: '-', grad: '-', secs: '' },
  );
  let done = 0;
  try {
    // Cluster solves: the bytes sent and received per iteration (progress lines, report.json).
    const traffic = TrafficLog.for(oracle);
    const onIteration = (e: IterationEvent): void => {
      const t = traffic?.mark(e.start, e.iteration);
      if (o.progress) {
        const line = `${JSON.stringify({ start: e.start, iteration: e.iteration, loss: e.loss, relLoss: e.relLoss, gradNorm: e.gradNorm, seconds: e.seconds, ...t })}\n`;
        if (progress) writeSync(progress.fd, line);
        else process.stderr.write(line);
      }
      if (e.iteration > 0) done++;
      bar?.update(done, {
        start: String(e.start),
        relLoss: e.relLoss.toExponential(3),
        grad: e.gradNorm.toExponential(2),
        secs: `${e.seconds.toFixed(1)} s`,
      });
    };
    const result = await solve(oracle, opts, { onIteration, signal: ac.signal });
    if (bar) {
      bar.setTotal(Math.max(1, done));
      bar.update(done);
      bar.stop();
    }
    const info = oracle.info();
    const report = buildReport(result, {
      n: problem.n,
      d,
      threads: info.threads ?? null,
      gemm: info.gemm,
      oracle: info.kind,
      blockRows: info.blockRows,
      shards: info.shards,
      shardBlocks: info.shardBlocks,
      seconds: (performance.now() - t0) / 1000,
      options: opts,
      ...(traffic ? { traffic } : {}),
    });
    await writeSolveOutputs(o.out, result.X, result.Y, d, report);
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else
      process.stderr.write(
        `attnfit solve: ${result.message} (${result.method}, ${result.iterations} iterations, ${report.seconds.toFixed(2)} s); wrote ${o.out}\n`,
      );
    if (result.interrupted) process.exitCode = 130;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await oracle.close();
    await shutdownEngine();
    await progress?.close();
  }
}
