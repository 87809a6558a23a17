/**
 * Vectorised exp for float64 (WebAssembly SIMD, shared/wasm/vexp.wat) and its scalar twin.
 *
 * Algorithm (fdlibm e_exp.c, branch-free): k = roundTiesEven(x/ln2) (via + 1.5·2^52), r = (x − k·ln2_hi) − k·ln2_lo,
 * exp(r) by fdlibm's degree-5 Remez rational form, then ·2^k1·2^k2 (k1 = ⌊k/2⌋, k2 = k − k1) so
 * gradual underflow rounds once. x is clamped to [−746, 709.8], which changes no result.
 *
 * Accuracy: < 1 ulp (fdlibm's bound) for every finite x; exp(x) = 0 for x < −745.14, +Inf for
 * x > 709.79; exp(−Inf) = 0, exp(+Inf) = +Inf, exp(NaN) = NaN. Tested: ≤ 1 ulp against Math.exp
 * on a dense sweep of [−746, 710] and bitwise equal to {@link vexpScalar}.
 * `vexpScalar` performs the same IEEE operations in the same order, so the WebAssembly path and
 * the JS fallback give bitwise identical results (and so do sums, see {@link expShiftSum}).
 */
import { wasmKernels } from './wasm-module.js';
import { residentOffset, wasmView, EXP_SCRATCH_BASE, EXP_SCRATCH_LEN } from './wasm-memory.js';

const INVLN2 = 1.442695040888963387;
const LN2HI = 6.9314718036912381649e-1;
const LN2LO = 1.90821492927058770002e-10;
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.6533902205465251539e-6;
const P5 = 4.13813679705723846039e-8;
const MAGIC = 6755399441055744; // 1.5·2^52

/** POW2[k + 538] = 2^k for k ∈ [−538, 512], built by exact doubling/halving. */
const POW2_BIAS = 538;
const POW2 = (() => {
  const t = new Float64Array(538 + 512 + 1);
  t[POW2_BIAS] = 1;
  for (let k = 1; k <= 512; k++) t[POW2_BIAS + k] = t[POW2_BIAS + k - 1]! * 2;
  for (let k = 1; k <= 538; k++) t[POW2_BIAS - k] = t[POW2_BIAS - k + 1]! / 2;
  return t;
})();

/**
 * exp(x) for one float64, bitwise identical to one lane of the SIMD kernel (< 1 ulp).
 * Example: `vexpScalar(-1)` → 0.36787944117144233.
 */
export function vexpScalar(x: number): number {
  if (x !== x) return x;
  x = Math.max(Math.min(x, 709.8), -746);
  const k = x * INVLN2 + MAGIC - MAGIC; // round to nearest, ties to even

  const hi = x - k * LN2HI;
  const lo = k * LN2LO;
  const r = hi - lo;
  const t = r * r;
  const c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  const y = 1 - (lo - (r * c) / (2 - c) - hi);
  const k1 = Math.floor(k * 0.5),
    k2 = k - k1;
  return y * POW2[POW2_BIAS + k1]! * POW2[POW2_BIAS + k2]!;
}

/** Elements per WebAssembly call and per partial sum (32768: the copy-in scratch is 256 KiB; the summation order depends on it). */
const CHUNK = EXP_SCRATCH_LEN;
/** First scratch element: bytes [0, 128) of the vexp module's memory hold its constants. */
const BASE = EXP_SCRATCH_BASE;
/** Below this length the JS twin is used (a WebAssembly call plus two copies cost more). */
const SMALL = 16;

const vx = wasmKernels?.vexp ?? null;

/**
 * An exp kernel outside this layer (the native addon's), with the {@link expShiftSum} contract and
 * the same IEEE operations in the same order, so its results are bitwise those of this module.
 */
export interface ExpKernel {
  readonly name: string;
  expShiftSum(n: number, x: Float64Array, off: number, shift: number, out: Float64Array, offOut: number): number;
}
let ext: ExpKernel | null = null;

/**
 * Installs (or with null removes) an external exp kernel for {@link vexp} and {@link expShiftSum}
 * in this thread; it must be bitwise equal to {@link vexpScalar} (the native loader checks this
 * before installing it). Example: `setExpKernel(null)`.
 */
export function setExpKernel(k: ExpKernel | null): void {
  ext = k;
}
/** The memory view; elements [BASE, BASE + CHUNK) are the copy-in scratch (reserved by wasm-memory.ts). */
function scratch(): Float64Array {
  if (!vx) throw new Error('vexp: WebAssembly kernels are not available');
  return wasmView();
}

/** Name of the exp kernel in use: an external kernel's name (e.g. 'native'), 'wasm-simd' or 'ts'. */
export function vexpBackend(): string {
  return ext ? ext.name : vx ? 'wasm-simd' : 'ts';
}

/** Unchecked {@link vexp}. */
export function vexpBase(x: Float64Array, off: number, n: number, out: Float64Array, offOut: number): void {
  if (ext && n >= SMALL) {
    ext.expShiftSum(n, x, off, 0, out, offOut);
    return;
  } // x − 0 = x exactly
  if (!vx || n < SMALL) {
    for (let i = 0; i < n; i++) out[offOut + i] = vexpScalar(x[off + i]!);
    return;
  }
  const rx = residentOffset(x),
    ro = residentOffset(out);
  if (rx >= 0 && ro >= 0) {
    vx.vexp((rx + off) * 8, (ro + offOut) * 8, n);
    return;
  } // in the kernels' memory: in place
  const m = scratch();
  for (let s = 0; s < n; s += CHUNK) {
    const len = Math.min(CHUNK, n - s);
    m.set(x.subarray(off + s, off + s + len), BASE);
    vx.vexp(BASE * 8, BASE * 8, len);
    out.set(m.subarray(BASE, BASE + len), offOut + s);
  }
}

/**
 * out[offOut + i] = exp(x[off + i]) for 0 ≤ i < n (< 1 ulp; see the module comment). In place
 * when out === x and offOut === off; otherwise the two ranges must not overlap.
 * Example: `vexp(s, 0, s.length, s, 0)`.
 */
export function vexp(x: Float64Array, off: number, n: number, out: Float64Array, offOut: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`vexp: n must be an integer >= 0 (got ${n})`);
  if (!Number.isInteger(off) || off < 0) throw new RangeError(`vexp: off must be an integer >= 0 (got ${off})`);
  if (!Number.isInteger(offOut) || offOut < 0)
    throw new RangeError(`vexp: offOut must be an integer >= 0 (got ${offOut})`);
  if (off + n > x.length) throw new RangeError(`vexp: x too short (length ${x.length}, needs ${off + n})`);
  if (offOut + n > out.length) throw new RangeError(`vexp: out too short (length ${out.length}, needs ${offOut + n})`);
  vexpBase(x, off, n, out, offOut);
}

/**
 * out[offOut + j] = exp(x[off + j] − shift) for 0 ≤ j < n; returns Σ_j out[offOut + j] (unchecked).
 * The sum runs in two lanes (even j, odd j) per chunk of 32768, lanes added at the end of each
 * chunk — the same order on the WebAssembly and JS paths, so results are deterministic and
 * identical. In place when out === x and offOut === off (other overlaps are not allowed). This is
 * the inner loop of a stable softmax row (shift = row max). Example: `const s = expShiftSum(n, S, row, mx, F, row)`.
 */
export function expShiftSum(
  n: number,
  x: Float64Array,
  off: number,
  shift: number,
  out: Float64Array,
  offOut: number,
): number {
  if (ext && n >= SMALL) return ext.expShiftSum(n, x, off, shift, out, offOut);
  if (!vx || n < SMALL) {
    let sum = 0;
    for (let s = 0; s < n; s += CHUNK) {
      const end = Math.min(n, s + CHUNK);
      let s0 = 0,
        s1 = 0,
        j = s;
      for (; j + 1 < end; j += 2) {
        const e0 = vexpScalar(x[off + j]! - shift),
          e1 = vexpScalar(x[off + j + 1]! - shift);
        out[offOut + j] = e0;
        out[offOut + j + 1] = e1;
        s0 += e0;
        s1 += e1;
      }
      let cs = s0 + s1;
      if (j < end) {
        const e = vexpScalar(x[off + j]! - shift);
        out[offOut + j] = e;
        cs += e;
      }
      sum += cs;
    }
    return sum;
  }
  let sum = 0;
  const rx = residentOffset(x),
    ro = residentOffset(out);
  if (rx >= 0 && ro >= 0) {
    // in the kernels' memory: no copies, same chunks, same sum order
    for (let s = 0; s < n; s += CHUNK)
      sum += vx.expShiftSum((rx + off + s) * 8, (ro + offOut + s) * 8, Math.min(CHUNK, n - s), shift);
    return sum;
  }
  const m = scratch();
  for (let s = 0; s < n; s += CHUNK) {
    const len = Math.min(CHUNK, n - s);
    m.set(x.subarray(off + s, off + s + len), BASE);
    sum += vx.expShiftSum(BASE * 8, BASE * 8, len, shift);
    out.set(m.subarray(BASE, BASE + len), offOut + s);
  }
  return sum;
}
