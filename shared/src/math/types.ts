/**
 * The attention-regression problem and its summable row-block partials (docs/design.md §1).
 *
 * All matrices are float64, row-major. x = vec(X) row-major (numpy X.reshape(-1)).
 * L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F   (no ½, the paper's convention)
 *
 * Every quantity is a sum over query rows j, so a block of rows [r0, r1) is an independent unit
 * of work; `combinePartials` adds two blocks' partials. The full-problem result is the sum over
 * any row partition (in a fixed block order → bitwise reproducible).
 */

/** Problem tensors: A1, A2, A3, B are n×d row-major. */
export interface Problem {
  readonly n: number;
  readonly d: number;
  readonly A1: Float64Array;
  readonly A2: Float64Array;
  readonly A3: Float64Array;
  readonly B: Float64Array;
}

/** What a row-block evaluation should produce. Everything is of L (no ½). */
export interface Want {
  /** Σ_j ‖C_j‖² over the block. */
  loss?: boolean;
  /** ∇_X L partial (d×d). */
  gradX?: boolean;
  /** ∇_Y L partial (d×d). */
  gradY?: boolean;
  /** Exact ∇²_x L partial at fixed Y (d²×d², row-major vec(X)), batched three-part form. */
  hessXX?: boolean;
  /** Mixed block ∂²L/∂x∂y partial (d²×d²): rows index vec(X), columns vec(Y). */
  hessXY?: boolean;
  /** MᵀM and MᵀB partials with M = F A3 (d×d each): the normal equations of Y*(X). */
  normal?: boolean;
  /** Hessian-vector product ∇²_x L · vec(V) for this direction V (d×d). */
  hvpX?: Float64Array;
  /** Mixed product (∂(∇_X L)/∂Y)[Vy] = H_xy vec(Vy) for this Vy (d×d); result d×d. */
  mixedXY?: Float64Array;
  /** Transposed mixed product (∂(∇_Y L)/∂X)[Vx] = H_yx vec(Vx) for this Vx (d×d); result d×d. */
  mixedYX?: Float64Array;
}

/** Summable partials of one row block (or of the whole problem after combining). */
export interface Partials {
  /** Rows covered (r1 - r0 summed), for sanity checks. */
  rows: number;
  loss?: number;
  gradX?: Float64Array;
  gradY?: Float64Array;
  hessXX?: Float64Array;
  hessXY?: Float64Array;
  MtM?: Float64Array;
  MtB?: Float64Array;
  hvpX?: Float64Array;
  mixedXY?: Float64Array;
  mixedYX?: Float64Array;
}

/** Keys of Partials that hold Float64Array sums. */
export const ARRAY_PARTIAL_KEYS = ['gradX', 'gradY', 'hessXX', 'hessXY', 'MtM', 'MtB', 'hvpX', 'mixedXY', 'mixedYX'] as const;
export type ArrayPartialKey = (typeof ARRAY_PARTIAL_KEYS)[number];
