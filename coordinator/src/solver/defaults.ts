/** Solver tunables in one place (units in names where they have units). */
import type { SearchOptions, SolveOptions } from './types.js';

/** auto method: exact-Hessian newton for d ≤ this, newton-cg (matrix-free) above. The reduced
 * Hessian is d²×d²: at d = 24 it is 576×576 (2.6 MB), its Schur complement costs O(d⁶) ≈ 2·10⁸
 * flops — still small next to the n²d² Hessian assembly for n ≥ 1000. */
export const NEWTON_MAX_D = 24;

/** Default options of solve(). Random start X0 entries are N(0, 1/d²) (scale X0_SCALE/d): the
 * logits A1 X0 A2ᵀ are then O(1) for unit-scale inputs, and X = 0 is avoided (uniform softmax
 * rows: MᵀM has rank one there, docs/design.md §1.12). */
export const SOLVE_DEFAULTS: Readonly<Omit<SolveOptions, 'x0' | 'y0'>> = Object.freeze({
  method: 'auto',
  tol: 1e-12,
  gtol: 1e-10,
  maxIter: 50,
  starts: 1,
  seed: 1,
  gamma: 0,
});

/** Random start scale: X0 = X0_SCALE/d · N(0, 1). */
export const X0_SCALE = 1;
/** Relative ridge of the Y normal equations: λ = RIDGE_REL · tr(MᵀM)/d. */
export const RIDGE_REL = 1e-13;
/** Armijo sufficient-decrease constant. */
export const ARMIJO_C1 = 1e-4;
/** Maximum step halvings in a backtracking line search before declaring a stall. */
export const MAX_BACKTRACK = 40;
/** L-BFGS memory (pairs). */
export const LBFGS_MEMORY = 10;
/** Adam defaults. */
export const ADAM = Object.freeze({ lr: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-12 });
/** newton-cg: initial trust radius (Frobenius norm of the X step) and its maximum. */
export const TR_RADIUS0 = 1;
export const TR_RADIUS_MAX = 1e3;

/**
 * Fit-from-scratch search defaults (see search.ts). Spreads: a √2 ladder from 0.5 to 16 — which
 * basin a start reaches depends on its logit spread, and trained heads sit anywhere in 1–30.
 * Population 11 spreads × (identity, whitened, 1 random) = 33 starts; halving 33 → 11 → 4 → 3 with
 * 3 + 12 L-BFGS iterations; 3 finalists polished side by side with the solve method (≤ 20 iterations,
 * more while the objective halves every 4, fewer when progress is slow); then up to 16 hop rounds of 3 perturbations of the best point (15 L-BFGS
 * iterations, then polished). Row-subsampled screening is off (screenRows 1): measured in
 * docs/solver.md, screening round 0 on ¼ of the rows pruned the start that fits the trained d = 16
 * head (its rows are not a representative sample), and the first round is a small part of the cost.
 */
export const SEARCH_DEFAULTS: Readonly<SearchOptions> = Object.freeze({
  spreads: Object.freeze([0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8, 11.3, 16]) as unknown as number[],
  randomPerSpread: 1,
  rounds: Object.freeze([3, 12]) as unknown as number[],
  eta: 3,
  finalists: 3,
  polishIter: 20,
  hops: 16,
  hopRounds: Object.freeze([15]) as unknown as number[],
  hopFinalists: 3,
  hopCentres: 1,
  hopRadii: Object.freeze([0.25, 0.5, 1]) as unknown as number[],
  screenRows: 1,
  screenRounds: 1,
});
