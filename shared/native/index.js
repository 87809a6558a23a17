// Loader for the optional native BLAS GEMM (`@attnfit/shared/native`). Importing this module
// registers the addon as GEMM backend 'native-blas' and makes it active when
// native/build/attnfit_blas.node exists (built by `npm run build` when the system has a CBLAS,
// or `npm run build:native`) and loads — unless ATTNFIT_GEMM names another backend (ts, ref, wasm)
// or ATTNFIT_NATIVE=0 turns it off. Otherwise nothing changes and
// `nativeBlasStatus().reason` says why. Plain JS outside src/: kernels may not import node:*.
// It first imports ./wasm-flags.js, which enables relaxed SIMD for the WebAssembly FMA GEMM, so
// every entry point that loads the native backend also gets the fastest WebAssembly kernel.
import './wasm-flags.js';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setGemmBackend, gemmBackend, scaleC } from '@attnfit/shared/kernels';

const path = fileURLToPath(new URL('./build/attnfit_blas.node', import.meta.url));
let status = { loaded: false, active: false, reason: '', config: '' };

/** The addon's dgemm with the dgemmRef contract (K = 0 / alpha = 0 only scale C; β = 0 never reads C). */
function wrap(addon) {
  return function dgemmNative(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc) {
    if (M === 0 || N === 0) return;
    if (K === 0 || alpha === 0) { scaleC(M, N, beta, C, offC, ldc); return; }
    addon.dgemm(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  };
}

if (process.env.ATTNFIT_NATIVE?.trim() === '0') {
  status.reason = 'disabled by ATTNFIT_NATIVE=0';
} else if (!existsSync(path)) {
  status.reason = 'not built (`npm run build` builds it when a CBLAS such as libopenblas-dev is installed; `npm run build:native -w @attnfit/shared` says why not)';
} else {
  try {
    const addon = createRequire(import.meta.url)(path);
    status = { loaded: true, active: false, reason: '', config: String(addon.info()) };
    const want = process.env.ATTNFIT_GEMM?.trim().toLowerCase();
    const fn = wrap(addon);
    if (!want || want === 'native' || want === 'native-blas') {
      setGemmBackend('native-blas', fn);
      status.active = true;
    } else {
      const keep = gemmBackend();
      setGemmBackend('native-blas', fn); // registered, but the forced backend stays active
      setGemmBackend(keep);
      status.reason = `ATTNFIT_GEMM=${want} keeps ${keep}`;
    }
  } catch (err) {
    status.reason = `failed to load ${path}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** { loaded, active, reason, config } of the native BLAS backend in this thread. */
export function nativeBlasStatus() { return { ...status }; }
