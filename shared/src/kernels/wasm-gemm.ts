/**
 * WebAssembly SIMD GEMM backend ('wasm-simd'): the shared block loops and packing
 * (gemm-driver.ts, gemm-pack.ts) write straight into WebAssembly memory, and the macro-kernel
 * plus its 4×4 f64x2 micro-kernel (shared/wasm/gemm.wat) run inside WebAssembly. Memory grows on
 * demand; each thread has its own instance.
 */
import { GEMM_BLOCKING, GEMM_SMALL_MNK } from './gemm-blocking.js';
import { gemmBlocked, type GemmEngine } from './gemm-driver.js';
import { dgemmRef } from './gemm-ref.js';
import { wasmKernels } from './wasm-module.js';

const PAGE = 65536;

function makeEngine(): GemmEngine | null {
  if (!wasmKernels) return null;
  const g = wasmKernels.gemm;
  const blocking = GEMM_BLOCKING.wasm;
  if (g.MR.value !== blocking.mr || g.NR.value !== blocking.nr) {
    throw new Error(`wasm gemm: micro-kernel is ${g.MR.value}x${g.NR.value} but GEMM_BLOCKING.wasm says ${blocking.mr}x${blocking.nr}`);
  }
  let view = new Float64Array(g.memory.buffer);
  return {
    blocking,
    workspace(len: number): Float64Array {
      if (len > view.length) {
        const need = Math.ceil((len * 8) / PAGE) - g.memory.buffer.byteLength / PAGE;
        g.memory.grow(need);
      }
      if (view.buffer !== g.memory.buffer) view = new Float64Array(g.memory.buffer);
      return view;
    },
    macro(mc, nc, kc, aOff, bOff, cOff, ldc, acc) {
      g.macro(mc, nc, kc, aOff * 8, bOff * 8, cOff * 8, ldc, acc ? 1 : 0);
    },
  };
}

const engine = makeEngine();

/** True when the WebAssembly SIMD GEMM is usable in this thread. */
export const wasmGemmAvailable: boolean = engine !== null;

/** The packed WebAssembly GEMM without the small-size shortcut (tests and benchmarks). */
export function dgemmWasmPacked(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float64Array, offA: number, lda: number,
  B: Float64Array, offB: number, ldb: number,
  beta: number, C: Float64Array, offC: number, ldc: number,
): void {
  if (!engine) throw new Error('wasm gemm: WebAssembly kernels are not available');
  gemmBlocked(engine, transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}

/**
 * WebAssembly SIMD GEMM (unchecked; contract of {@link dgemmRef}): row-major
 * C = alpha·op(A)·op(B) + beta·C, β = 0 never reads C; products under GEMM_SMALL_MNK
 * multiply-adds use the reference kernel. Example: `dgemmWasm(false, false, 64, 64, 64, 1, A, 0,
 * 64, B, 0, 64, 0, C, 0, 64)`.
 */
export function dgemmWasm(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float64Array, offA: number, lda: number,
  B: Float64Array, offB: number, ldb: number,
  beta: number, C: Float64Array, offC: number, ldc: number,
): void {
  if (M * N * K < GEMM_SMALL_MNK) { dgemmRef(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc); return; }
  dgemmWasmPacked(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}
