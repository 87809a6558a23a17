/**
 * GEMM block loops (BLIS `frame/3/gemm` layer), shared by every packed backend. The backend
 * supplies the workspace (a Float64Array: a JS array, or a view of WebAssembly memory) and the
 * macro-kernel; this file owns the loop nest, packing calls, β handling and copying C out.
 * Block sizes and their reasoning: gemm-blocking.ts.
 */
import type { GemmBlocking } from './gemm-blocking.js';
import { packA, packB } from './gemm-pack.js';

/** A packed GEMM backend: block sizes, a workspace and a macro-kernel. */
export interface GemmEngine {
  readonly blocking: GemmBlocking;
  /**
   * A workspace of at least `len` float64 elements: `ws[base … base + len)` (valid until the next
   * call). Every offset the driver passes to `macro` is an index into `ws`.
   */
  workspace(len: number): { ws: Float64Array; base: number };
  /**
   * Index in the workspace view of a[0] when `a` lives in the memory the macro-kernel reads (it
   * can then be used in place, unpacked, uncopied), else −1. Plain-JS engines always say −1.
   */
  resident(a: Float64Array): number;
  /**
   * C[0:mc, 0:nc] (acc ? += : =) A·B̃ where A (mc×kc, row-major, leading dimension lda) starts at
   * aOff — a packed block (lda = kc) or a resident operand — B̃ (kc×nc, NR-column micro-panels, see
   * packB) at bOff, and C at cOff with leading dimension ldc: the C buffer, or a resident C;
   * mc, nc multiples of mr, nr.
   */
  macro(
    mc: number,
    nc: number,
    kc: number,
    aOff: number,
    lda: number,
    bOff: number,
    cOff: number,
    ldc: number,
    acc: boolean,
  ): void;
}

const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;

/** C = β·C on an M×N block (β = 0 writes zeros and never reads C). */
export function scaleC(M: number, N: number, beta: number, C: Float64Array, offC: number, ldc: number): void {
  for (let i = 0; i < M; i++) {
    const c0 = offC + i * ldc;
    if (beta === 0) C.fill(0, c0, c0 + N);
    else if (beta !== 1) for (let j = 0; j < N; j++) C[c0 + j] *= beta;
  }
}

/**
 * Blocked row-major GEMM C = alpha·op(A)·op(B) + beta·C on `eng` (unchecked arguments; same
 * contract as dgemmRef, including: β = 0 never reads C; K = 0 or alpha = 0 only scales C).
 *
 * Resident operands (arrays living in the engine's memory, see GemmEngine.resident) skip copies:
 * a non-transposed A with M a multiple of mr is read in place instead of packed, and a C with
 * M, N multiples of mr, nr and β ∈ {0, 1} is written in place instead of through the C buffer.
 * The arithmetic is the same either way (same products, same order): results are bitwise equal.
 */
export function gemmBlocked(
  eng: GemmEngine,
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
  if (M === 0 || N === 0) return;
  if (alpha === 0 || K === 0) {
    scaleC(M, N, beta, C, offC, ldc);
    return;
  }
  const { mr, nr, mc: MC, kc: KC, nc: NC } = eng.blocking;
  const aRes = !transA && M % mr === 0 ? eng.resident(A) : -1;
  const cRes = (beta === 0 || beta === 1) && M % mr === 0 && N % nr === 0 ? eng.resident(C) : -1;
  const ncMax = roundUp(Math.min(N, NC), nr),
    mcMax = roundUp(Math.min(M, MC), mr),
    kcMax = Math.min(K, KC);
  // Workspace layout (elements, from base): [ Ã: mcMax·kcMax | B̃: K·ncMax | Cbuf: mcMax·ncMax ],
  // without Ã when A is resident and without Cbuf when C is.
  const aLen = aRes >= 0 ? 0 : mcMax * kcMax,
    bLen = K * ncMax,
    cLen = cRes >= 0 ? 0 : mcMax * ncMax;
  let { ws, base } = eng.workspace(aLen + bLen + cLen);
  const aOff = base,
    bOff = base + aLen,
    cOff = bOff + bLen;
  const aBase = aRes + offA,
    cBase = cRes + offC;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc),
      ncp = roundUp(nc, nr);
    for (let pc = 0; pc < K; pc += KC)
      packB(transB, B, offB, ldb, pc, jc, Math.min(KC, K - pc), nc, nr, alpha, ws, bOff + pc * ncp);
    for (let ic = 0; ic < M; ic += MC) {
      const mc = Math.min(MC, M - ic),
        mcp = roundUp(mc, mr);
      if (cRes < 0 && beta !== 0) {
        for (let i = 0; i < mc; i++) {
          const src = offC + (ic + i) * ldc + jc,
            d = cOff + i * ncp;
          if (beta === 1) ws.set(C.subarray(src, src + nc), d);
          else for (let j = 0; j < nc; j++) ws[d + j] = beta * C[src + j]!;
        }
      }
      for (let pc = 0; pc < K; pc += KC) {
        const kc = Math.min(KC, K - pc);
        let a = aOff,
          la = kc;
        if (aRes >= 0) {
          a = aBase + ic * lda + pc;
          la = lda;
        } else packA(transA, A, offA, lda, ic, pc, mc, kc, mcp, ws, aOff);
        if (cRes >= 0)
          eng.macro(mcp, ncp, kc, a, la, bOff + pc * ncp, cBase + ic * ldc + jc, ldc, pc > 0 || beta === 1);
        else eng.macro(mcp, ncp, kc, a, la, bOff + pc * ncp, cOff, ncp, pc > 0 || beta !== 0);
        ws = eng.workspace(0).ws; // the macro-kernel may not move memory, but re-read the view anyway
      }
      if (cRes < 0) {
        for (let i = 0; i < mc; i++) {
          const s = cOff + i * ncp;
          C.set(ws.subarray(s, s + nc), offC + (ic + i) * ldc + jc);
        }
      }
    }
  }
}
