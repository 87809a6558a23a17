/**
 * Symmetric indefinite factorization P A Pᵀ = L D Lᵀ (Bunch–Kaufman partial pivoting, 1×1 and
 * 2×2 pivots) and the inertia of A (counts of positive, negative and zero eigenvalues, by
 * Sylvester's law read off the blocks of D). Used to detect indefiniteness of Newton Hessians.
 */
import { checkInt, checkMatrix, checkFinite } from './checks.js';

/** Inertia of a symmetric matrix: numbers of positive, negative and (numerically) zero eigenvalues. */
export interface Inertia {
  positive: number;
  negative: number;
  zero: number;
}

/** Result of {@link ldlt}: (P A Pᵀ)[i,j] = A[perm[i], perm[j]] = (L D Lᵀ)[i,j]. */
export interface LdltFactor {
  n: number;
  /** n×n unit lower triangular, row-major. */
  L: Float64Array;
  /** Diagonal of the block diagonal D (length n). */
  D: Float64Array;
  /** Sub-diagonal of D (length max(n−1, 0)): E[k] ≠ 0 only where rows k, k+1 form a 2×2 block. */
  E: Float64Array;
  /** Row/column order: row i of P A Pᵀ is row perm[i] of A. */
  perm: Int32Array;
  /** 1 for a 1×1 pivot at k, 2 at the first row of a 2×2 pivot, 0 at its second row. */
  blocks: Int8Array;
  inertia: Inertia;
  /** Smallest |1×1 pivot| or |2×2 block eigenvalue| (0 if singular), for diagnostics. */
  minAbsPivot: number;
}

const ALPHA = (1 + Math.sqrt(17)) / 8;

/**
 * Bunch–Kaufman LDLᵀ of the symmetric n×n matrix at A[offA] (lda; both triangles are read and
 * the matrix is assumed symmetric; A is not modified). Eigenvalue-sized pivots below
 * `zeroTol` (default n·2⁻⁵²·max|A|) count as zero in the inertia. Cost ~n³/3 flops.
 * Example: `ldlt(2, new Float64Array([0, 1, 1, 0])).inertia` → { positive: 1, negative: 1, zero: 0 }.
 * One function on purpose: the pivot choice and the 1×1 / 2×2 elimination share the working
 * copy and the permutation state, step by step as in Bunch–Kaufman's published algorithm.
 */
export function ldlt(n: number, A: Float64Array, offA = 0, lda = n, zeroTol?: number): LdltFactor {
  checkInt('ldlt', 'n', n, 0);
  checkMatrix('ldlt', 'A', A, n, n, offA, lda);
  checkFinite('ldlt', 'A', A, n, n, offA, lda);
  const W = new Float64Array(n * n);
  let amax = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const v = A[offA + i * lda + j]!;
      W[i * n + j] = v;
      if (Math.abs(v) > amax) amax = Math.abs(v);
    }
  const tol = zeroTol ?? n * 2 ** -52 * amax;
  const L = new Float64Array(n * n);
  const D = new Float64Array(n);
  const E = new Float64Array(Math.max(n - 1, 0));
  const perm = new Int32Array(n);
  const blocks = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    perm[i] = i;
    L[i * n + i] = 1;
  }
  const inertia: Inertia = { positive: 0, negative: 0, zero: 0 };
  let minAbsPivot = Infinity;
  const count = (ev: number) => {
    const a = Math.abs(ev);
    if (a < minAbsPivot) minAbsPivot = a;
    if (a <= tol) inertia.zero++;
    else if (ev > 0) inertia.positive++;
    else inertia.negative++;
  };
  const swap = (p: number, q: number, k: number) => {
    // Symmetric swap of rows/columns p and q of the trailing matrix W, rows of L's finished columns.
    for (let j = 0; j < n; j++) {
      const t = W[p * n + j]!;
      W[p * n + j] = W[q * n + j]!;
      W[q * n + j] = t;
    }
    for (let i = 0; i < n; i++) {
      const t = W[i * n + p]!;
      W[i * n + p] = W[i * n + q]!;
      W[i * n + q] = t;
    }
    for (let j = 0; j < k; j++) {
      const t = L[p * n + j]!;
      L[p * n + j] = L[q * n + j]!;
      L[q * n + j] = t;
    }
    const t = perm[p]!;
    perm[p] = perm[q]!;
    perm[q] = t;
  };
  let k = 0;
  while (k < n) {
    const absakk = Math.abs(W[k * n + k]!);
    let imax = k,
      colmax = 0;
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(W[i * n + k]!);
      if (v > colmax) {
        colmax = v;
        imax = i;
      }
    }
    let kstep = 1,
      kp: number;
    if (Math.max(absakk, colmax) === 0) {
      // Zero column: a zero 1×1 pivot, nothing to eliminate.
      D[k] = 0;
      blocks[k] = 1;
      count(0);
      k += 1;
      continue;
    }
    if (absakk >= ALPHA * colmax) kp = k;
    else {
      let rowmax = 0;
      for (let j = k; j < n; j++) if (j !== imax) rowmax = Math.max(rowmax, Math.abs(W[imax * n + j]!));
      if (absakk >= ALPHA * colmax * (colmax / rowmax)) kp = k;
      else if (Math.abs(W[imax * n + imax]!) >= ALPHA * rowmax) kp = imax;
      else {
        kp = imax;
        kstep = 2;
      }
    }
    const kk = k + kstep - 1;
    if (kp !== kk) swap(kk, kp, k);
    if (kstep === 1) {
      const d = W[k * n + k]!;
      D[k] = d;
      blocks[k] = 1;
      count(d);
      if (d !== 0) {
        const inv = 1 / d;
        for (let i = k + 1; i < n; i++) L[i * n + k] = W[i * n + k]! * inv;
        for (let i = k + 1; i < n; i++) {
          const wik = W[i * n + k]!;
          if (wik === 0) continue;
          const li = wik * inv;
          for (let j = k + 1; j < n; j++) W[i * n + j] -= li * W[k * n + j]!;
        }
      }
    } else {
      const a = W[k * n + k]!,
        b = W[(k + 1) * n + k]!,
        c = W[(k + 1) * n + k + 1]!;
      D[k] = a;
      D[k + 1] = c;
      E[k] = b;
      blocks[k] = 2;
      blocks[k + 1] = 0;
      // Eigenvalues of [[a, b], [b, c]].
      const mean = 0.5 * (a + c),
        rad = Math.hypot(0.5 * (a - c), b);
      count(mean + rad);
      count(mean - rad);
      const det = a * c - b * b;
      const i00 = c / det,
        i01 = -b / det,
        i11 = a / det;
      for (let i = k + 2; i < n; i++) {
        const w0 = W[i * n + k]!,
          w1 = W[i * n + k + 1]!;
        const l0 = w0 * i00 + w1 * i01,
          l1 = w0 * i01 + w1 * i11;
        L[i * n + k] = l0;
        L[i * n + k + 1] = l1;
        for (let j = k + 2; j < n; j++) W[i * n + j] -= l0 * W[k * n + j]! + l1 * W[(k + 1) * n + j]!;
      }
    }
    k += kstep;
  }
  if (n === 0) minAbsPivot = 0;
  return { n, L, D, E, perm, blocks, inertia, minAbsPivot };
}

/**
 * Solve A x = b with a factorization from {@link ldlt}; returns x (length n). Throws RangeError
 * if a pivot block is singular. Example: `ldltSolve(ldlt(2, A), new Float64Array([1, 2]))`.
 */
export function ldltSolve(f: LdltFactor, b: ArrayLike<number>): Float64Array {
  const { n, L, D, E, perm, blocks } = f;
  if (b.length < n) throw new RangeError(`ldltSolve: b too short (length ${b.length}, needs ${n})`);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = b[perm[i]!]!;
  for (let i = 0; i < n; i++) {
    let s = y[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s;
  }
  for (let k = 0; k < n;) {
    if (blocks[k] === 1) {
      if (D[k] === 0) throw new RangeError(`ldltSolve: singular pivot at ${k}`);
      y[k] = y[k]! / D[k]!;
      k += 1;
    } else {
      const a = D[k]!,
        c = D[k + 1]!,
        bb = E[k]!,
        det = a * c - bb * bb;
      if (det === 0) throw new RangeError(`ldltSolve: singular 2x2 pivot at ${k}`);
      const y0 = y[k]!,
        y1 = y[k + 1]!;
      y[k] = (c * y0 - bb * y1) / det;
      y[k + 1] = (a * y1 - bb * y0) / det;
      k += 2;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * y[k]!;
    y[i] = s;
  }
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[perm[i]!] = y[i]!;
  return x;
}

/** Inertia of the symmetric n×n matrix A via {@link ldlt}. Example: `inertia(n, H).negative > 0` ⇒ indefinite. */
export function inertia(n: number, A: Float64Array, offA = 0, lda = n, zeroTol?: number): Inertia {
  return ldlt(n, A, offA, lda, zeroTol).inertia;
}
