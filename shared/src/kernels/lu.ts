/**
 * LU factorization with partial (row) pivoting, P A = L U, and general dense solves.
 */
import { checkInt, checkMatrix, checkFinite } from './checks.js';
import { SingularMatrixError } from './linalg-errors.js';

/**
 * Unchecked in-place LU with partial pivoting of the n×n matrix at A[offA] (lda). On return
 * the strict lower triangle holds L (unit diagonal implied), the upper triangle U, and
 * ipiv[k] the row swapped with row k at step k (LAPACK dgetrf order). Returns −1 on success or
 * the first column k whose pivot is exactly 0 (factorization stops there).
 */
export function luFactorBase(n: number, A: Float64Array, offA: number, lda: number, ipiv: Int32Array): number {
  for (let k = 0; k < n; k++) {
    let p = k,
      best = Math.abs(A[offA + k * lda + k]!);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(A[offA + i * lda + k]!);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    ipiv[k] = p;
    if (!(best > 0)) return k;
    if (p !== k) {
      const rk = offA + k * lda,
        rp = offA + p * lda;
      for (let j = 0; j < n; j++) {
        const t = A[rk + j]!;
        A[rk + j] = A[rp + j]!;
        A[rp + j] = t;
      }
    }
    const rk = offA + k * lda;
    const inv = 1 / A[rk + k]!;
    for (let i = k + 1; i < n; i++) {
      const ri = offA + i * lda;
      const l = A[ri + k]! * inv;
      A[ri + k] = l;
      if (l === 0) continue;
      for (let j = k + 1; j < n; j++) A[ri + j] -= l * A[rk + j]!;
    }
  }
  return -1;
}

/** Unchecked: solve A X = B in place (B n×nrhs at offB, ldb) from {@link luFactorBase}'s output. */
export function luSolveBase(
  n: number,
  nrhs: number,
  LU: Float64Array,
  offA: number,
  lda: number,
  ipiv: Int32Array,
  B: Float64Array,
  offB: number,
  ldb: number,
): void {
  for (let k = 0; k < n; k++) {
    const p = ipiv[k]!;
    if (p !== k) {
      const bk = offB + k * ldb,
        bp = offB + p * ldb;
      for (let c = 0; c < nrhs; c++) {
        const t = B[bk + c]!;
        B[bk + c] = B[bp + c]!;
        B[bp + c] = t;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const li = offA + i * lda,
      bi = offB + i * ldb;
    for (let k = 0; k < i; k++) {
      const l = LU[li + k]!;
      if (l === 0) continue;
      const bk = offB + k * ldb;
      for (let c = 0; c < nrhs; c++) B[bi + c] -= l * B[bk + c]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    const ui = offA + i * lda,
      bi = offB + i * ldb;
    for (let k = i + 1; k < n; k++) {
      const u = LU[ui + k]!;
      if (u === 0) continue;
      const bk = offB + k * ldb;
      for (let c = 0; c < nrhs; c++) B[bi + c] -= u * B[bk + c]!;
    }
    const inv = 1 / LU[ui + i]!;
    for (let c = 0; c < nrhs; c++) B[bi + c] *= inv;
  }
}

/**
 * Solve the general system A X = B with partial pivoting (A n×n, B n×nrhs, dense row-major, not
 * modified); returns X as a new array. Throws {@link SingularMatrixError} on an exactly zero
 * pivot, RangeError on bad shapes or non-finite input. Example: `solveGeneral(2, [0,1,1,0], [2,3])`.
 */
export function solveGeneral(n: number, A: ArrayLike<number>, B: ArrayLike<number>, nrhs = 1): Float64Array {
  checkInt('solveGeneral', 'n', n, 0);
  checkInt('solveGeneral', 'nrhs', nrhs, 1);
  checkMatrix('solveGeneral', 'A', A, n, n, 0, Math.max(1, n));
  checkMatrix('solveGeneral', 'B', B, n, nrhs, 0, nrhs);
  checkFinite('solveGeneral', 'A', A, n, n, 0, n);
  const LU = Float64Array.from({ length: n * n }, (_, i) => A[i]!);
  const ipiv = new Int32Array(n);
  const k = luFactorBase(n, LU, 0, n, ipiv);
  if (k >= 0) throw new SingularMatrixError('solveGeneral', k);
  const X = Float64Array.from({ length: n * nrhs }, (_, i) => B[i]!);
  luSolveBase(n, nrhs, LU, 0, n, ipiv, X, 0, nrhs);
  return X;
}
