/**
 * The linear Y-subproblem: for fixed X, L is least squares in Y with M = F A3:
 * Y*(X) = (MᵀM + λI)⁻¹ MᵀB, and H_yy = 2 (MᵀM) ⊗ I_d in row-major vec(Y).
 */
import { choleskyBase, choleskySolveBase } from '../kernels/index.js';
import { AttnfitError, ErrorCodes } from '../core/index.js';

/** Most times the ridge is raised (×10 each) before giving up. */
const MAX_RIDGE_RAISES = 40;

function checkDDArg(fn: string, field: string, a: Float64Array, d: number): void {
  if (!Number.isInteger(d) || d < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${fn}: d must be an integer >= 1 (got ${d})`, {
      details: { field: 'd', value: d },
    });
  if (a.length !== d * d)
    throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `${fn}: ${field} length must be ${d * d} (got ${a.length})`, {
      details: { field, value: a.length },
    });
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!))
      throw new AttnfitError(ErrorCodes.NON_FINITE, `${fn}: ${field}[${i}] must be finite (got ${a[i]})`, {
        details: { field, value: String(a[i]) },
      });
  }
}

/**
 * Cholesky factor of MtM + λI, raising λ (first to 1e-14·max(diag, tiny), then ×10) until it is
 * positive definite. Returns the factor (lower, d×d) and the λ actually used.
 */
function ridgeFactor(fn: string, MtM: Float64Array, d: number, lambda: number): { L: Float64Array; lambda: number } {
  if (!Number.isFinite(lambda) || lambda < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${fn}: lambda must be a finite number >= 0 (got ${lambda})`, {
      details: { field: 'lambda', value: lambda },
    });
  let diagMax = 0;
  for (let i = 0; i < d; i++) diagMax = Math.max(diagMax, Math.abs(MtM[i * d + i]!));
  const floor = 1e-14 * Math.max(diagMax, 1e-300);
  let lam = lambda;
  const L = new Float64Array(d * d);
  for (let attempt = 0; attempt <= MAX_RIDGE_RAISES; attempt++) {
    L.set(MtM);
    for (let i = 0; i < d; i++) L[i * d + i] += lam;
    if (choleskyBase(d, L, 0, d) < 0) return { L, lambda: lam };
    lam = lam < floor ? floor : lam * 10;
  }
  throw new AttnfitError(
    ErrorCodes.INTERNAL,
    `${fn}: MtM + lambda*I is not positive definite even with lambda ${lam}`,
    { details: { field: 'lambda', value: lam } },
  );
}

/**
 * Y* = (MᵀM + λI)⁻¹ MᵀB (d×d) via Cholesky, and the ridge λ actually used (raised if MᵀM + λI
 * is not numerically positive definite, e.g. MᵀM singular at X = 0 with λ = 0).
 * Example: `const { Y, lambda } = solveYStarDetailed(MtM, MtB, d, 1e-12)`.
 */
export function solveYStarDetailed(
  MtM: Float64Array,
  MtB: Float64Array,
  d: number,
  lambda: number,
): { Y: Float64Array; lambda: number } {
  checkDDArg('solveYStar', 'MtM', MtM, d);
  checkDDArg('solveYStar', 'MtB', MtB, d);
  const f = ridgeFactor('solveYStar', MtM, d, lambda);
  const Y = Float64Array.from(MtB);
  choleskySolveBase(d, d, f.L, 0, d, Y, 0, d);
  return { Y, lambda: f.lambda };
}

/**
 * Y* = (MᵀM + λI)⁻¹ MᵀB (d×d row-major) via Cholesky; robust: λ is raised if needed (see
 * {@link solveYStarDetailed}). Example: `solveYStar(part.MtM!, part.MtB!, d, 1e-12)`.
 */
export function solveYStar(MtM: Float64Array, MtB: Float64Array, d: number, lambda: number): Float64Array {
  return solveYStarDetailed(MtM, MtB, d, lambda).Y;
}

/**
 * H_yy = 2 (MᵀM + λI) ⊗ I_d (d²×d², row-major vec(Y)); λ (default 0) adds the Hessian of the
 * ridge term λ‖Y‖²_F that {@link solveYStar} minimises with. Example: `hessYY(MtM, d)`.
 */
export function hessYY(MtM: Float64Array, d: number, lambda = 0): Float64Array {
  checkDDArg('hessYY', 'MtM', MtM, d);
  const dd = d * d,
    H = new Float64Array(dd * dd);
  for (let c = 0; c < d; c++)
    for (let c2 = 0; c2 < d; c2++) {
      const v = 2 * (MtM[c * d + c2]! + (c === c2 ? lambda : 0));
      for (let e = 0; e < d; e++) H[(c * d + e) * dd + c2 * d + e] = v;
    }
  return H;
}

/**
 * H_yy⁻¹ vec(V) = ½ (MᵀM + λI)⁻¹ V (d×d), via one d×d Cholesky (not the d²×d² matrix). λ
 * defaults to 0 and is raised like in {@link solveYStar} if MᵀM + λI is not positive definite.
 * Example: `applyHessYYInverse(MtM, d, Hyx_v)`.
 */
export function applyHessYYInverse(MtM: Float64Array, d: number, V: Float64Array, lambda = 0): Float64Array {
  checkDDArg('applyHessYYInverse', 'MtM', MtM, d);
  checkDDArg('applyHessYYInverse', 'V', V, d);
  const f = ridgeFactor('applyHessYYInverse', MtM, d, lambda);
  const Z = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) Z[i] = 0.5 * V[i]!;
  choleskySolveBase(d, d, f.L, 0, d, Z, 0, d);
  return Z;
}
