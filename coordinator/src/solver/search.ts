/**
 * Fit from scratch: a global search over starting points for the reduced objective f(X), used when
 * the user has no warm start.
 *
 * The landscape of f is non-convex (docs/design.md §1): from a random X every local method tends to
 * stop in a wrong basin, and which basin a start reaches depends on the spread of its logits
 * A1 X A2ᵀ. The search therefore
 *  1. draws a population of starts from several families — structured ones that encode "attend to
 *     similar tokens" (a scaled identity, and the identity in the inputs' whitened metric), and
 *     random ones — each at a ladder of logit spreads;
 *  2. runs them side by side with a cheap method (L-BFGS) for a few iterations, ranks them by the
 *     objective, keeps the best fraction and gives the survivors more iterations (successive
 *     halving, as in Hyperband); optionally the first rounds run on a fixed subset of the query
 *     rows (row-subsampled screening, `screenRows`: every key kept, Y refit on the subset — a
 *     cheap estimate of the objective whose exact fit is still the exact fit), and the survivors
 *     move to all rows for the later rounds;
 *  3. polishes the finalists with the chosen method (exact Newton for small d) until one converges;
 *  4. when none does, hops: perturbs the best point at a few relative radii and continues the
 *     perturbed points the same way (basin hopping), until the schedule, the evaluation cap or
 *     the time budget is used up.
 *
 * Deterministic: the population, the schedule and the ranking (objective, ties → lower index)
 * depend only on the problem, the options and the seed — never on timing, thread or worker count.
 * Only the optional wall-clock budget (`budgetSeconds`) can end the search at a timing-dependent
 * point, and the result says so (stopReason 'budget').
 */
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { symEig } from '@attnfit/shared/kernels';
import { subsetBlocks } from '@attnfit/shared/math';
import { SEARCH_DEFAULTS } from './defaults.js';
import { randn, rng } from './linalg.js';
import { METHODS } from './methods.js';
import type { Method } from './methods.js';
import type { Point, Reduced } from './reduced.js';
import type { IterationRecord, SearchFamily, SearchOptions, SearchReport, SearchStart, SolveMethod } from './types.js';

/** A candidate start of the population, with its running state. */
interface Candidate {
  index: number;
  family: SearchFamily;
  /** Target logit spread of the start (RMS of A1 X0 A2ᵀ). */
  spread: number;
  seed?: number;
  /** Index of the start it was hopped from (basin hopping). */
  parent?: number;
  X0: Float64Array;
  /** The candidate's own view of the objective (its own evaluation count). */
  red: Reduced;
  /** Its view of the screening subset's objective (null: no screening). */
  sred: Reduced | null;
  /** pt is a point of the subset's objective (screening), not of the full one. */
  onSubset: boolean;
  /** Relative loss on the subset when the candidate left it (or when it was pruned there). */
  screenRelLoss: number | null;
  pt: Point | null;
  history: IterationRecord[];
  method: Method | null;
  methodName: SolveMethod | null;
  /** History index where the current method began (the slow-progress window starts there). */
  methodFrom: number;
  iterations: number;
  stalled: boolean;
  status: SearchStart['status'];
  round: number;
  seconds: number;
}

/** What the search needs from the solver around it. */
export interface SearchContext {
  red: Reduced;
  /** The polishing method (exact newton or newton-cg). */
  method: SolveMethod;
  tol: number;
  gtol: number;
  /** Iterations of the polishing method per finalist. */
  maxIter: number;
  seed: number;
  /** Candidates advanced at once on the shared oracle (results do not depend on it). */
  concurrency: number;
  signal?: AbortSignal;
  /** Called after every accepted step of any candidate (progress). */
  onStep?(c: { index: number; family: SearchFamily; iteration: number; pt: Point }): void | Promise<void>;
}

/** Result of {@link searchStarts}: the best point and the report. */
export interface SearchOutcome {
  best: Point;
  bestIndex: number;
  /** Iterations (accepted steps) of the best candidate. */
  iterations: number;
  /** The best candidate's history (its iteration 0 is its start). */
  history: IterationRecord[];
  stalled: boolean;
  report: SearchReport;
}

/**
 * RMS logit spread of X: sqrt(tr(Xᵀ G1 X G2)) / n (G1 = A1ᵀA1, G2 = A2ᵀA2). With the keys'
 * centred Gram for G2 (as the search passes it) this is the RMS spread of the logits within rows.
 */
export function logitSpread(X: Float64Array, G1: Float64Array, G2: Float64Array, d: number, n: number): number {
  // T = G1 X, U = X G2; tr(Xᵀ G1 X G2) = Σ_ij (G1 X)_ij (X G2)_ij
  let s = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let t = 0,
        u = 0;
      for (let k = 0; k < d; k++) {
        t += G1[i * d + k]! * X[k * d + j]!;
        u += X[i * d + k]! * G2[k * d + j]!;
      }
      s += t * u;
    }
  }
  return Math.sqrt(Math.max(s, 0)) / n;
}

/**
 * Pseudo-inverse square root G^(+1/2) of a symmetric positive semidefinite d×d matrix and the
 * projector onto its range (eigenvalues below 1e-10 of the largest count as zero: LayerNorm
 * outputs, for example, have rows summing to zero, so A1ᵀA1 is singular).
 */
function invSqrt(G: Float64Array, d: number): { W: Float64Array; P: Float64Array } {
  const { values, vectors } = symEig(d, Float64Array.from(G));
  const top = Math.max(...Array.from(values, Math.abs), Number.MIN_VALUE);
  const W = new Float64Array(d * d),
    P = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    if (!(values[k]! > 1e-10 * top)) continue;
    const w = 1 / Math.sqrt(values[k]!);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        const v = vectors[i * d + k]! * vectors[j * d + k]!;
        W[i * d + j]! += w * v;
        P[i * d + j]! += v;
      }
  }
  return { W, P };
}

function mul(A: Float64Array, B: Float64Array, d: number): Float64Array {
  const C = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let k = 0; k < d; k++) {
      const a = A[i * d + k]!;
      if (a !== 0) for (let j = 0; j < d; j++) C[i * d + j]! += a * B[k * d + j]!;
    }
  return C;
}

/** The inputs' geometry: Gram matrices, their range projectors and pseudo-inverse roots. */
interface Geometry {
  d: number;
  n: number;
  G1: Float64Array;
  G2: Float64Array;
  P1: Float64Array;
  P2: Float64Array;
  W1: Float64Array;
  W2: Float64Array;
}

function geometry(G1: Float64Array, G2: Float64Array, d: number, n: number): Geometry {
  const a = invSqrt(G1, d),
    b = invSqrt(G2, d);
  return { d, n, G1, G2, P1: a.P, P2: b.P, W1: a.W, W2: b.W };
}

/** P1 X P2: the part of X that changes the logits (the rest lies in the inputs' null spaces). */
function visible(X: Float64Array, g: Geometry): Float64Array {
  return mul(mul(g.P1, X, g.d), g.P2, g.d);
}

function scaledTo(X: Float64Array, spread: number, g: Geometry): Float64Array {
  const V = visible(X, g);
  const s = logitSpread(V, g.G1, g.G2, g.d, g.n);
  const f = s > 0 && Number.isFinite(s) ? spread / s : 0;
  return Float64Array.from(V, (v) => v * f);
}

/**
 * The initial population, in a fixed order: for each spread of the ladder, the identity, the
 * whitened identity G1^(-1/2) G2^(-1/2), and `randomPerSpread` Gaussian matrices (seeded).
 */
export function initialPopulation(
  g: Geometry,
  seed: number,
  o: Pick<SearchOptions, 'spreads' | 'randomPerSpread'>,
): Array<Pick<Candidate, 'family' | 'spread' | 'seed' | 'X0'>> {
  const d = g.d;
  const eye = new Float64Array(d * d);
  for (let i = 0; i < d; i++) eye[i * d + i] = 1;
  const white = mul(g.W1, g.W2, d);
  const out: Array<Pick<Candidate, 'family' | 'spread' | 'seed' | 'X0'>> = [];
  let r = 0;
  for (const spread of o.spreads) {
    out.push({ family: 'identity', spread, X0: scaledTo(eye, spread, g) });
    out.push({ family: 'whitened', spread, X0: scaledTo(white, spread, g) });
    for (let k = 0; k < o.randomPerSpread; k++) {
      const s = seed + 1000 * (1 + r++);
      const gen = rng(s);
      out.push({
        family: 'random',
        spread,
        seed: s,
        X0: scaledTo(
          Float64Array.from({ length: d * d }, () => randn(gen)),
          spread,
          g,
        ),
      });
    }
  }
  return out;
}

/** Polishing stops a start whose objective fell by < 10 % over this many iterations. */
const SLOW_WINDOW = 5;
/** …and one whose last two iterations each lowered it by < 0.1 % sits at a local minimum. */
const STATIONARY_DROP = 1e-3;
/** Polishing iterations per finalist between rankings. */
const POLISH_CHUNK = 4;

class Budget {
  readonly t0 = performance.now();
  stop: SearchReport['stopReason'] | null = null;
  constructor(
    private readonly all: readonly Candidate[],
    private readonly o: SearchOptions,
    private readonly signal?: AbortSignal,
    /** Cost of one subset evaluation relative to a full one (rows of the subset / n). */
    private readonly screenCost = 1,
  ) {}
  get seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }
  /** Oracle evaluations of the whole search on all rows (deterministic between rounds). */
  get fullEvals(): number {
    return this.all.reduce((s, c) => s + c.red.evaluations, 0);
  }
  /** Oracle evaluations on the screening subset. */
  get screenEvals(): number {
    return this.all.reduce((s, c) => s + (c.sred?.evaluations ?? 0), 0);
  }
  /** All evaluations in full-row equivalents (what maxEvals caps). */
  get evals(): number {
    return this.fullEvals + this.screenCost * this.screenEvals;
  }
  /** Checked between whole rounds and hops (so the evaluation cap is deterministic). */
  exhausted(): boolean {
    if (this.stop) return true;
    if (this.signal?.aborted) this.stop = 'interrupted';
    else if (this.o.maxEvals !== undefined && this.evals >= this.o.maxEvals) this.stop = 'max-evals';
    else if (this.timeUp()) this.stop = 'budget';
    return this.stop !== null;
  }
  /** Wall-clock check, also between iterations. */
  timeUp(): boolean {
    return this.o.budgetSeconds !== undefined && this.seconds >= this.o.budgetSeconds;
  }
}

/** Advance candidates in index order, `concurrency` at a time. */
async function forEachConcurrent(
  items: Candidate[],
  concurrency: number,
  fn: (c: Candidate) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function rankKey(c: Candidate): number {
  const v = c.pt?.objective;
  return v === undefined || !Number.isFinite(v) ? Infinity : v;
}

/** Sort by objective, ties (and NaN) → lower index: independent of completion order. (Within one
 * round every candidate is on the same rows.) */
function ranked(cs: Candidate[]): Candidate[] {
  return [...cs].sort((a, b) => rankKey(a) - rankKey(b) || a.index - b.index);
}

/** Rank by the full objective: candidates that never left the screening subset come last. */
function fullRanked(cs: Candidate[]): Candidate[] {
  const key = (c: Candidate): number => (c.onSubset ? Infinity : rankKey(c));
  return [...cs].sort((a, b) => key(a) - key(b) || a.index - b.index);
}

/**
 * Search for a zero-residual (or the lowest) fit from scratch; see the file comment.
 * @example const out = await searchStarts({ red, method: 'newton', tol: 1e-12, gtol: 1e-10, maxIter: 50, seed: 1, concurrency: 2 }, SEARCH_DEFAULTS);
 */
export async function searchStarts(ctx: SearchContext, opts: Partial<SearchOptions> = {}): Promise<SearchOutcome> {
  const o: SearchOptions = { ...SEARCH_DEFAULTS, ...opts };
  const { red } = ctx;
  const d = red.d,
    n = red.oracle.n;
  const { G1, G2: G2raw } = await red.oracle.gram();
  // Softmax ignores a per-query constant, so spreads and visibility use the keys' centred Gram
  // G2 − n·m mᵀ (m = mean key row): with LayerNorm inputs (a constant offset in every row) a
  // whole d-dimensional family X + v wᵀ (A2 w = 1) leaves every softmax row unchanged.
  const m = red.oracle.keyMean;
  const G2 = Float64Array.from(G2raw, (v, i) => v - n * m[Math.floor(i / d)]! * m[i % d]!);
  const geo = geometry(G1, G2, d, n);
  const all: Candidate[] = [];
  // Row-subsampled screening: a fixed subset of the plan's row blocks, chosen by the seed.
  const screen: SearchReport['screen'] = {
    rows: n,
    n,
    blocks: [],
    rounds: 0,
    evaluations: 0,
    equivalentEvaluations: 0,
  };
  let sred: Reduced | null = null;
  if (o.screenRows < 1 && o.screenRounds > 0) {
    const nb = red.oracle.info().blocks;
    const blocks = subsetBlocks(nb, o.screenRows, ctx.seed);
    if (!red.oracle.rowSubset) screen.reason = 'the oracle cannot evaluate a row subset: screened on all rows';
    else if (blocks.length >= nb) screen.reason = `the plan has ${nb} row block(s): screened on all rows`;
    else {
      const view = red.oracle.rowSubset(blocks);
      sred = await red.over(view);
      screen.rows = view.rows ?? n;
      screen.blocks = blocks;
      screen.rounds = Math.min(o.screenRounds, o.rounds.length);
    }
  }
  const budget = new Budget(all, o, ctx.signal, screen.rows / n);
  const bestSoFar: SearchReport['bestSoFar'] = [];
  let best = Infinity;

  const converged = (c: Candidate): boolean =>
    !!c.pt && (c.pt.relLoss <= ctx.tol || c.pt.gradNorm <= ctx.gtol * red.gradScale);
  const zeroFit = (c: Candidate): boolean => !!c.pt && c.pt.relLoss <= ctx.tol;
  const note = (c: Candidate): void => {
    if (c.pt && !c.onSubset && c.pt.objective < best) {
      best = c.pt.objective;
      bestSoFar.push({ seconds: budget.seconds, evals: budget.evals, relLoss: c.pt.relLoss, start: c.index });
    }
  };
  const make = (p: Pick<Candidate, 'family' | 'spread' | 'seed' | 'X0'> & { parent?: number }): Candidate => {
    const c: Candidate = {
      index: all.length,
      family: p.family,
      spread: p.spread,
      X0: p.X0,
      red: red.fork(),
      sred: null,
      onSubset: false,
      screenRelLoss: null,
      pt: null,
      history: [],
      method: null,
      methodName: null,
      methodFrom: 0,
      iterations: 0,
      stalled: false,
      status: 'running',
      round: 0,
      seconds: 0,
    };
    if (p.seed !== undefined) c.seed = p.seed;
    if (p.parent !== undefined) c.parent = p.parent;
    all.push(c);
    return c;
  };

  /** Run up to `iters` more steps of `method` on c (switching method or rows resets its state), on
   * the screening subset when `subset` (and the candidate has not left it). */
  const advance = async (
    c: Candidate,
    method: SolveMethod,
    iters: number,
    slowStop = false,
    subset = false,
  ): Promise<void> => {
    const t = performance.now();
    if (subset && !c.pt && sred) {
      c.sred = sred.fork();
      c.onSubset = true;
    }
    const r = c.onSubset && subset ? c.sred! : c.red;
    const record = (p: Point, step?: number): void => {
      const rec: IterationRecord = {
        iteration: c.iterations,
        loss: p.loss,
        relLoss: p.relLoss,
        objective: p.objective,
        gradNorm: p.gradNorm,
        seconds: c.seconds + (performance.now() - t) / 1000,
      };
      if (step !== undefined) rec.step = step;
      c.history.push(rec);
    };
    if (!c.pt) {
      c.pt = await r.point(c.X0, true);
      if (!c.onSubset) record(c.pt);
      note(c);
    } else if (c.onSubset && r === c.red) {
      // Leaves the subset: the same X on all rows (Y refit), a fresh method state.
      c.screenRelLoss = c.pt.relLoss;
      c.pt = await c.red.point(c.pt.X, true);
      c.onSubset = false;
      c.methodName = null;
      c.stalled = false; // a stall on the subset is re-examined on all rows
      record(c.pt);
      note(c);
    }
    if (c.methodName !== method) {
      c.method = METHODS[method](r, {});
      c.methodName = method;
      c.methodFrom = c.history.length - 1;
      c.stalled = false;
    }
    for (let k = 0; k < iters && !c.stalled && !converged(c) && !ctx.signal?.aborted && !budget.timeUp(); k++) {
      const s = await c.method!.step(c.pt);
      if (s.stalled) {
        c.stalled = true;
        break;
      }
      c.pt = s.next;
      c.iterations++;
      if (!c.onSubset) record(c.pt, s.step);
      // Polishing a start in the right basin converges fast; < 10 % decrease over SLOW_WINDOW
      // iterations means a wrong basin or a long flat valley: leave it to the hops.
      note(c);
      if (ctx.onStep) await ctx.onStep({ index: c.index, family: c.family, iteration: c.iterations, pt: c.pt });
      const h = c.history,
        last = h.length - 1;
      const flat = (i: number): boolean => h[i]!.objective > (1 - STATIONARY_DROP) * h[i - 1]!.objective;
      if (
        slowStop &&
        ((last - SLOW_WINDOW > c.methodFrom && h[last]!.objective > 0.9 * h[last - SLOW_WINDOW]!.objective) ||
          (last - 2 >= c.methodFrom && flat(last) && flat(last - 1)))
      ) {
        c.stalled = true;
        break;
      }
    }
    c.seconds += (performance.now() - t) / 1000;
  };

  /** Successive halving over `pool`, then polish the finalists; returns a converged candidate or null. */
  const halveAndPolish = async (
    pool: Candidate[],
    rounds: readonly number[],
    finalists: number,
    screenRounds = 0,
  ): Promise<Candidate | null> => {
    let alive = pool;
    // Round 0 always evaluates every start (a budget stop still returns an evaluated point).
    for (let round = 0; round < rounds.length && (round === 0 || !budget.exhausted()); round++) {
      const sub = round < screenRounds;
      await forEachConcurrent(alive, ctx.concurrency, (c) => advance(c, 'lbfgs', rounds[round]!, false, sub));
      for (const c of alive) c.round = round;
      const done = sub ? undefined : ranked(alive).find(zeroFit);
      if (done) return done;
      const keep = Math.max(finalists, Math.ceil(alive.length / o.eta));
      const order = ranked(alive);
      for (const c of order.slice(keep)) c.status = `pruned@${round}`;
      alive = order.slice(0, keep);
    }
    // Polish the finalists side by side, POLISH_CHUNK iterations at a time (a start in the right
    // basin shows it within a few Newton steps, whatever its rank after L-BFGS): each gets up to
    // polishIter iterations, or up to maxIter while its objective still halves every chunk; the
    // slow-progress stop drops a start in a wrong basin early.
    let polish = ranked(alive).slice(0, finalists);
    for (const c of polish) c.status = 'finalist';
    if (polish.some((c) => c.onSubset) && !budget.exhausted()) {
      // Screened to the end: the finalists move to all rows (advance with 0 iterations).
      await forEachConcurrent(polish, ctx.concurrency, (c) => advance(c, ctx.method, 0));
      const done = ranked(polish).find(zeroFit);
      if (done) return done;
    }
    const used = new Map<Candidate, number>();
    while (polish.length > 0 && !budget.exhausted()) {
      const before = new Map(polish.map((c) => [c, c.pt?.objective ?? Infinity]));
      await forEachConcurrent(polish, ctx.concurrency, async (c) => {
        const k = Math.min(POLISH_CHUNK, ctx.maxIter - (used.get(c) ?? 0));
        const from = c.iterations;
        await advance(c, ctx.method, k, true);
        used.set(c, (used.get(c) ?? 0) + Math.max(c.iterations - from, 1));
      });
      const done = ranked(polish).find(zeroFit);
      if (done) return done;
      // A start 10× above the best that did not halve its objective in this chunk is in a worse
      // basin: dropped.
      const lead = rankKey(ranked(polish)[0]!);
      polish = polish.filter((c) => {
        const u = used.get(c) ?? 0;
        if (c.stalled || converged(c) || u >= ctx.maxIter) return false;
        const halving = c.pt!.objective < 0.5 * before.get(c)!;
        if (!halving && rankKey(c) > 10 * lead) return false;
        return u < o.polishIter || halving;
      });
    }
    for (const c of alive) if (c.status === 'running') c.status = `pruned@${rounds.length}`;
    return null;
  };

  /** Basin hopping around the best point so far; returns a converged candidate or null. */
  const hopRng = rng(ctx.seed + 7);
  const hopAround = async (): Promise<Candidate | null> => {
    for (let hop = 0; hop < o.hops && !budget.exhausted(); hop++) {
      // Hop h perturbs the (h mod hopCentres)-th best distinct local minimum (objectives more
      // than 1 % apart count as distinct basins): several funnels are explored side by side.
      const centres: Candidate[] = [];
      for (const c of fullRanked(all)) {
        if (!c.pt || c.onSubset || centres.length >= o.hopCentres) break;
        if (centres.every((e) => Math.abs(e.pt!.objective - c.pt!.objective) > 0.01 * e.pt!.objective)) centres.push(c);
      }
      const center = centres[hop % Math.max(1, centres.length)];
      if (!center?.pt) break;
      const base = logitSpread(visible(center.pt.X, geo), G1, G2, d, n);
      const pop = o.hopRadii.map((rad) => {
        const Z = scaledTo(
          Float64Array.from({ length: d * d }, () => randn(hopRng)),
          rad * base,
          geo,
        );
        const X0 = Float64Array.from(center.pt!.X, (v, i) => v + Z[i]!);
        return make({ family: 'hop', spread: logitSpread(X0, G1, G2, d, n), X0, parent: center.index });
      });
      const w = await halveAndPolish(pop, o.hopRounds, o.hopFinalists);
      if (w) return w;
    }
    return null;
  };

  let winner: Candidate | null = null;
  try {
    winner =
      (await halveAndPolish(initialPopulation(geo, ctx.seed, o).map(make), o.rounds, o.finalists, screen.rounds)) ??
      (await hopAround());
  } catch (err) {
    // Interrupted (signal): return the best point evaluated so far, if there is one.
    const cancelled = (err instanceof AttnfitError && err.code === ErrorCodes.CANCELLED) || !!ctx.signal?.aborted;
    if (!cancelled || !all.some((c) => c.pt)) throw err;
    budget.stop = 'interrupted';
  }
  if (!budget.stop) budget.stop = winner ? 'converged' : 'schedule';

  let bestC = winner ?? fullRanked(all)[0]!;
  if (bestC.onSubset) {
    // The search stopped while screening: the best screened start, evaluated on all rows (also
    // after an interrupt, so the point returned is always one of the full objective).
    bestC = ranked(all.filter((c) => c.pt))[0]!;
    const r = ctx.signal?.aborted ? bestC.red.unsignalled() : bestC.red;
    bestC.screenRelLoss = bestC.pt!.relLoss;
    bestC.pt = await r.point(bestC.pt!.X, true);
    if (r !== bestC.red) bestC.red.evaluations += r.evaluations;
    bestC.onSubset = false;
    bestC.history.push({
      iteration: bestC.iterations,
      loss: bestC.pt.loss,
      relLoss: bestC.pt.relLoss,
      objective: bestC.pt.objective,
      gradNorm: bestC.pt.gradNorm,
      seconds: bestC.seconds,
    });
  }
  if (winner) winner.status = 'converged';
  for (const c of all) if (c.status === 'running') c.status = 'stopped';
  const fams = new Map<SearchFamily, { tried: number; best: number }>();
  for (const c of all) {
    const f = fams.get(c.family) ?? { tried: 0, best: Infinity };
    f.tried++;
    if (c.pt && !c.onSubset && c.pt.relLoss < f.best) f.best = c.pt.relLoss;
    fams.set(c.family, f);
  }
  screen.evaluations = budget.screenEvals;
  screen.equivalentEvaluations = budget.evals;
  const report: SearchReport = {
    stopReason: budget.stop,
    seconds: budget.seconds,
    evaluations: budget.fullEvals,
    screen,
    best: bestC.index,
    options: o,
    families: [...fams].map(([family, f]) => ({
      family,
      tried: f.tried,
      bestRelLoss: Number.isFinite(f.best) ? f.best : null,
    })),
    starts: all.map((c) => {
      const s: SearchStart = {
        index: c.index,
        family: c.family,
        spread: c.spread,
        status: c.status,
        iterations: c.iterations,
        relLoss: c.pt && !c.onSubset && Number.isFinite(c.pt.relLoss) ? c.pt.relLoss : null,
        evals: c.red.evaluations,
        seconds: c.seconds,
      };
      if (c.sred) {
        const v = c.onSubset ? c.pt?.relLoss : c.screenRelLoss;
        s.screenRelLoss = v !== undefined && v !== null && Number.isFinite(v) ? v : null;
        s.screenEvals = c.sred.evaluations;
      }
      if (c.seed !== undefined) s.seed = c.seed;
      if (c.parent !== undefined) s.parent = c.parent;
      return s;
    }),
    bestSoFar,
  };
  return {
    best: bestC.pt!,
    bestIndex: bestC.index,
    iterations: bestC.iterations,
    history: bestC.history,
    stalled: bestC.stalled,
    report,
  };
}
