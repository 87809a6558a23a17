/**
 * solve(): runs a method on the reduced objective from one or more seeded starts, with stopping
 * rules, monotone history, hooks (progress, checkpoint, cancel) and deterministic resume.
 */
import { AttnfitError, ErrorCodes, formatValue } from '@attnfit/shared/core';
import type { Oracle } from '../oracle/types.js';
import { NEWTON_MAX_D, SOLVE_DEFAULTS, X0_SCALE } from './defaults.js';
import { randn, rng } from './linalg.js';
import { METHODS } from './methods.js';
import { searchStarts } from './search.js';
import type { Point } from './reduced.js';
import { Reduced } from './reduced.js';
import type {
  IterationRecord,
  MethodState,
  SolveHooks,
  SolveMethod,
  SolveOptions,
  SolveResult,
  StartResult,
  StopReason,
} from './types.js';

const METHOD_NAMES: readonly string[] = ['newton', 'newton-cg', 'lbfgs', 'adam', 'auto'];

function bad(field: string, value: unknown, what: string): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OPTION, `${field}: ${what} (got ${formatValue(value)})`, {
    details: { field, value },
  });
}

/** The method 'auto' resolves to for dimension d: newton for d ≤ NEWTON_MAX_D, else newton-cg. */
export function autoMethod(d: number): SolveMethod {
  return d <= NEWTON_MAX_D ? 'newton' : 'newton-cg';
}

/** Validate options (defaults filled in); throws BAD_OPTION / SHAPE_MISMATCH naming the field. */
export function validateSolveOptions(opts: Partial<SolveOptions>, d: number): SolveOptions {
  const o = { ...SOLVE_DEFAULTS, ...opts } as SolveOptions;
  if (!METHOD_NAMES.includes(o.method)) throw bad('method', o.method, `must be one of ${METHOD_NAMES.join(', ')}`);
  if (!(typeof o.tol === 'number' && o.tol > 0 && Number.isFinite(o.tol)))
    throw bad('tol', o.tol, 'must be a finite number > 0');
  if (!(typeof o.gtol === 'number' && o.gtol >= 0 && Number.isFinite(o.gtol)))
    throw bad('gtol', o.gtol, 'must be a finite number >= 0');
  if (!Number.isSafeInteger(o.maxIter) || o.maxIter < 0) throw bad('maxIter', o.maxIter, 'must be an integer >= 0');
  if (!Number.isSafeInteger(o.starts) || o.starts < 1) throw bad('starts', o.starts, 'must be an integer >= 1');
  if (!Number.isSafeInteger(o.seed)) throw bad('seed', o.seed, 'must be an integer');
  if (o.concurrency !== undefined && (!Number.isSafeInteger(o.concurrency) || o.concurrency < 1))
    throw bad('concurrency', o.concurrency, 'must be an integer >= 1');
  if (!(typeof o.gamma === 'number' && o.gamma >= 0 && Number.isFinite(o.gamma)))
    throw bad('gamma', o.gamma, 'must be a finite number >= 0');
  if (typeof o.search === 'object') {
    const s = o.search;
    if (
      s.budgetSeconds !== undefined &&
      !(typeof s.budgetSeconds === 'number' && s.budgetSeconds > 0 && Number.isFinite(s.budgetSeconds))
    ) {
      throw bad('budgetSeconds', s.budgetSeconds, 'must be a finite number > 0');
    }
    if (s.maxEvals !== undefined && (!Number.isSafeInteger(s.maxEvals) || s.maxEvals < 1))
      throw bad('maxEvals', s.maxEvals, 'must be an integer >= 1');
    if (s.screenRows !== undefined && !(typeof s.screenRows === 'number' && s.screenRows > 0 && s.screenRows <= 1))
      throw bad('screenRows', s.screenRows, 'must be a number in (0, 1]');
    if (s.screenRounds !== undefined && (!Number.isSafeInteger(s.screenRounds) || s.screenRounds < 0))
      throw bad('screenRounds', s.screenRounds, 'must be an integer >= 0');
  }
  for (const k of ['x0', 'y0'] as const) {
    const a = o[k];
    if (a === undefined) continue;
    if (!(a instanceof Float64Array) || a.length !== d * d) {
      throw new AttnfitError(
        ErrorCodes.SHAPE_MISMATCH,
        `${k}: must be a d×d = ${d}×${d} matrix (got ${a instanceof Float64Array ? `${a.length} numbers` : typeof a})`,
        { details: { field: k } },
      );
    }
    for (let i = 0; i < a.length; i++)
      if (!Number.isFinite(a[i]))
        throw new AttnfitError(
          ErrorCodes.NON_FINITE,
          `${k}: non-finite value ${a[i]} at [${Math.floor(i / d)}, ${i % d}]`,
          { details: { field: k } },
        );
  }
  return o;
}

/** Seeded random start: X0 = X0_SCALE/d · N(0, 1) entries (start k uses seed + k). */
export function randomStart(d: number, seed: number): Float64Array {
  const r = rng(seed);
  const X = new Float64Array(d * d);
  for (let i = 0; i < X.length; i++) X[i] = (X0_SCALE / d) * randn(r);
  return X;
}

function outcome(stop: StopReason, relLoss: number, tol: number): { converged: boolean; message: string } {
  const rl = relLoss.toPrecision(3);
  switch (stop) {
    case 'tol':
      return { converged: true, message: `converged: relative loss ${rl} ≤ tol ${tol}` };
    case 'gradient':
      return relLoss <= tol
        ? { converged: true, message: `converged: relative loss ${rl}` }
        : { converged: true, message: `stationary point, relative loss ${rl} — not a zero-residual fit` };
    case 'max-iter':
      return { converged: false, message: `not converged: iteration limit reached at relative loss ${rl}` };
    case 'stalled':
      return {
        converged: false,
        message: `stalled: no further decrease found at relative loss ${rl}${relLoss > tol ? ' — not a zero-residual fit' : ''}`,
      };
    default:
      return { converged: false, message: `interrupted at relative loss ${rl}` };
  }
}

/** The fields of a result that describe the point reached (shared by a start and the search). */
function pointFields(pt: Point): Pick<StartResult, 'X' | 'Y' | 'loss' | 'relLoss' | 'objective' | 'gradNorm'> {
  return { X: pt.X, Y: pt.Y, loss: pt.loss, relLoss: pt.relLoss, objective: pt.objective, gradNorm: pt.gradNorm };
}

function isCancel(err: unknown, signal?: AbortSignal): boolean {
  return (err instanceof AttnfitError && err.code === ErrorCodes.CANCELLED) || !!signal?.aborted;
}

interface StartInput {
  start: number;
  init: 'x0' | 'random';
  seed?: number;
  X0: Float64Array;
  Y0?: Float64Array;
  resume?: SolveHooks['resume'];
}

async function runStart(
  red: Reduced,
  method: SolveMethod,
  o: SolveOptions,
  s: StartInput,
  hooks: SolveHooks,
): Promise<StartResult> {
  const t0 = performance.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const signal = hooks.signal;
  const history: IterationRecord[] = s.resume ? s.resume.history.map((h) => ({ ...h })) : [];
  const secondsOffset = history.length ? history[history.length - 1]!.seconds : 0;
  let iteration = s.resume ? s.resume.iteration : 0;
  const m = METHODS[method](red, s.resume?.state ?? {});
  let pt: Point | null = null;
  let stop: StopReason | null = null;

  const emit = async (p: Point, step?: number): Promise<void> => {
    const st: MethodState = m.state();
    const rec: IterationRecord = {
      iteration,
      loss: p.loss,
      relLoss: p.relLoss,
      objective: p.objective,
      gradNorm: p.gradNorm,
      seconds: secondsOffset + elapsed(),
    };
    if (step !== undefined) rec.step = step;
    if (st.damping !== undefined) rec.damping = st.damping;
    if (st.radius !== undefined) rec.radius = st.radius;
    history.push(rec);
    if (hooks.onIteration) await hooks.onIteration({ ...rec, start: s.start, X: p.X, Y: p.Y, state: st });
  };

  try {
    const X = s.resume ? Float64Array.from(s.resume.X) : Float64Array.from(s.X0);
    pt = await red.point(X, true, o.maxIter === 0 && !s.resume ? s.Y0 : undefined);
    if (!s.resume) await emit(pt);
    for (;;) {
      if (pt.relLoss <= o.tol) {
        stop = 'tol';
        break;
      }
      if (pt.gradNorm <= o.gtol * red.gradScale) {
        stop = 'gradient';
        break;
      }
      if (iteration >= o.maxIter) {
        stop = 'max-iter';
        break;
      }
      if (signal?.aborted) {
        stop = 'interrupted';
        break;
      }
      const r = await m.step(pt);
      if (r.stalled) {
        stop = 'stalled';
        break;
      }
      iteration++;
      pt = r.next;
      await emit(pt, r.step);
    }
  } catch (err) {
    if (!isCancel(err, signal)) throw err;
    stop = 'interrupted';
  }
  if (!pt) {
    // Interrupted before the first point was evaluated: report the start, loss unknown.
    pt = {
      X: s.X0,
      Y: s.Y0 ?? new Float64Array(s.X0.length),
      loss: NaN,
      relLoss: NaN,
      objective: NaN,
      gradNorm: NaN,
      cholG: new Float64Array(0),
    };
  }
  const { converged, message } = outcome(stop!, pt.relLoss, o.tol);
  const res: StartResult = {
    start: s.start,
    init: s.init,
    ...pointFields(pt),
    iterations: iteration,
    converged,
    stopReason: stop!,
    message,
    seconds: secondsOffset + elapsed(),
    history,
  };
  if (s.seed !== undefined) res.seed = s.seed;
  return res;
}

/** The fit-from-scratch search as a SolveResult: the best start is reported as start 0 ('search'). */
async function searchSolve(
  red: Reduced,
  method: SolveMethod,
  o: SolveOptions,
  hooks: SolveHooks,
  t0: number,
): Promise<SolveResult> {
  const signal = hooks.signal;
  const out = await searchStarts(
    {
      red,
      method,
      tol: o.tol,
      gtol: o.gtol,
      maxIter: o.maxIter,
      seed: o.seed,
      concurrency: o.concurrency ?? 1,
      ...(signal ? { signal } : {}),
      ...(hooks.onIteration
        ? {
            onStep: async (e: { index: number; iteration: number; pt: Point }): Promise<void> => {
              const rec = {
                iteration: e.iteration,
                loss: e.pt.loss,
                relLoss: e.pt.relLoss,
                objective: e.pt.objective,
                gradNorm: e.pt.gradNorm,
                seconds: (performance.now() - t0) / 1000,
              };
              await hooks.onIteration!({ ...rec, start: e.index, X: e.pt.X, Y: e.pt.Y, state: {} });
            },
          }
        : {}),
    },
    typeof o.search === 'object' ? o.search : {},
  );
  const pt = out.best;
  const interrupted = out.report.stopReason === 'interrupted';
  const stop: StopReason = interrupted
    ? 'interrupted'
    : pt.relLoss <= o.tol
      ? 'tol'
      : pt.gradNorm <= o.gtol * red.gradScale
        ? 'gradient'
        : out.stalled
          ? 'stalled'
          : 'max-iter';
  const { converged, message } = outcome(stop, pt.relLoss, o.tol);
  const why = out.report.stopReason === 'converged' ? '' : `; search ended: ${out.report.stopReason}`;
  const msg = `${message} (search: ${out.report.starts.length} starts, best from family ${out.report.starts[out.bestIndex]!.family}${why})`;
  const seconds = (performance.now() - t0) / 1000;
  const best: StartResult = {
    start: 0,
    init: 'search',
    ...pointFields(pt),
    iterations: out.iterations,
    converged,
    stopReason: stop,
    message: msg,
    seconds,
    history: out.history,
  };
  return {
    ...best,
    method,
    interrupted,
    bestStart: 0,
    starts: [best],
    search: out.report,
    message: interrupted ? `interrupted; best relative loss so far ${pt.relLoss.toPrecision(3)}` : msg,
  };
}

function better(a: StartResult, b: StartResult | null): boolean {
  if (!b) return true;
  if (Number.isNaN(b.objective)) return !Number.isNaN(a.objective);
  return a.objective < b.objective;
}

/**
 * Fit X, Y (d×d) minimising L(X, Y) (+ ½γ‖A1XA2ᵀ‖²) with variable projection: Y = Y*(X) exact,
 * the chosen method on X. Runs `starts` starts (start 0 = x0 when given, else random; start k > 0
 * random with seed + k), `concurrency` at a time (default 1: in sequence; resume is always
 * sequential), and returns the best (lowest objective, ties → lower start), with every start's
 * summary. Results do not depend on concurrency.
 * Rejects with BAD_OPTION / SHAPE_MISMATCH for bad options; returns (not rejects) when
 * interrupted via hooks.signal, with interrupted = true and the best iterate so far.
 * @example const r = await solve(oracle, { ...SOLVE_DEFAULTS, method: 'newton', x0 }, {});
 */
export async function solve(oracle: Oracle, opts: Partial<SolveOptions>, hooks: SolveHooks = {}): Promise<SolveResult> {
  const t0 = performance.now();
  const o = validateSolveOptions(opts, oracle.d);
  const method: SolveMethod = o.method === 'auto' ? autoMethod(oracle.d) : o.method;
  // An inner controller stops sibling starts when one fails (parallel starts).
  const inner = new AbortController();
  const signal = hooks.signal ? AbortSignal.any([hooks.signal, inner.signal]) : inner.signal;
  const hk: SolveHooks = { ...hooks, signal };
  const red = await Reduced.create(oracle, o.gamma, signal);
  const resume = hooks.resume;
  if (o.search && o.x0 === undefined && !resume) return searchSolve(red, method, o, hk, t0);
  const first = resume?.start ?? 0;
  const starts: StartResult[] = resume?.previous ? [...resume.previous] : [];
  const inputFor = (k: number): StartInput => {
    const input: StartInput =
      k === 0 && o.x0 !== undefined
        ? { start: k, init: 'x0', X0: o.x0 }
        : { start: k, init: 'random', seed: o.seed + k, X0: randomStart(oracle.d, o.seed + k) };
    if (k === 0 && o.y0) input.Y0 = o.y0;
    if (resume && k === first) input.resume = resume;
    return input;
  };
  const conc = resume ? 1 : Math.max(1, Math.min(o.concurrency ?? 1, o.starts - first));
  const results: Array<StartResult | undefined> = [];
  let next = first;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < o.starts && !signal.aborted) {
        const k = next++;
        try {
          const r = await runStart(red, method, o, inputFor(k), hk);
          results[k - first] = r;
          if (r.stopReason === 'interrupted') break;
        } catch (err) {
          inner.abort(err);
          throw err;
        }
      }
    }),
  );
  let interrupted = false;
  for (const r of results) {
    if (!r) continue;
    starts.push(r);
    if (r.stopReason === 'interrupted') interrupted = true;
  }
  // Best in start order (ties → lower start): independent of concurrency and completion order.
  let best: StartResult | null = null;
  for (const r of starts) if (better(r, best)) best = r;
  const b = best!;
  return {
    method,
    X: b.X,
    Y: b.Y,
    loss: b.loss,
    relLoss: b.relLoss,
    objective: b.objective,
    gradNorm: b.gradNorm,
    iterations: b.iterations,
    converged: b.converged,
    stopReason: interrupted ? 'interrupted' : b.stopReason,
    message: interrupted ? `interrupted; best relative loss so far ${b.relLoss.toPrecision(3)}` : b.message,
    interrupted,
    bestStart: b.start,
    seconds: (performance.now() - t0) / 1000,
    history: b.history,
    starts,
  };
}
