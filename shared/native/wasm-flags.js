// Enables WebAssembly relaxed SIMD for this process, so the GEMM kernels can use
// f64x2.relaxed_madd (fused multiply-add; shared/wasm/gemm-fma.wat). Relaxed SIMD is standard
// and on by default from V8 11.4 (Node 22); Node 20's V8 11.3 has it behind
// --experimental-wasm-relaxed-simd. V8 flags are process-wide, so worker threads see it too;
// kernels pick the FMA variant lazily at their first GEMM, so this only has to run before that.
// ATTNFIT_WASM_FMA=0 leaves the flag alone (the plain mul+add kernel is used on Node 20).
// Plain JS beside the native loader: kernels may not import node:*.
import { setFlagsFromString } from 'node:v8';
import { readEnv } from '@attnfit/shared/config';

/** True when this module asked V8 for relaxed SIMD. */
export const relaxedSimdRequested = readEnv('wasmFma');
if (relaxedSimdRequested) setFlagsFromString('--experimental-wasm-relaxed-simd');
