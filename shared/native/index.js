// Loader for the optional native BLAS GEMM (`@attnfit/shared/native`). Importing this module
// registers the addon as GEMM backend 'native-blas' and makes it active when
// native/build/attnfit_blas.node exists (built by `npm run build` when the system has a CBLAS,
// or `npm run build:native`) and loads — unless ATTNFIT_GEMM names another backend (ts, ref, wasm)
// or ATTNFIT_NATIVE=0 turns it off (both read through @attnfit/shared/config). Otherwise nothing changes and
// `nativeBlasStatus().reason` says why. Plain JS outside src/: kernels may not import node:*.
// It first imports ./wasm-flags.js, which enables relaxed SIMD for the WebAssembly FMA GEMM, so
// every entry point that loads the native backend also gets the fastest WebAssembly kernel.
import './wasm-flags.js';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readEnv } from '@attnfit/shared/config';
import { setGemmBackend, gemmBackend, scaleC, setExpKernel, vexpScalar } from '@attnfit/shared/kernels';

const path = fileURLToPath(new URL('./build/attnfit_blas.node', import.meta.url));
let status = { loaded: false, active: false, reason: '', config: '', exp: false };

/**
 * The addon's exp must be bitwise the kernels' (same IEEE operations): probe it on values across
 * the whole range, the underflow edge and the special values before installing it.
 */
function expMatches(addon) {
  const xs = [
    -746,
    -745.2,
    -745.13,
    -744,
    -708.5,
    -700,
    -100,
    -30.5,
    -1,
    -1e-300,
    -0,
    0,
    1e-300,
    0.5,
    1,
    30,
    709,
    709.78,
    709.8,
    -Infinity,
    Infinity,
  ];
  for (let i = 0; i < 200; i++) xs.push(-745 + i * 7.27 + i * 1e-3);
  const x = Float64Array.from(xs),
    out = new Float64Array(x.length);
  const sum = addon.expShiftSum(x.length, x, 0, 0.25, out, 0);
  let s0 = 0,
    s1 = 0,
    j = 0;
  for (; j + 1 < x.length; j += 2) {
    s0 += vexpScalar(x[j] - 0.25);
    s1 += vexpScalar(x[j + 1] - 0.25);
  }
  let ref = s0 + s1;
  if (j < x.length) ref += vexpScalar(x[j] - 0.25);
  return Object.is(sum, ref) && x.every((v, i) => Object.is(out[i], vexpScalar(v - 0.25)));
}

/** The addon's dgemm with the dgemmRef contract (K = 0 / alpha = 0 only scale C; β = 0 never reads C). */
function wrap(addon) {
  return function dgemmNative(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc) {
    if (M === 0 || N === 0) return;
    if (K === 0 || alpha === 0) {
      scaleC(M, N, beta, C, offC, ldc);
      return;
    }
    addon.dgemm(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
  };
}

if (!readEnv('native')) {
  status.reason = 'disabled by ATTNFIT_NATIVE=0';
} else if (!existsSync(path)) {
  status.reason =
    'not built (`npm run build` builds it when a CBLAS such as libopenblas-dev is installed; `npm run build:native -w @attnfit/shared` says why not)';
} else {
  try {
    const addon = createRequire(import.meta.url)(path);
    status = { loaded: true, active: false, reason: '', config: String(addon.info()) };
    const want = readEnv('gemm');
    const fn = wrap(addon);
    if (want === 'auto' || want === 'native') {
      setGemmBackend('native-blas', fn);
      status.active = true;
      // With the native backend active, softmax rows also take the addon's exp: vectorised for the
      // CPU (AVX-512 / AVX2), in place on the caller's arrays, bitwise equal to the WebAssembly one.
      if (typeof addon.expShiftSum === 'function' && expMatches(addon)) {
        setExpKernel({ name: 'native', expShiftSum: addon.expShiftSum });
        status.exp = true;
      }
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

/** { loaded, active, reason, config, exp } of the native BLAS backend in this thread (exp: its exp kernel is installed). */
export function nativeBlasStatus() {
  return { ...status };
}
