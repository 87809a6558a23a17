/**
 * The solve options `attnfit solve` and `attnfit submit` share, declared once: warm starts,
 * method, stopping rules, starts, seed and the regulariser. `solve` shows and applies
 * SOLVE_DEFAULTS; `submit` sends only the options given (the coordinator applies the same
 * SOLVE_DEFAULTS), so the job record holds what the user asked for.
 */
import type { Command } from 'commander';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { JOB_LIMITS, JOB_METHODS } from '@attnfit/shared/protocol';
import { SOLVE_DEFAULTS } from '../solver/defaults.js';
import type { SolveMethod } from '../solver/types.js';
import { choiceOption, floatOption, intOption } from './options.js';

/** Methods `--method` accepts (the job spec's list: the same names on both paths). */
export const SOLVE_METHODS = JOB_METHODS as readonly SolveMethod[];

/** Largest `--starts`. */
export const MAX_STARTS = JOB_LIMITS.maxStarts;

/** Parsed shared solve flags (numbers are set when given, or always with defaults). */
export interface SolveFlags {
  x0?: string;
  y0?: string;
  method?: SolveMethod;
  tol?: number;
  gtol?: number;
  maxIter?: number;
  starts?: number;
  seed?: number;
  gamma?: number;
  /** false with --no-search. */
  search?: boolean;
  budget?: number;
  maxEvals?: number;
}

/** The fit-from-scratch search a command runs: off, or on with its caps. */
export type SearchChoice = { search: false } | { search: true; budgetSeconds?: number; maxEvals?: number };

/**
 * Whether the fit-from-scratch search runs: the default without --x0, unless --no-search or an
 * explicit --starts K asks for plain random starts. --budget / --max-evals without a search are
 * USAGE errors naming the flag and why.
 */
export function searchChoice(f: SolveFlags, startsGiven: boolean): SearchChoice {
  const on = f.search !== false && !f.x0 && !startsGiven;
  if (!on) {
    const flag = f.budget !== undefined ? '--budget' : f.maxEvals !== undefined ? '--max-evals' : undefined;
    if (flag) {
      const why = f.x0 ? '--x0 is given' : f.search === false ? '--no-search is given' : '--starts is given';
      throw new AttnfitError(
        ErrorCodes.USAGE,
        `${flag}: caps the fit-from-scratch search, which does not run when ${why}`,
        { details: { field: flag } },
      );
    }
    return { search: false };
  }
  const c: SearchChoice = { search: true };
  if (f.budget !== undefined) c.budgetSeconds = f.budget;
  if (f.maxEvals !== undefined) c.maxEvals = f.maxEvals;
  return c;
}

/** Keys of the numeric and method flags, in the job spec's names. */
export const SOLVE_FLAG_KEYS = ['method', 'tol', 'gtol', 'maxIter', 'starts', 'seed', 'gamma'] as const;

/**
 * Add the shared solve options to `c`. With `withDefaults` (local solve) the numeric options
 * default to SOLVE_DEFAULTS (shown in --help) and starts run up to --threads at a time; without
 * (a cluster job) an option not given stays undefined and starts run one after another.
 */
export function withSolveOptions(c: Command, withDefaults: boolean): Command {
  const def = <T>(v: T): T | undefined => (withDefaults ? v : undefined);
  const startsRun = withDefaults ? 'up to --threads at a time' : 'one after another';
  return c
    .option('--x0 <X.npy>', 'warm start X (d×d); used by start 0')
    .option('--y0 <Y.npy>', 'warm start Y (d×d); Y is recomputed exactly from X, so it only matters with --max-iter 0')
    .option(
      '--method <M>',
      `one of ${SOLVE_METHODS.join(', ')} (default: newton for d ≤ 24, else newton-cg)`,
      choiceOption('--method', SOLVE_METHODS),
    )
    .option(
      '--tol <REL>',
      'stop when the relative loss L/‖B‖² ≤ REL (> 0)',
      floatOption('--tol', { gt: 0 }),
      def(SOLVE_DEFAULTS.tol),
    )
    .option(
      '--gtol <G>',
      'stop when ‖∇f‖_F/‖B‖²_F ≤ G (reduced gradient, >= 0)',
      floatOption('--gtol', { ge: 0 }),
      def(SOLVE_DEFAULTS.gtol),
    )
    .option(
      '--max-iter <N>',
      'iterations per start (integer >= 0)',
      intOption('--max-iter', 0),
      def(SOLVE_DEFAULTS.maxIter),
    )
    .option(
      '--starts <K>',
      `seeded starts (integer >= 1), ${startsRun}; the best is kept, all are reported`,
      intOption('--starts', 1, MAX_STARTS),
      def(SOLVE_DEFAULTS.starts),
    )
    .option(
      '--seed <S>',
      'seed of the random starts (start k uses S + k)',
      intOption('--seed', 0, 2 ** 32 - 1),
      def(SOLVE_DEFAULTS.seed),
    )
    .option(
      '--gamma <G>',
      'paper regulariser weight: minimise L + ½G‖A1XA2ᵀ‖² (>= 0; report.loss stays unregularised)',
      floatOption('--gamma', { ge: 0 }),
      def(SOLVE_DEFAULTS.gamma),
    )
    .option(
      '--budget <SECONDS>',
      'fit from scratch: stop the search after SECONDS of wall time (> 0; the only timing-dependent stop)',
      floatOption('--budget', { gt: 0 }),
    )
    .option(
      '--max-evals <N>',
      'fit from scratch: stop the search once it has used N oracle evaluations (checked between rounds: deterministic)',
      intOption('--max-evals', 1),
    )
    .option('--no-search', 'without --x0: random starts (--starts K) instead of the fit-from-scratch search');
}
