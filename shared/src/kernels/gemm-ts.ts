/**
 * Plain-TypeScript packed GEMM backend ('ts'): BLIS block loops (gemm-driver.ts), packing
 * (gemm-pack.ts) and a 4×4 register-blocked micro-kernel in JS. The fallback when WebAssembly
 * SIMD is unavailable or ATTNFIT_GEMM=ts. Tiny products go straight to the reference kernel.
 */
import { GEMM_BLOCKING, GEMM_SMALL_MNK } from './gemm-blocking.js';
import { gemmBlocked, type GemmEngine } from './gemm-driver.js';
import { dgemmRef } from './gemm-ref.js';

let ws = new Float64Array(0);

/**
 * Macro-kernel with the 4×4 micro-kernel inlined: C[ir:ir+4, jr:jr+4] (=|+=) Σ_k Ã[:,k]·B̃[k,:].
 * Sixteen scalar accumulators; the four Ã rows (leading dimension lda = kc) and the B̃ micro-panel are
 * read sequentially in k.
 */
function macroTs(
  mc: number,
  nc: number,
  kc: number,
  aOff: number,
  lda: number,
  bOff: number,
  cOff: number,
  ldc: number,
  acc: boolean,
): void {
  const w = ws;
  for (let jr = 0; jr < nc; jr += 4) {
    const bp = bOff + jr * kc;
    for (let ir = 0; ir < mc; ir += 4) {
      let a0 = aOff + ir * lda,
        b = bp;
      const a1 = lda,
        a2 = 2 * lda,
        a3 = 3 * lda;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let k = 0; k < kc; k++, a0++, b += 4) {
        const b0 = w[b]!,
          b1 = w[b + 1]!,
          b2 = w[b + 2]!,
          b3 = w[b + 3]!;
        let x = w[a0]!;
        c00 += x * b0;
        c01 += x * b1;
        c02 += x * b2;
        c03 += x * b3;
        x = w[a0 + a1]!;
        c10 += x * b0;
        c11 += x * b1;
        c12 += x * b2;
        c13 += x * b3;
        x = w[a0 + a2]!;
        c20 += x * b0;
        c21 += x * b1;
        c22 += x * b2;
        c23 += x * b3;
        x = w[a0 + a3]!;
        c30 += x * b0;
        c31 += x * b1;
        c32 += x * b2;
        c33 += x * b3;
      }
      let c = cOff + ir * ldc + jr;
      if (acc) {
        w[c] += c00;
        w[c + 1] += c01;
        w[c + 2] += c02;
        w[c + 3] += c03;
        c += ldc;
        w[c] += c10;
        w[c + 1] += c11;
        w[c + 2] += c12;
        w[c + 3] += c13;
        c += ldc;
        w[c] += c20;
        w[c + 1] += c21;
        w[c + 2] += c22;
        w[c + 3] += c23;
        c += ldc;
        w[c] += c30;
        w[c + 1] += c31;
        w[c + 2] += c32;
        w[c + 3] += c33;
      } else {
        w[c] = c00;
        w[c + 1] = c01;
        w[c + 2] = c02;
        w[c + 3] = c03;
        c += ldc;
        w[c] = c10;
        w[c + 1] = c11;
        w[c + 2] = c12;
        w[c + 3] = c13;
        c += ldc;
        w[c] = c20;
        w[c + 1] = c21;
        w[c + 2] = c22;
        w[c + 3] = c23;
        c += ldc;
        w[c] = c30;
        w[c + 1] = c31;
        w[c + 2] = c32;
        w[c + 3] = c33;
      }
    }
  }
}

const tsEngine: GemmEngine = {
  blocking: GEMM_BLOCKING.ts,
  workspace(len: number) {
    if (len > ws.length) ws = new Float64Array(Math.max(len, Math.ceil(ws.length * 1.5)));
    return { ws, base: 0 };
  },
  resident: () => -1, // its workspace is a JS array: operands are always packed and copied
  macro: macroTs,
};

/**
 * Packed plain-TypeScript GEMM (unchecked; contract of {@link dgemmRef}): row-major
 * C = alpha·op(A)·op(B) + beta·C; β = 0 never reads C. Example (C = A·Bᵀ, A 2×3, B 2×3):
 * `dgemmTs(false, true, 2, 2, 3, 1, A, 0, 3, B, 0, 3, 0, C, 0, 2)`.
 */
export function dgemmTs(
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
  if (M * N * K < GEMM_SMALL_MNK) {
    dgemmRef(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
    return;
  }
  gemmBlocked(tsEngine, transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}

/** The packed TS backend without the small-size shortcut (tests and benchmarks). */
export function dgemmTsPacked(
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
  gemmBlocked(tsEngine, transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}
