/** Solver tunables in one place (units in names where they have units). */
import type { SolveOptions } from './types.js';

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
