/**
 * GEMM block sizes — the one table every blocked backend reads (BLIS: `bli_cntx` blocksizes).
 *
 * Loop nest (BLIS order, see gemm-driver.ts): jc over N in steps of NC → pack op(B)[:, jc:jc+NC]
 * (all of K, as K/KC panels of KC×NC) → ic over M in steps of MC → pc over K in steps of KC →
 * pack op(A)[ic:ic+MC, pc:pc+KC] → macro-kernel (jr over NC by NR, ir over MC by MR) → MR×NR
 * micro-kernel. The C block (MC×NC) lives in a buffer next to the packed panels and is copied out
 * once, after its last pc step, so C is read at most once (β ≠ 0) and written once.
 *
 * Reasoning for the numbers (target: a core with 32–48 KiB L1d, ≥ 1 MiB L2, float64 = 8 bytes):
 * - MR×NR is fixed by registers: the tile's MR·NR/2 f64x2 accumulators + NR/2 B vectors + one
 *   broadcast A value must fit the 16 xmm registers V8 allocates on x64. WebAssembly 2×8:
 *   8 + 4 + 1 = 13. Measured (mul+add kernel, 1024³, this repo's bench): 2×8 ≈ 23, 4×4 ≈ 20,
 *   6×4 / 4×6 / 3×8 ≈ 12–13 (spills), 8×2 ≈ 9 GFLOP/s; unrolling k by 2 or 4 was slower.
 *   Per k the loop issues 8 f64x2 multiply-adds: 8 f64x2.relaxed_madd (one vfmadd each) in the
 *   FMA variant (shared/wasm/gemm-fma.wat; relaxed SIMD is on by default from Node 22 and enabled
 *   on Node 20 by shared/native/wasm-flags.js), or 8 mul + 8 add in the plain variant
 *   (shared/wasm/gemm.wat). With two vector FMA pipes, two-lane FMAs peak at 8 flops/cycle;
 *   mul+add needs twice the instructions for the same flops (1024³: ~18 against ~22 GFLOP/s).
 *   The plain-TS kernel keeps 16 scalar accumulators (4×4) — V8 spills a few, still fastest in JS.
 * - KC = 256: one KC×NR B micro-panel (256·8·8 = 16 KiB) plus the MR rows of Ã it multiplies
 *   (2·256·8 = 4 KiB) stay in L1 for the whole micro-kernel; KC is also long enough to amortise
 *   loading/storing the C tile.
 * - MC = 128: the Ã block (128·256·8 = 256 KiB, row-major, see packA) stays in L2 while the
 *   macro-kernel sweeps all NC columns; the C buffer MC×NC (128·512·8 = 512 KiB) shares L2.
 * - NC = 512: the KC×NC B̃ panel (1 MiB) streams from L2/L3 once per MC block; a larger NC only
 *   grows the C buffer (1024–4096 measured no better). For attention shapes (K = d ≤ 64) there
 *   is one pc step and C blocks are produced in a single pass.
 */
export interface GemmBlocking {
  /** Rows of the register tile. */ readonly mr: number;
  /** Columns of the register tile. */ readonly nr: number;
  /** Rows of op(A) packed per block (multiple of mr). */ readonly mc: number;
  /** Depth (K) of one packed panel. */ readonly kc: number;
  /** Columns of op(B) packed per block (multiple of nr). */ readonly nc: number;
}

/** Block sizes per backend (frozen). */
export const GEMM_BLOCKING: Readonly<Record<'wasm' | 'ts', GemmBlocking>> = Object.freeze({
  wasm: Object.freeze({ mr: 2, nr: 8, mc: 128, kc: 256, nc: 512 }),
  ts: Object.freeze({ mr: 4, nr: 4, mc: 128, kc: 256, nc: 512 }),
});

/**
 * Below this many multiply-adds (M·N·K) a blocked backend calls the reference kernel directly:
 * packing and buffer copies cost more than they save on tiny products (d×d solver algebra).
 */
export const GEMM_SMALL_MNK = 4096;
