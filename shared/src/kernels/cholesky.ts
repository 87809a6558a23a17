/**
 * Cholesky factorization A = L Lᵀ (row-major, lower) and SPD solves.
 */
import { checkInt, checkMatrix, checkFinite } from './checks.js';
import { NotPositiveDefiniteError } from './linalg-errors.js';

/**
 * Unchecked in-place Cholesky of the n×n SPD matrix at A[offA], leading dimension lda. Reads
 * only the lower triangle (diagonal included) and overwrites it with L; the strict upper
 * triangle is not touched. Returns −1 on success, or the 0-based pivot k at which the reduced
 * diagonal d = A[k,k] − Σ_{i<k} L[k,i]² is not > 0; then A[k,k] holds d (LAPACK dpotrf style)
 * and rows > k are unchanged.
 */
export function choleskyBase(n: number, A: Float64Array, offA: number, lda: number): number {
  for (let j = 0; j < n; j++) {
    const rj = offA + j * lda;
    let d = A[rj + j]!;
    for (let k = 0; k < j; k++) {
      const v = A[rj + k]!;
      d -= v * v;
    }
    if (!(d > 0)) {
      A[rj + j] = d;
      return j;
    }
    const ljj = Math.sqrt(d);
    A[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = offA + i * lda;
      let s = A[ri + j]!;
      for (let k = 0; k < j; k++) s -= A[ri + k]! * A[rj + k]!;
      A[ri + j] = s * inv;
    }
  }
  return -1;
}

/**
 * Checked in-place Cholesky (see {@link choleskyBase}); also zeroes the strict upper triangle so
 * A holds exactly L. Throws {@link NotPositiveDefiniteError} naming the pivot k and its value.
 * Example: `cholesky(3, A, 0, 3)`.
 */
export function cholesky(n: number, A: Float64Array, offA = 0, lda = n): void {
  checkInt('cholesky', 'n', n, 0);
  checkMatrix('cholesky', 'A', A, n, n, offA, lda);
  const k = choleskyBase(n, A, offA, lda);
  if (k >= 0) throw new NotPositiveDefiniteError('cholesky', k, A[offA + k * lda + k]!);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[offA + i * lda + j] = 0;
}

/**
 * Unchecked: solve L Lᵀ X = B in place for nrhs right-hand sides (B is n×nrhs at offB, ldb),
 * L the lower factor from {@link choleskyBase}.
 */
export function choleskySolveBase(
  n: number,
  nrhs: number,
  L: Float64Array,
  offL: number,
  ldl: number,
  B: Float64Array,
  offB: number,
  ldb: number,
): void {
  // Forward: L Z = B.
  for (let i = 0; i < n; i++) {
    const li = offL + i * ldl,
      bi = offB + i * ldb;
    for (let k = 0; k < i; k++) {
      const l = L[li + k]!;
      if (l === 0) continue;
      const bk = offB + k * ldb;
      for (let c = 0; c < nrhs; c++) B[bi + c] -= l * B[bk + c]!;
    }
    const inv = 1 / L[li + i]!;
    for (let c = 0; c < nrhs; c++) B[bi + c] *= inv;
  }
  // Backward: Lᵀ X = Z.
  for (let i = n - 1; i >= 0; i--) {
    const bi = offB + i * ldb;
    for (let k = i + 1; k < n; k++) {
      const l = L[offL + k * ldl + i]!;
      if (l === 0) continue;
      const bk = offB + k * ldb;
      for (let c = 0; c < nrhs; c++) B[bi + c] -= l * B[bk + c]!;
    }
    const inv = 1 / L[offL + i * ldl + i]!;
    for (let c = 0; c < nrhs; c++) B[bi + c] *= inv;
  }
}

/**
 * Solve the SPD system A X = B (A n×n, B n×nrhs, both dense row-major, not modified); returns
 * X as a new array. Throws {@link NotPositiveDefiniteError} if A is not positive definite and
 * RangeError on bad shapes or non-finite input. Example: `solveSPD(2, [4,1,1,3], [1,2])`.
 */
export function solveSPD(n: number, A: ArrayLike<number>, B: ArrayLike<number>, nrhs = 1): Float64Array {
  checkInt('solveSPD', 'n', n, 0);
  checkInt('solveSPD', 'nrhs', nrhs, 1);
  checkMatrix('solveSPD', 'A', A, n, n, 0, Math.max(1, n));
  checkMatrix('solveSPD', 'B', B, n, nrhs, 0, nrhs);
  checkFinite('solveSPD', 'A', A, n, n, 0, n);
  const L = Float64Array.from({ length: n * n }, (_, i) => A[i]!);
  const k = choleskyBase(n, L, 0, n);
  if (k >= 0) throw new NotPositiveDefiniteError('solveSPD', k, L[k * n + k]!);
  const X = Float64Array.from({ length: n * nrhs }, (_, i) => B[i]!);
  choleskySolveBase(n, nrhs, L, 0, n, X, 0, nrhs);
  return X;
}
