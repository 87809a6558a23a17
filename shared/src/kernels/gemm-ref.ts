/**
 * Reference GEMM in plain TypeScript (row-major, float64). It is the test oracle for every
 * faster backend and the fallback when no faster backend is available.
 *
 * C[offC + i*ldc + j] = alpha * Σ_k op(A)[i,k] op(B)[k,j] + beta * C[...]
 * op(A)[i,k] = transA ? A[offA + k*lda + i] : A[offA + i*lda + k]   (op(A) is M×K)
 * op(B)[k,j] = transB ? B[offB + j*ldb + k] : B[offB + k*ldb + j]   (op(B) is K×N)
 * When beta = 0, C is never read (NaN in C does not propagate).
 */
export function dgemmRef(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float64Array,
  offA: number,
  lda: number,
  B: Float64Array,
  offB: number,
  ldb: number,
  beta: number,
  C: Float64Array,
  offC: number,
  ldc: number,
): void {
  // Scale / clear C first.
  for (let i = 0; i < M; i++) {
    const c0 = offC + i * ldc;
    if (beta === 0) for (let j = 0; j < N; j++) C[c0 + j] = 0;
    else if (beta !== 1) for (let j = 0; j < N; j++) C[c0 + j] *= beta;
  }
  if (alpha === 0 || K === 0) return;
  if (!transB) {
    // C[i,:] += alpha * a_ik * B[k,:]  (B rows contiguous)
    for (let i = 0; i < M; i++) {
      const c0 = offC + i * ldc;
      for (let k = 0; k < K; k++) {
        const a = alpha * (transA ? A[offA + k * lda + i]! : A[offA + i * lda + k]!);
        if (a === 0) continue;
        const b0 = offB + k * ldb;
        for (let j = 0; j < N; j++) C[c0 + j] += a * B[b0 + j]!;
      }
    }
  } else if (!transA) {
    // dot products of contiguous rows: C[i,j] += alpha * A[i,:]·B[j,:]
    for (let i = 0; i < M; i++) {
      const a0 = offA + i * lda,
        c0 = offC + i * ldc;
      for (let j = 0; j < N; j++) {
        const b0 = offB + j * ldb;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[a0 + k]! * B[b0 + k]!;
        C[c0 + j] += alpha * s;
      }
    }
  } else {
    for (let i = 0; i < M; i++) {
      const c0 = offC + i * ldc;
      for (let j = 0; j < N; j++) {
        const b0 = offB + j * ldb;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[offA + k * lda + i]! * B[b0 + k]!;
        C[c0 + j] += alpha * s;
      }
    }
  }
}
