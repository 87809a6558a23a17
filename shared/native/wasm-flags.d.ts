/** True when importing the module asked V8 for relaxed SIMD (unless ATTNFIT_WASM_FMA=0). */
export declare const relaxedSimdRequested: boolean;
