// Declarations for dist/kernels/wasm-bytes.js, which shared/scripts/build-wasm.mjs generates
// from shared/wasm/*.wat during `npm run build` (base64 of each assembled module).
/** gemm.wat assembled (base64). */
export declare const GEMM_WASM_BASE64: string;
/** vexp.wat assembled (base64). */
export declare const VEXP_WASM_BASE64: string;
/** gemm-fma.wat assembled (base64; relaxed SIMD). */
export declare const GEMM_FMA_WASM_BASE64: string;
