/**
 * Errors raised by the checked factorization entries. Kernels import nothing (not even
 * @attnfit/shared/core), so these are plain Errors with a stable upper-case `code` that
 * `errorToWire` preserves; callers branch on `code` (or catch and add context).
 */

/** A Cholesky factorization met a non-positive pivot. */
export class NotPositiveDefiniteError extends Error {
  readonly code = 'NOT_POSITIVE_DEFINITE';
  /** 0-based pivot index k at which the reduced diagonal was ≤ 0 (or NaN). */
  readonly pivot: number;
  /** The reduced diagonal value A[k,k] − Σ L[k,i]² that failed. */
  readonly value: number;
  constructor(fn: string, pivot: number, value: number) {
    super(`${fn}: matrix is not positive definite at pivot ${pivot} (reduced diagonal ${value})`);
    this.name = 'NotPositiveDefiniteError';
    this.pivot = pivot;
    this.value = value;
  }
}

/** An LU factorization met an exactly zero pivot column (the matrix is singular). */
export class SingularMatrixError extends Error {
  readonly code = 'SINGULAR_MATRIX';
  /** 0-based column at which no non-zero pivot was found. */
  readonly pivot: number;
  constructor(fn: string, pivot: number) {
    super(`${fn}: matrix is singular (zero pivot in column ${pivot})`);
    this.name = 'SingularMatrixError';
    this.pivot = pivot;
  }
}
