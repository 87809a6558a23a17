/**
 * GEMM entry points. `dgemm` is the checked public entry (argument errors name the argument and
 * its value); `dgemmBase` is the unchecked entry for hot loops. Both dispatch to the active
 * backend, chosen when this module loads:
 *   'wasm-simd' (default: WebAssembly SIMD, wasm-gemm.ts) → 'ts' (packed plain TypeScript,
 *   gemm-ts.ts) when WebAssembly is unavailable → 'ts-ref' (gemm-ref.ts, the test oracle).
 * Environment ATTNFIT_GEMM=ts|ref|wasm forces one (read once, at load, through the config layer;
 * a bad value throws BAD_OPTION naming the variable). A native backend may replace the choice
 * later through {@link setGemmBackend}.
 */
import { readEnv } from '../config/index.js';
import { dgemmRef } from './gemm-ref.js';
import { dgemmTs } from './gemm-ts.js';
import { dgemmWasm, wasmGemmAvailable, wasmGemmVariant } from './wasm-gemm.js';
import { wasmLoadError } from './wasm-module.js';

export type GemmFn = typeof dgemmRef;

const backends = new Map<string, GemmFn>([
  ['ts-ref', dgemmRef],
  ['ts', dgemmTs],
]);
if (wasmGemmAvailable) backends.set('wasm-simd', dgemmWasm);

let active: { name: string; fn: GemmFn } = { name: 'ts-ref', fn: dgemmRef };

/** Name of the GEMM backend in use (reported by `attnfit --version` and in reports). */
export function gemmBackend(): string {
  return active.name;
}

/**
 * The backend in use with its kernel variant, for `attnfit --version` and reports: e.g.
 * 'wasm-simd (f64x2 FMA)', 'wasm-simd (f64x2 mul+add)', 'native-blas', 'ts'.
 */
export function gemmBackendDetail(): string {
  if (active.name !== 'wasm-simd') return active.name;
  return `wasm-simd (f64x2 ${wasmGemmVariant() === 'fma' ? 'FMA' : 'mul+add'})`;
}

/** Names of the GEMM backends usable in this thread (e.g. ['ts-ref', 'ts', 'wasm-simd']). */
export function gemmBackends(): string[] {
  return [...backends.keys()];
}

/**
 * Install a GEMM backend and make it active (used by the WebAssembly / native loaders). With
 * `fn` omitted, activates an already registered backend by name (throws RangeError naming it if
 * unknown). Example: `setGemmBackend('ts')`.
 */
export function setGemmBackend(name: string, fn?: GemmFn): void {
  const f = fn ?? backends.get(name);
  if (!f) throw new RangeError(`setGemmBackend: unknown backend '${name}' (have: ${[...backends.keys()].join(', ')})`);
  backends.set(name, f);
  active = { name, fn: f };
}

/** Why the WebAssembly backend is missing ('' if it loaded). */
export function gemmWasmLoadError(): string {
  return wasmLoadError;
}

{
  const want = readEnv('gemm');
  const name = want === 'ts' ? 'ts' : want === 'ref' ? 'ts-ref' : wasmGemmAvailable ? 'wasm-simd' : 'ts';
  setGemmBackend(name);
}

/** Unchecked GEMM: row-major C = alpha·op(A)·op(B) + beta·C. See {@link dgemmRef}. */
export function dgemmBase(
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
  active.fn(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`dgemm: ${name} must be an integer >= ${min} (got ${v})`);
}

/**
 * Checked GEMM. Example: C (2×2) = A (2×3) · Bᵀ where B is 2×3:
 * `dgemm(false, true, 2, 2, 3, 1, A, 0, 3, B, 0, 3, 0, C, 0, 2)`.
 */
export function dgemm(
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
  checkInt('M', M, 0);
  checkInt('N', N, 0);
  checkInt('K', K, 0);
  checkInt('offA', offA, 0);
  checkInt('offB', offB, 0);
  checkInt('offC', offC, 0);
  const [ar, ac] = transA ? [K, M] : [M, K];
  const [br, bc] = transB ? [N, K] : [K, N];
  if (!Number.isInteger(lda) || lda < Math.max(1, ac))
    throw new RangeError(`dgemm: lda must be >= ${Math.max(1, ac)} (got ${lda})`);
  if (!Number.isInteger(ldb) || ldb < Math.max(1, bc))
    throw new RangeError(`dgemm: ldb must be >= ${Math.max(1, bc)} (got ${ldb})`);
  if (!Number.isInteger(ldc) || ldc < Math.max(1, N))
    throw new RangeError(`dgemm: ldc must be >= ${Math.max(1, N)} (got ${ldc})`);
  const need = (rows: number, cols: number, ld: number, off: number) =>
    rows === 0 || cols === 0 ? off : off + (rows - 1) * ld + cols;
  if (need(ar, ac, lda, offA) > A.length)
    throw new RangeError(`dgemm: A too short (length ${A.length}, needs ${need(ar, ac, lda, offA)})`);
  if (need(br, bc, ldb, offB) > B.length)
    throw new RangeError(`dgemm: B too short (length ${B.length}, needs ${need(br, bc, ldb, offB)})`);
  if (need(M, N, ldc, offC) > C.length)
    throw new RangeError(`dgemm: C too short (length ${C.length}, needs ${need(M, N, ldc, offC)})`);
  if (M === 0 || N === 0) return;
  dgemmBase(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc);
}
