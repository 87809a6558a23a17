/**
 * Loads the WebAssembly kernels generated at build time (dist/kernels/wasm-bytes.js, from
 * shared/wasm/*.wat) and instantiates them synchronously. When the generated file is missing
 * (tsc run without the shared build script) or the engine lacks SIMD, `wasmKernels` is null and
 * callers fall back to TypeScript; `wasmLoadError` says why.
 *
 * The FMA GEMM (gemm-fma.wat, relaxed SIMD) is instantiated lazily by {@link loadGemmFma}, at the
 * first GEMM rather than at import, so that an entry point may enable relaxed SIMD (Node 20:
 * `--experimental-wasm-relaxed-simd`, see shared/native/wasm-flags.js) in any import order.
 */

// Minimal typings for the WebAssembly JS API (the repo's `lib` has no DOM / WebAssembly types).
// `declare` emits nothing: at run time the name resolves to the engine's global WebAssembly.
/**
 * A shared WebAssembly.Memory: when it grows, `buffer` returns a new, longer SharedArrayBuffer,
 * and views of the old one stay valid (a shared memory never moves or detaches).
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(deltaPages: number): number;
}
/** A WebAssembly.Global holding an i32. */
export interface WasmGlobal {
  readonly value: number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
};

/** Exports of gemm.wat (addresses are byte offsets into {@link wasmMemory}). */
export interface GemmWasmExports {
  readonly MR: WasmGlobal;
  readonly NR: WasmGlobal;
  macro(
    mc: number,
    nc: number,
    kc: number,
    a: number,
    lda: number,
    b: number,
    c: number,
    ldc: number,
    acc: number,
  ): void;
}

/** Exports of vexp.wat (addresses are byte offsets into {@link wasmMemory}; bytes [0, 128) are its constants). */
export interface VexpWasmExports {
  vexp(src: number, dst: number, n: number): void;
  expShiftSum(src: number, dst: number, n: number, shift: number): number;
}

function decode(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Pages (64 KiB) the memory may grow to: 4 GiB, the whole 32-bit address space. */
const MAX_PAGES = 65536;

/**
 * The one memory of this thread's kernel modules (GEMM, FMA GEMM, exp), shared (a
 * SharedArrayBuffer) so that growing it never detaches views: block buffers allocated in it with
 * wasmAlloc (wasm-memory.ts) stay valid across GEMM calls that grow the workspace. Null without WebAssembly.
 */
export let wasmMemory: WasmMemory | null = null;

function instantiate<T>(b64: string): T {
  return new WebAssembly.Instance(new WebAssembly.Module(decode(b64)), { env: { memory: wasmMemory } })
    .exports as unknown as T;
}

let bytesModule: { GEMM_FMA_WASM_BASE64: string } | null = null;

/** Why the WebAssembly kernels are unavailable ('' when they loaded). */
export let wasmLoadError = '';

/** The instantiated kernels of this thread, or null. */
export let wasmKernels: { gemm: GemmWasmExports; vexp: VexpWasmExports } | null = null;

try {
  const bytes = await import('./wasm-bytes.js');
  bytesModule = bytes;
  wasmMemory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  wasmKernels = {
    gemm: instantiate<GemmWasmExports>(bytes.GEMM_WASM_BASE64),
    vexp: instantiate<VexpWasmExports>(bytes.VEXP_WASM_BASE64),
  };
} catch (err) {
  wasmLoadError = err instanceof Error ? err.message : String(err);
  wasmMemory = null;
}

/** Why the FMA GEMM module is unavailable ('' when it loaded or was not tried yet). */
export let gemmFmaLoadError = '';
let gemmFma: GemmWasmExports | null | undefined;

/**
 * The relaxed-SIMD FMA GEMM module of this thread, instantiated on the first call; null (and
 * {@link gemmFmaLoadError} set) when the runtime does not accept relaxed SIMD. The answer is fixed
 * after the first call. Its exports have the same layout contract as the plain GEMM module.
 */
export function loadGemmFma(): GemmWasmExports | null {
  if (gemmFma !== undefined) return gemmFma;
  gemmFma = null;
  if (!wasmKernels || !bytesModule) {
    gemmFmaLoadError = wasmKernels ? 'gemm-fma module missing from the build' : wasmLoadError;
    return null;
  }
  try {
    gemmFma = instantiate<GemmWasmExports>(bytesModule.GEMM_FMA_WASM_BASE64);
  } catch (err) {
    gemmFmaLoadError = `relaxed SIMD not enabled in this runtime (${err instanceof Error ? err.message : String(err)})`;
  }
  return gemmFma;
}
