/**
 * WebAssembly SIMD GEMM backend ('wasm-simd'): the shared block loops and packing
 * (gemm-driver.ts, gemm-pack.ts) write straight into WebAssembly memory, and the macro-kernel
 * plus its 2×8 f64x2 micro-kernel run inside WebAssembly. Memory grows on demand; each thread has
 * its own instances and memory (wasm-module.ts). Operands allocated in that memory
 * (wasm-memory.ts: wasmArray) are read and written in place.
 *
 * Two variants of the same kernel: 'fma' (shared/wasm/gemm-fma.wat, relaxed-SIMD
 * f64x2.relaxed_madd → one vfmadd231pd per multiply-add on x64) when the runtime accepts relaxed
 * SIMD, else 'plain' (shared/wasm/gemm.wat, mul + add). The choice is made once per thread at the
 * first GEMM and is the same in every thread of a process (the runtime flag is process-wide), so
 * results stay bitwise independent of the thread count; the two variants agree to rounding.
 */
import { GEMM_BLOCKING, GEMM_SMALL_MNK } from './gemm-blocking.js';
import { gemmBlocked, type GemmEngine } from './gemm-driver.js';
import { dgemmRef } from './gemm-ref.js';
import { dgemmTsPacked } from './gemm-ts.js';
import { wasmKernels, loadGemmFma, gemmFmaLoadError, type GemmWasmExports } from './wasm-module.js';
import { wasmAlloc, wasmView, residentOffset } from './wasm-memory.js';

/** A WebAssembly GEMM variant: 'fma' (relaxed-SIMD fused multiply-add) or 'plain' (mul + add). */
export type WasmGemmVariant = 'fma' | 'plain';

/** The GEMM workspace region in the kernels' memory, shared by both variants (one product at a time). */
let wsBase = -1,
  wsLen = 0;

function makeEngine(g: GemmWasmExports): GemmEngine {
  const blocking = GEMM_BLOCKING.wasm;
  if (g.MR.value !== blocking.mr || g.NR.value !== blocking.nr) {
    throw new Error(
      `wasm gemm: micro-kernel is ${g.MR.value}x${g.NR.value} but GEMM_BLOCKING.wasm says ${blocking.mr}x${blocking.nr}`,
    );
  }
  return {
    blocking,
    workspace(len: number) {
      if (len > wsLen) {
        // a new, larger region (the old one is abandoned: sizes only ratchet up)
        const grown = Math.max(len, Math.ceil(wsLen * 1.5), 1 << 16);
        wsBase = wasmAlloc(grown); // may throw: then the old region stays in use, unchanged
        wsLen = grown;
      }
      return { ws: wasmView(), base: wsBase };
    },
    resident: residentOffset,
    macro(mc, nc, kc, aOff, lda, bOff, cOff, ldc, acc) {
      g.macro(mc, nc, kc, aOff * 8, lda, bOff * 8, cOff * 8, ldc, acc ? 1 : 0);
    },
  };
}

const plainEngine = wasmKernels ? makeEngine(wasmKernels.gemm) : null;
let fmaEngine: GemmEngine | null | undefined;
let engine: GemmEngine | null = null;
let variant: WasmGemmVariant | null = null;

function fma(): GemmEngine | null {
  if (fmaEngine === undefined) {
    const g = loadGemmFma();
    fmaEngine = g ? makeEngine(g) : null;
  }
  return fmaEngine;
}

/** True when the WebAssembly SIMD GEMM is usable in this thread. */
export const wasmGemmAvailable: boolean = plainEngine !== null;

/** Variants usable in this thread (resolves the lazy FMA module): e.g. ['fma', 'plain']. */
export function wasmGemmVariants(): WasmGemmVariant[] {
  if (!plainEngine) return [];
  return fma() ? ['fma', 'plain'] : ['plain'];
}

/**
 * The variant in use ('fma' when the runtime accepts relaxed SIMD, else 'plain'; null without
 * WebAssembly). The first call fixes the automatic choice.
 */
export function wasmGemmVariant(): WasmGemmVariant | null {
  if (!variant && plainEngine) setWasmGemmVariant(fma() ? 'fma' : 'plain');
  return variant;
}

/** Why the FMA variant is not in use ('' when it is). */
export function wasmGemmFmaStatus(): string {
  return wasmGemmVariant() === 'fma' ? '' : gemmFmaLoadError || 'plain variant selected';
}

/**
 * Selects a variant (tests, benchmarks). Throws RangeError naming it when it is unavailable.
 * Example: `setWasmGemmVariant('plain')`.
 */
export function setWasmGemmVariant(v: WasmGemmVariant): void {
  const e = v === 'fma' ? fma() : v === 'plain' ? plainEngine : undefined;
  if (e === undefined) throw new RangeError(`setWasmGemmVariant: unknown variant '${String(v)}' (fma, plain)`);
  if (!e)
    throw new RangeError(
      `setWasmGemmVariant: '${v}' is not available (${v === 'fma' ? gemmFmaLoadError : 'no WebAssembly'})`,
    );
  engine = e;
  variant = v;
}

/** The packed WebAssembly GEMM without the small-size shortcut (tests and benchmarks). */
export function dgemmWasmPacked(
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
  if (!engine && !wasmGemmVariant()) throw new Error('wasm gemm: WebAssembly kernels are not available');
  try {
    gemmBlocked(engine!, transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  } catch (err) {
    // The workspace is reserved before C is touched: when the 4 GiB WebAssembly memory is full,
    // this product runs on the TypeScript kernel instead (same contract, results to rounding).
    if (!(err instanceof RangeError && err.message.startsWith('wasm memory:'))) throw err;
    dgemmTsPacked(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  }
}

/**
 * WebAssembly SIMD GEMM (unchecked; contract of {@link dgemmRef}): row-major
 * C = alpha·op(A)·op(B) + beta·C, β = 0 never reads C; products under GEMM_SMALL_MNK
 * multiply-adds use the reference kernel. Example: `dgemmWasm(false, false, 64, 64, 64, 1, A, 0,
 * 64, B, 0, 64, 0, C, 0, 64)`.
 */
export function dgemmWasm(
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
  dgemmWasmPacked(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}
