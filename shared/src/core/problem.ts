/**
 * The shapes every layer shares, declared once here (the lowest layer all may import): the
 * problem tensors, what a row-block evaluation is asked for ({@link Want}) and its summable
 * result ({@link Partials}). The math computes them, the thread protocol and the wire protocol
 * carry them (the wire forms in `@attnfit/shared/protocol` derive from these), I/O loads
 * problems of this shape. All matrices are float64, row-major; x = vec(X) row-major.
 */

/** Problem tensors: A1, A2, A3, B are n×d row-major float64. */
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

/** The boolean requests of {@link Want}. */
export const WANT_FLAGS = Object.freeze(['loss', 'gradX', 'gradY', 'hessXX', 'hessXY', 'normal'] as const);
/** The direction (d×d) requests of {@link Want}. */
export const WANT_DIRECTIONS = Object.freeze(['hvpX', 'mixedXY', 'mixedYX'] as const);

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
export const ARRAY_PARTIAL_KEYS = [
  'gradX',
  'gradY',
  'hessXX',
  'hessXY',
  'MtM',
  'MtB',
  'hvpX',
  'mixedXY',
  'mixedYX',
] as const;
export type ArrayPartialKey = (typeof ARRAY_PARTIAL_KEYS)[number];
