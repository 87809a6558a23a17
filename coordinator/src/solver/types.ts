/**
 * Solver options, hooks, records and results. The solver sees only the Oracle.
 */

export type SolveMethod = 'newton' | 'newton-cg' | 'lbfgs' | 'adam';
export type StopReason = 'tol' | 'gradient' | 'max-iter' | 'stalled' | 'interrupted';

/** Options of {@link solve}. Defaults: SOLVE_DEFAULTS. */
export interface SolveOptions {
  /** Method; 'auto' picks newton for d ≤ NEWTON_MAX_D, newton-cg above. */
  method: SolveMethod | 'auto';
  /** Stop when relative loss L/‖B‖² ≤ tol (> 0). */
  tol: number;
  /** Stop when ‖∇f‖_F / ‖B‖²_F ≤ gtol (reduced gradient, ≥ 0). */
  gtol: number;
  /** Maximum iterations (steps) per start (≥ 0). */
  maxIter: number;
  /** Number of seeded starts (≥ 1); the best is returned. */
  starts: number;
  /** Seed of the random starts (start k uses seed + k). */
  seed: number;
  /** Starts run at once on the shared oracle (≥ 1, default 1). Results do not depend on it;
   * onIteration events of different starts then interleave. Resume is always sequential. */
  concurrency?: number;
  /** Paper regulariser weight γ ≥ 0: objective L + ½γ‖A1 X A2ᵀ‖²_F. */
  gamma: number;
  /** Warm start X (d×d row-major), used for start 0. */
  x0?: Float64Array;
  /** Fit from scratch: when set and no x0 is given, a global search over starting points
   * ({@link SearchOptions}) replaces the random starts (`starts` is then ignored). */
  search?: Partial<SearchOptions> | boolean;
  /** Warm start Y (d×d). Y is recomputed exactly from X (variable projection), so y0 only
   * defines the reported point when maxIter = 0. */
  y0?: Float64Array;
}

/** One recorded iteration (iteration 0 is the starting point). */
export interface IterationRecord {
  iteration: number;
  /** Unregularised loss L(X, Y) (no ½). */
  loss: number;
  /** L / ‖B‖²_F. */
  relLoss: number;
  /** Objective minimised: L + ½γ‖A1XA2ᵀ‖² (equals loss when γ = 0). */
  objective: number;
  /** ‖∇f(X)‖_F of the reduced objective. */
  gradNorm: number;
  /** Seconds since the start began. */
  seconds: number;
  /** Step length accepted by the line search (newton, lbfgs), step norm (newton-cg, adam). */
  step?: number;
  /** newton: Levenberg–Marquardt shift μ to try first at the next iteration. */
  damping?: number;
  /** newton-cg: trust-region radius for the next iteration. */
  radius?: number;
}

/** Method state needed to continue deterministically (beyond X, Y and the iteration). */
export interface MethodState {
  damping?: number;
  radius?: number;
  lbfgs?: { s: number[][]; y: number[][] };
  adam?: { m: number[]; v: number[]; t: number; lr: number };
}

/** What onIteration receives. */
export type IterationEvent = IterationRecord & { start: number; X: Float64Array; Y: Float64Array; state: MethodState };

/** Outcome of one fit: the point reached and how the run ended (shared by a start and the solve). */
export interface FitOutcome {
  X: Float64Array;
  Y: Float64Array;
  loss: number;
  relLoss: number;
  objective: number;
  gradNorm: number;
  iterations: number;
  converged: boolean;
  stopReason: StopReason;
  /** Plain-language outcome, e.g. "stationary point, relative loss 0.23 — not a zero-residual fit". */
  message: string;
  seconds: number;
  history: IterationRecord[];
}

/** A finished start (resume input and report entry). */
export interface StartResult extends FitOutcome {
  start: number;
  /** 'x0' (the warm start), 'random' (seed), or 'search' (the best start of the search). */
  init: 'x0' | 'random' | 'search';
  seed?: number;
}

/** Hooks of {@link solve}. */
export interface SolveHooks {
  onIteration?(rec: IterationEvent): void | Promise<void>;
  signal?: AbortSignal;
  /** Continue a solve from a checkpoint (the last onIteration event of start `start`). */
  resume?: {
    X: Float64Array;
    Y: Float64Array;
    iteration: number;
    history: IterationRecord[];
    state?: MethodState;
    /** Start index being resumed (default 0). */
    start?: number;
    /** Results of the starts before `start`. */
    previous?: StartResult[];
  };
}

/** Result of {@link solve}: the best start's outcome, plus every start. */
export interface SolveResult extends FitOutcome {
  method: SolveMethod;
  interrupted: boolean;
  /** Index of the best start. */
  bestStart: number;
  starts: StartResult[];
  /** Present when the fit-from-scratch search ran. */
  search?: SearchReport;
}

/** Start families of the search: structured ("attend to similar tokens"), random, and hops. */
export type SearchFamily = 'identity' | 'whitened' | 'random' | 'hop';

/** Options of the fit-from-scratch search. Defaults: SEARCH_DEFAULTS. */
export interface SearchOptions {
  /** Ladder of target logit spreads (RMS of A1 X0 A2ᵀ within rows) of the structured and random starts. */
  spreads: number[];
  /** Random starts per spread. */
  randomPerSpread: number;
  /** L-BFGS iterations given to the survivors in each halving round. */
  rounds: number[];
  /** Keep 1/eta of the population after each round. */
  eta: number;
  /** Candidates polished with the solve method at the end. */
  finalists: number;
  /** Iterations of the solve method per finalist (capped by maxIter): a start in the right basin
   * converges quadratically well within it; one that does not is in a wrong basin or a flat valley. */
  polishIter: number;
  /** Basin-hopping rounds after the first population (each from the best point so far). */
  hops: number;
  /** L-BFGS iterations of a hop's starts before polishing (halving rounds, like `rounds`). */
  hopRounds: number[];
  /** Hop h perturbs the (h mod hopCentres)-th best distinct local minimum found so far. */
  hopCentres: number;
  /** Candidates of a hop polished with the solve method (the rest are pruned after `hopRounds`). */
  hopFinalists: number;
  /** Perturbation radii of a hop, as logit spread relative to the best point's (one hop start per radius). */
  hopRadii: number[];
  /** Row-subsampled screening: fraction of the query rows (whole row blocks of the plan, chosen by
   * the seed) on which the first `screenRounds` halving rounds of the initial population run
   * (Y refit on those rows); survivors then move to all rows. 1 = off. Needs an oracle with
   * rowSubset (local and inline; others screen on all rows, and the report says so). */
  screenRows: number;
  /** Halving rounds of the initial population run on the row subset (≤ rounds.length). */
  screenRounds: number;
  /** Wall-clock cap in seconds (the only timing-dependent stop; reported as 'budget'). */
  budgetSeconds?: number;
  /** Cap on oracle evaluations, checked between rounds (deterministic); an evaluation on the
   * screening subset counts as its fraction of the rows. */
  maxEvals?: number;
}

/** One start of the search in the report. */
export interface SearchStart {
  index: number;
  family: SearchFamily;
  /** Target logit spread of the start (RMS within rows). */
  spread: number;
  seed?: number;
  /** The start a hop perturbed. */
  parent?: number;
  /** 'pruned@R' = dropped after halving round R; 'finalist' = polished; 'converged'; 'stopped' = the search ended first. */
  status: 'running' | 'finalist' | 'converged' | 'stopped' | `pruned@${number}`;
  iterations: number;
  /** Relative loss on all rows (null when the start never left the screening subset). */
  relLoss: number | null;
  /** Relative loss on the screening subset at the end of screening (screened starts only). */
  screenRelLoss?: number | null;
  /** Oracle evaluations this start used on all rows. */
  evals: number;
  /** Oracle evaluations this start used on the screening subset. */
  screenEvals?: number;
  /** Seconds this start computed (starts run side by side, so these overlap). */
  seconds: number;
}

/** The search section of a result and of report.json. */
export interface SearchReport {
  /** converged (a start reached tol), schedule (every round and hop ran), max-evals, budget, interrupted. */
  stopReason: 'converged' | 'schedule' | 'max-evals' | 'budget' | 'interrupted';
  seconds: number;
  /** Oracle evaluations on all rows. */
  evaluations: number;
  /** Row-subsampled screening as run: the subset's rows and blocks and the evaluations on it
   * (`rows` = n when it did not run, with the reason). */
  screen: {
    rows: number;
    n: number;
    blocks: number[];
    rounds: number;
    evaluations: number;
    /** All evaluations in full-row equivalents: evaluations + screen evaluations × rows / n. */
    equivalentEvaluations: number;
    reason?: string;
  };
  /** Index of the start returned. */
  best: number;
  options: SearchOptions;
  families: Array<{ family: SearchFamily; tried: number; bestRelLoss: number | null }>;
  starts: SearchStart[];
  /** The population's best relative loss each time it improved (for the plot). */
  bestSoFar: Array<{ seconds: number; evals: number; relLoss: number; start: number }>;
}
