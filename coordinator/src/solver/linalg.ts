/**
 * Small dense helpers for the solver (row-major float64): Cholesky with shift, triangular
 * solves, Frobenius norms. Sizes are d×d or d²×d² (d ≤ ~32), so plain loops suffice.
 */

/**
 * Cholesky factor L (lower, row-major N×N) of A + shift·I. Returns null when not positive
 * definite (a pivot ≤ 0 or not finite). A is not modified.
 */
export function cholesky(A: Float64Array, N: number, shift = 0): Float64Array | null {
  const L = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * N + j]! + (i === j ? shift : 0);
      const ri = i * N,
        rj = j * N;
      for (let k = 0; k < j; k++) s -= L[ri + k]! * L[rj + k]!;
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j]!;
      }
    }
  }
  return L;
}

/**
 * Solve (L Lᵀ) Z = R in place for R of N rows and `cols` columns (row-major N×cols).
 */
export function cholSolveInPlace(L: Float64Array, N: number, R: Float64Array, cols: number): void {
  // forward: L W = R
  for (let i = 0; i < N; i++) {
    const ri = i * cols;
    for (let k = 0; k < i; k++) {
      const l = L[i * N + k]!;
      if (l === 0) continue;
      const rk = k * cols;
      for (let c = 0; c < cols; c++) R[ri + c]! -= l * R[rk + c]!;
    }
    const inv = 1 / L[i * N + i]!;
    for (let c = 0; c < cols; c++) R[ri + c]! *= inv;
  }
  // backward: Lᵀ Z = W
  for (let i = N - 1; i >= 0; i--) {
    const ri = i * cols;
    for (let k = i + 1; k < N; k++) {
      const l = L[k * N + i]!;
      if (l === 0) continue;
      const rk = k * cols;
      for (let c = 0; c < cols; c++) R[ri + c]! -= l * R[rk + c]!;
    }
    const inv = 1 / L[i * N + i]!;
    for (let c = 0; c < cols; c++) R[ri + c]! *= inv;
  }
}

/** Frobenius / Euclidean norm. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** Dot product. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** out = a + t·b (new array). */
export function axpy(a: Float64Array, t: number, b: Float64Array): Float64Array {
  const o = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i]! + t * b[i]!;
  return o;
}

/** Row-major transpose of an R×C matrix. */
export function transpose(A: Float64Array, R: number, C: number): Float64Array {
  const T = new Float64Array(R * C);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) T[j * R + i] = A[i * C + j]!;
  return T;
}

/** Mean of the diagonal of an N×N matrix (a scale for shifts). */
export function meanDiag(A: Float64Array, N: number): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += Math.abs(A[i * N + i]!);
  return s / N;
}

/**
 * Deterministic RNG (mulberry32) for seeded starts.
 * @example const r = rng(7); const u = r(); // in [0, 1)
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sample (Box–Muller) from a uniform RNG. */
export function randn(r: () => number): number {
  const u = Math.max(r(), 1e-300),
    v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
