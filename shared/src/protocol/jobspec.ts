/**
 * Job spec validation at the boundary (STYLE 7): every error names the field and the value.
 */
import { AttnfitError, ErrorCodes, formatValue } from '@attnfit/shared/core';
import { checkProblemRef } from './codec.js';
import type { JobSolveOptions, JobSpec, ProblemRef } from './types.js';

/** Solver methods a job may ask for (same names as `attnfit solve --method`). */
export const JOB_METHODS: readonly string[] = ['newton', 'newton-cg', 'lbfgs', 'adam'];

/**
 * Bounds a job spec must respect (the CLI's `--starts` uses the same cap): a job holds a
 * coordinator slot until it ends, so `starts: 2^53 − 1` is refused at submit time rather than
 * run until cancelled.
 */
export const JOB_LIMITS = Object.freeze({
  /** Most seeded starts per job (`--starts`). */
  maxStarts: 10_000,
  /** Longest job label in characters (the default label is the problem path). */
  maxNameChars: 4096,
});

function bad(field: string, value: unknown, what: string): AttnfitError {
  const shown = value instanceof Float64Array ? `Float64Array(${value.length})` : formatValue(value);
  return new AttnfitError(ErrorCodes.BAD_OPTION, `job spec ${field}: ${what} (got ${shown})`, {
    details: { field, value: shown },
  });
}

const isRec = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/**
 * Validate a job spec (from the wire or the CLI) and return a normalised copy.
 * Throws AttnfitError(BAD_OPTION) naming e.g. `options.tol` and the offending value.
 * @example validateJobSpec({ problem, options: { method: 'newton', tol: 1e-12 } })
 */
export function validateJobSpec(spec: unknown): JobSpec {
  if (!isRec(spec)) throw bad('spec', spec, 'must be a map');
  const p = spec.problem;
  if (!isRec(p)) throw bad('problem', p, 'must be a map');
  try {
    checkProblemRef(p, 'job spec');
  } catch (err) {
    throw new AttnfitError(ErrorCodes.BAD_OPTION, (err as Error).message, { cause: err });
  }
  const problem: ProblemRef = {
    hash: p.hash as string,
    n: p.n as number,
    d: p.d as number,
    object: p.object as string,
  };
  const o = spec.options ?? {};
  if (!isRec(o)) throw bad('options', o, 'must be a map');
  const options: JobSolveOptions = {};
  const dd = problem.d * problem.d;
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    switch (k) {
      case 'method':
        if (typeof v !== 'string' || !JOB_METHODS.includes(v))
          throw bad('options.method', v, `must be one of ${JOB_METHODS.join(', ')}`);
        options.method = v;
        break;
      case 'tol':
        // tol = 0 could never be met: refused here, not when the job runs.
        if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0))
          throw bad(`options.${k}`, v, 'must be a finite number > 0');
        options[k] = v;
        break;
      case 'gtol':
      case 'gamma':
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
          throw bad(`options.${k}`, v, 'must be a finite number >= 0');
        options[k] = v;
        break;
      case 'maxIter':
      case 'starts':
      case 'seed': {
        const min = k === 'seed' ? 0 : k === 'maxIter' ? 0 : 1;
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
          throw bad(`options.${k}`, v, `must be an integer >= ${min}`);
        if (k === 'starts' && v > JOB_LIMITS.maxStarts)
          throw bad(`options.${k}`, v, `must be an integer in [1, ${JOB_LIMITS.maxStarts}]`);
        options[k] = v;
        break;
      }
      case 'search':
        if (typeof v !== 'boolean') throw bad('options.search', v, 'must be true or false');
        options.search = v;
        break;
      case 'budgetSeconds':
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
          throw bad('options.budgetSeconds', v, 'must be a finite number > 0');
        options.budgetSeconds = v;
        break;
      case 'maxEvals':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
          throw bad('options.maxEvals', v, 'must be an integer >= 1');
        options.maxEvals = v;
        break;
      case 'x0':
      case 'y0':
        if (!(v instanceof Float64Array) || v.length !== dd)
          throw bad(`options.${k}`, v, `must be a Float64Array of d×d = ${dd} numbers`);
        for (let i = 0; i < v.length; i++)
          if (!Number.isFinite(v[i]!)) throw bad(`options.${k}`, v[i], `must be finite (entry ${i})`);
        options[k] = v;
        break;
      default:
        throw bad(`options.${k}`, v, 'is not a known solve option');
    }
  }
  const out: JobSpec = { problem, options };
  if (spec.name !== undefined) {
    if (typeof spec.name !== 'string') throw bad('name', spec.name, 'must be a string');
    if (spec.name.length > JOB_LIMITS.maxNameChars)
      throw bad('name', spec.name, `must be at most ${JOB_LIMITS.maxNameChars} characters`);
    out.name = spec.name;
  }
  return out;
}
