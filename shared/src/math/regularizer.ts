/**
 * The paper's regulariser L_reg = ½γ‖A1 X A2ᵀ‖²_F = ½γ tr(Xᵀ G1 X G2), G1 = A1ᵀA1, G2 = A2ᵀA2;
 * gradient γ G1 X G2; Hessian γ G1 ⊗ G2 (row-major vec(X)). Weighted form (kept simple): per
 * query-row weights w_j ≥ 0 give ½γ Σ_j w_j ‖(A1 X A2ᵀ)_j‖², i.e. G1 = A1ᵀ diag(w) A1.
 */
import { dgemmBase } from '../kernels/index.js';
import { AttnfitError, ErrorCodes } from '../core/index.js';
import type { Problem } from './types.js';

/** Gram matrices G1 = A1ᵀ diag(w) A1 and G2 = A2ᵀ A2 (d×d each), or their row-block partials. */
export interface Gram {
  G1: Float64Array;
  G2: Float64Array;
}

/** Regulariser value and derivatives at X. */
export interface RegTerms {
  /** ½γ tr(Xᵀ G1 X G2). */
  loss: number;
  /** γ G1 X G2 (d×d). */
  gradX: Float64Array;
  /** γ G1 ⊗ G2 (d²×d²), omitted when `withHess` is false. */
  hess?: Float64Array;
}

/**
 * Row-block partial of the Gram matrices over rows [r0, r1) of A1 and of A2 (summing the
 * partials of any row partition gives {@link gram}). `weights` (length n, ≥ 0, optional) weights
 * row j of the logits. Example: `gramPartials(p, 0, 128)`.
 */
export function gramPartials(
  p: Pick<Problem, 'n' | 'd' | 'A1' | 'A2'>,
  r0: number,
  r1: number,
  weights?: ArrayLike<number>,
): Gram {
  const { n, d, A1, A2 } = p;
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 < r0 || r1 > n) {
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `rows: need integers 0 <= r0 <= r1 <= n = ${n} (got [${r0}, ${r1}))`,
      { details: { field: 'rows', value: [r0, r1] } },
    );
  }
  if (weights !== undefined) {
    if (weights.length !== n)
      throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `weights: length must be ${n} (got ${weights.length})`, {
        details: { field: 'weights' },
      });
    for (let j = r0; j < r1; j++) {
      const w = weights[j]!;
      if (!Number.isFinite(w) || w < 0)
        throw new AttnfitError(ErrorCodes.BAD_OPTION, `weights[${j}]: must be finite and >= 0 (got ${w})`, {
          details: { field: `weights[${j}]`, value: w },
        });
    }
  }
  const m = r1 - r0,
    G1 = new Float64Array(d * d),
    G2 = new Float64Array(d * d);
  if (m === 0) return { G1, G2 };
  if (weights === undefined) dgemmBase(true, false, d, d, m, 1, A1, r0 * d, d, A1, r0 * d, d, 0, G1, 0, d);
  else {
    const WA = new Float64Array(m * d);
    for (let j = 0; j < m; j++) {
      const w = weights[r0 + j]!;
      for (let a = 0; a < d; a++) WA[j * d + a] = w * A1[(r0 + j) * d + a]!;
    }
    dgemmBase(true, false, d, d, m, 1, A1, r0 * d, d, WA, 0, d, 0, G1, 0, d);
  }
  dgemmBase(true, false, d, d, m, 1, A2, r0 * d, d, A2, r0 * d, d, 0, G2, 0, d);
  return { G1, G2 };
}

/** Full Gram matrices G1 = A1ᵀ diag(w) A1, G2 = A2ᵀ A2. Example: `const { G1, G2 } = gram(p)`. */
export function gram(p: Pick<Problem, 'n' | 'd' | 'A1' | 'A2'>, weights?: ArrayLike<number>): Gram {
  return gramPartials(p, 0, p.n, weights);
}

/**
 * Regulariser terms at X (d×d): loss ½γ tr(Xᵀ G1 X G2), gradX γ G1 X G2, hess γ G1 ⊗ G2
 * (d²×d², 8·d⁴ bytes; pass withHess = false to skip it). Example: `regTerms(G1, G2, X, d, 1e-3)`.
 */
export function regTerms(
  G1: Float64Array,
  G2: Float64Array,
  X: Float64Array,
  d: number,
  gamma: number,
  withHess = true,
): RegTerms {
  if (!Number.isInteger(d) || d < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `regTerms: d must be an integer >= 1 (got ${d})`, {
      details: { field: 'd', value: d },
    });
  if (!Number.isFinite(gamma) || gamma < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `regTerms: gamma must be a finite number >= 0 (got ${gamma})`, {
      details: { field: 'gamma', value: gamma },
    });
  for (const [name, a] of [
    ['G1', G1],
    ['G2', G2],
    ['X', X],
  ] as const) {
    if (a.length !== d * d)
      throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `regTerms: ${name} length must be ${d * d} (got ${a.length})`, {
        details: { field: name },
      });
  }
  const dd = d * d;
  const T = new Float64Array(dd),
    gradX = new Float64Array(dd);
  dgemmBase(false, false, d, d, d, 1, G1, 0, d, X, 0, d, 0, T, 0, d);
  dgemmBase(false, false, d, d, d, gamma, T, 0, d, G2, 0, d, 0, gradX, 0, d);
  let s = 0;
  for (let i = 0; i < dd; i++) s += X[i]! * gradX[i]!; // tr(Xᵀ γ G1 X G2)
  const out: RegTerms = { loss: 0.5 * s, gradX };
  if (withHess) {
    const H = new Float64Array(dd * dd);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        const row = (a * d + b) * dd;
        for (let a2 = 0; a2 < d; a2++) {
          const g1 = gamma * G1[a * d + a2]!;
          for (let b2 = 0; b2 < d; b2++) H[row + a2 * d + b2] = g1 * G2[b * d + b2]!;
        }
      }
    out.hess = H;
  }
  return out;
}
