/**
 * Symmetric eigen-decomposition A = V diag(λ) Vᵀ by Householder tridiagonalization and the
 * implicit QL algorithm (EISPACK tred2/tql2, as in JAMA), run on the transposed work array so
 * every O(n³) loop is contiguous in row-major storage. Cost ~9n³ flops. Used for eigen-shift
 * damping of Newton Hessians.
 */
import { checkInt, checkMatrix, checkFinite } from './checks.js';

/** Result of {@link symEig}. */
export interface SymEig {
  n: number;
  /** Eigenvalues in ascending order (length n). */
  values: Float64Array;
  /** n×n row-major; column k (vectors[i*n + k], i = 0..n−1) is the unit eigenvector of values[k]. */
  vectors: Float64Array;
}

/**
 * Unchecked tridiagonalization + QL on the symmetric n×n row-major work matrix V (overwritten
 * with the eigenvectors as columns when wantVectors, else with scratch); d receives the
 * eigenvalues ascending; e is scratch (length n). Eigenvalues only costs ~4n³/3 flops.
 * Returns false if QL failed to converge (only for non-finite input).
 * One function on purpose: the two phases (tred2, tql2) share their in-place arrays and index
 * bookkeeping, as in the EISPACK/JAMA original they transcribe; split, they would be harder to
 * check against it.
 */
export function symEigBase(n: number, V: Float64Array, d: Float64Array, e: Float64Array, wantVectors = true): boolean {
  if (n === 0) return true;
  // --- tred2: Householder reduction to tridiagonal form.
  for (let j = 0; j < n; j++) d[j] = V[j * n + (n - 1)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0,
      h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[j * n + (i - 1)]!;
        V[j * n + i] = 0;
        V[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[i * n + j] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[j * n + k]! * d[k]!;
          e[k] = e[k]! + V[j * n + k]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[j * n + k] = V[j * n + k]! - (f * e[k]! + g * d[k]!);
        d[j] = V[j * n + (i - 1)]!;
        V[j * n + i] = 0;
      }
    }
    d[i] = h;
  }
  if (!wantVectors) {
    // Eigenvalues only: the tridiagonal's diagonal is V's diagonal; skip the accumulation.
    for (let j = 0; j < n; j++) d[j] = V[j * n + j]!;
  } else {
    for (let i = 0; i < n - 1; i++) {
      V[i * n + (n - 1)] = V[i * n + i]!;
      V[i * n + i] = 1;
      const h = d[i + 1]!;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = V[(i + 1) * n + k]! / h;
        for (let j = 0; j <= i; j++) {
          let g = 0;
          for (let k = 0; k <= i; k++) g += V[(i + 1) * n + k]! * V[j * n + k]!;
          for (let k = 0; k <= i; k++) V[j * n + k] = V[j * n + k]! - g * d[k]!;
        }
      }
      for (let k = 0; k <= i; k++) V[(i + 1) * n + k] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = V[j * n + (n - 1)]!;
      V[j * n + (n - 1)] = 0;
    }
    V[(n - 1) * n + (n - 1)] = 1;
  }
  e[0] = 0;

  // --- tql2: implicit QL on the tridiagonal matrix.
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0,
    tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m === n) m = n - 1; // e[n-1] = 0 always stops the scan; guard for NaN input
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) return false;
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1,
          c2 = c,
          c3 = c,
          s = 0,
          s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const ci = i * n,
            ci1 = (i + 1) * n;
          if (wantVectors)
            for (let k = 0; k < n; k++) {
              h = V[ci1 + k]!;
              V[ci1 + k] = s * V[ci + k]! + c * h;
              V[ci + k] = c * V[ci + k]! - s * h;
            }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  // Sort ascending (selection sort, columns of V follow).
  for (let i = 0; i < n - 1; i++) {
    let k = i,
      p = d[i]!;
    for (let j = i + 1; j < n; j++)
      if (d[j]! < p) {
        k = j;
        p = d[j]!;
      }
    if (k !== i) {
      d[k] = d[i]!;
      d[i] = p;
      if (wantVectors)
        for (let j = 0; j < n; j++) {
          const t = V[i * n + j]!;
          V[i * n + j] = V[k * n + j]!;
          V[k * n + j] = t;
        }
    }
  }
  // The loops above ran on Vᵀ (eigenvector k in row k, so the hot loops are contiguous);
  // transpose back so that column k holds eigenvector k.
  if (wantVectors)
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const t = V[i * n + j]!;
        V[i * n + j] = V[j * n + i]!;
        V[j * n + i] = t;
      }
  return true;
}

/**
 * Eigen-decomposition of the symmetric n×n matrix at A[offA] (lda; A not modified, the lower
 * triangle is what tred2 reads after symmetrisation by the caller — pass a symmetric matrix).
 * Throws RangeError on bad shape or non-finite entries. Example:
 * `symEig(2, new Float64Array([2, 1, 1, 2])).values` → [1, 3].
 */
export function symEig(n: number, A: Float64Array, offA = 0, lda = n): SymEig {
  checkInt('symEig', 'n', n, 0);
  checkMatrix('symEig', 'A', A, n, n, offA, lda);
  checkFinite('symEig', 'A', A, n, n, offA, lda);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) V[i * n + j] = A[offA + i * lda + j]!;
  const values = new Float64Array(n),
    e = new Float64Array(n);
  if (!symEigBase(n, V, values, e)) throw new RangeError(`symEig: QL iteration did not converge (n ${n})`);
  return { n, values, vectors: V };
}

/**
 * Eigenvalues (ascending) of the symmetric n×n matrix at A[offA] (lda; not modified), without
 * eigenvectors (~4n³/3 flops). Example: `symEigValues(2, new Float64Array([2, 1, 1, 2]))` → [1, 3].
 */
export function symEigValues(n: number, A: Float64Array, offA = 0, lda = n): Float64Array {
  checkInt('symEigValues', 'n', n, 0);
  checkMatrix('symEigValues', 'A', A, n, n, offA, lda);
  checkFinite('symEigValues', 'A', A, n, n, offA, lda);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) V[i * n + j] = A[offA + i * lda + j]!;
  const values = new Float64Array(n),
    e = new Float64Array(n);
  if (!symEigBase(n, V, values, e, false)) throw new RangeError(`symEigValues: QL iteration did not converge (n ${n})`);
  return values;
}

/** Smallest eigenvalue of the symmetric n×n matrix A (eigenvalues only). Example: `symEigMin(2, H)`. */
export function symEigMin(n: number, A: Float64Array, offA = 0, lda = n): number {
  if (n === 0) throw new RangeError('symEigMin: n must be an integer >= 1 (got 0)');
  return symEigValues(n, A, offA, lda)[0]!;
}
