// Vectorised exp: accuracy bound (≤ 1 ulp vs Math.exp, which is fdlibm, < 1 ulp from exact) on a
// dense sweep of the softmax range down to underflow, special values, bitwise agreement with the
// scalar twin, odd lengths / offsets / in place / chunk boundaries, and expShiftSum.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { vexp, vexpScalar, expShiftSum, vexpBackend, wasmArray } from '@attnfit/shared/kernels';
import { rng } from '../helpers/rng.js';

const f64 = new Float64Array(1),
  i64 = new BigInt64Array(f64.buffer);
/** Integer order of doubles (adjacent doubles differ by 1), for ulp distances. */
function ord(x: number): bigint {
  f64[0] = x;
  const b = i64[0]!;
  return b < 0n ? -(b & 0x7fffffffffffffffn) : b;
}
function ulps(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  const d = ord(a) - ord(b);
  return Number(d < 0n ? -d : d);
}

test('the SIMD kernel is in use', () => {
  assert.is(vexpBackend(), 'wasm-simd');
});

test('dense sweep of [-746, 710]: ≤ 1 ulp from Math.exp and bitwise equal to the scalar twin', () => {
  const n = 400_001;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = -746 + (756 * i) / (n - 1);
  const out = new Float64Array(n);
  vexp(x, 0, n, out, 0);
  let worst = 0,
    at = 0;
  for (let i = 0; i < n; i++) {
    const u = ulps(out[i]!, Math.exp(x[i]!));
    if (u > worst) {
      worst = u;
      at = x[i]!;
    }
    if (!Object.is(out[i], vexpScalar(x[i]!)))
      assert.unreachable(`x=${x[i]}: simd ${out[i]} vs scalar ${vexpScalar(x[i]!)}`);
  }
  assert.ok(worst <= 1, `worst ${worst} ulp at x=${at}`);
});

test('random softmax-range inputs (x ≤ 0, log-uniform magnitudes): ≤ 1 ulp', () => {
  const r = rng(7),
    n = 100_000,
    x = new Float64Array(n),
    out = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = -Math.exp(-20 + 26.6 * r()); // −2e-9 … −745
  vexp(x, 0, n, out, 0);
  for (let i = 0; i < n; i++) assert.ok(ulps(out[i]!, Math.exp(x[i]!)) <= 1, `x=${x[i]}`);
});

test('special values: ±0, ±Inf, NaN, underflow to subnormals and to 0, overflow', () => {
  const cases: [number, number][] = [
    [0, 1],
    [-0, 1],
    [-Infinity, 0],
    [Infinity, Infinity],
    [NaN, NaN],
    [-746, 0],
    [-745.2, 0],
    [-1e308, 0],
    [-745.1, 5e-324],
    [709.79, Infinity],
    [1e308, Infinity],
    [1e-300, 1],
    [-1e-300, 1],
    [1, Math.E],
  ];
  const x = new Float64Array(cases.map((c) => c[0])),
    out = new Float64Array(x.length);
  vexp(x, 0, x.length, out, 0);
  cases.forEach(([xi, want], i) => {
    assert.ok(Object.is(out[i], want) || ulps(out[i]!, want) <= 1, `exp(${xi}) = ${out[i]}, want ${want}`);
    assert.ok(Object.is(vexpScalar(xi), out[i]), `scalar exp(${xi})`);
  });
  // gradual underflow: results between 2^-1074 and 2^-1022 within 1 subnormal ulp of Math.exp
  for (let v = -745.1; v < -708; v += 0.37) {
    const o = new Float64Array(1);
    vexp(new Float64Array([v]), 0, 1, o, 0);
    assert.ok(ulps(o[0]!, Math.exp(v)) <= 1, `x=${v}`);
  }
});

test('odd lengths, offsets, in place, chunk boundaries', () => {
  const r = rng(3);
  // every n mod 8 above 16 (the WebAssembly loop takes 4 vectors at a time, then 1, then an odd element)
  for (const n of [0, 1, 2, 3, 15, 16, 17, 18, 19, 20, 21, 22, 23, 101, 32768, 32768 + 3, 32768 + 6, 2 * 32768 + 1]) {
    const x = new Float64Array(n + 10);
    for (let i = 0; i < x.length; i++) x[i] = -50 * r();
    const out = new Float64Array(n + 7).fill(42);
    vexp(x, 5, n, out, 3);
    for (let i = 0; i < 3; i++) assert.is(out[i], 42);
    for (let i = 0; i < n; i++) if (!Object.is(out[3 + i], vexpScalar(x[5 + i]!))) assert.unreachable(`n=${n} i=${i}`);
    for (let i = 3 + n; i < out.length; i++) assert.is(out[i], 42);
    const y = x.slice();
    vexp(y, 2, n, y, 2);
    for (let i = 0; i < n; i++)
      if (!Object.is(y[2 + i], vexpScalar(x[2 + i]!))) assert.unreachable(`in place n=${n} i=${i}`);
  }
});

test('expShiftSum: entries exp(x − shift), sum in the documented lane order, same for every length', () => {
  const r = rng(11);
  for (const n of [1, 5, 15, 16, 17, 19, 21, 22, 64, 1001, 32768 + 5, 32768 + 7]) {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = 10 * r() - 5;
    const shift = 4.5,
      out = new Float64Array(n);
    const sum = expShiftSum(n, x, 0, shift, out, 0);
    // reference: two lanes per 32768-chunk, lanes added, odd tail added, chunks summed
    let want = 0;
    for (let s = 0; s < n; s += 32768) {
      const end = Math.min(n, s + 32768);
      let s0 = 0,
        s1 = 0,
        j = s;
      for (; j + 1 < end; j += 2) {
        s0 += vexpScalar(x[j]! - shift);
        s1 += vexpScalar(x[j + 1]! - shift);
      }
      let cs = s0 + s1;
      if (j < end) cs += vexpScalar(x[j]! - shift);
      want += cs;
    }
    assert.ok(Object.is(sum, want), `n=${n}: ${sum} vs ${want}`);
    for (let i = 0; i < n; i++) if (!Object.is(out[i], vexpScalar(x[i]! - shift))) assert.unreachable(`n=${n} i=${i}`);
    let naive = 0;
    for (let i = 0; i < n; i++) naive += Math.exp(x[i]! - shift);
    assert.ok(Math.abs(sum - naive) <= 1e-13 * naive, `n=${n}`);
  }
});

test('vexp rejects bad arguments naming the argument and value', () => {
  const a = new Float64Array(4);
  assert.throws(() => vexp(a, 0, -1, a, 0), /n must be an integer >= 0 \(got -1\)/);
  assert.throws(() => vexp(a, 2, 3, a, 0), /x too short \(length 4, needs 5\)/);
  assert.throws(() => vexp(a, 0, 3, a, 2), /out too short \(length 4, needs 5\)/);
  assert.throws(() => vexp(a, 0.5, 1, a, 0), /off must be an integer >= 0 \(got 0.5\)/);
});

test("arrays in the kernels' memory are exponentiated in place (no copies): bitwise the copying path", () => {
  const r = rng(99);
  for (const n of [16, 17, 23, 4096, 32768 + 5, 2 * 32768 + 3]) {
    const x = new Float64Array(n + 7);
    for (let i = 0; i < x.length; i++) x[i] = -40 * r() + (i % 97 === 0 ? -700 : 0);
    const rx = wasmArray(x.length);
    rx.set(x);
    const out = new Float64Array(n + 7),
      rout = wasmArray(n + 7);
    const s1 = expShiftSum(n, x, 3, 0.5, out, 2),
      s2 = expShiftSum(n, rx, 3, 0.5, rout, 2);
    assert.ok(Object.is(s1, s2), `n=${n}: sum ${s2} vs ${s1}`);
    for (let i = 0; i < n + 7; i++) if (!Object.is(out[i], rout[i])) assert.unreachable(`n=${n} i=${i}`);
    const inPlace = wasmArray(x.length);
    inPlace.set(x);
    const s3 = expShiftSum(n, inPlace, 3, 0.5, inPlace, 3);
    assert.ok(Object.is(s1, s3));
    for (let i = 0; i < n; i++)
      if (!Object.is(out[2 + i], inPlace[3 + i])) assert.unreachable(`in place n=${n} i=${i}`);
    const e1 = new Float64Array(n),
      e2 = wasmArray(n);
    vexp(x, 1, n, e1, 0);
    vexp(rx, 1, n, e2, 0);
    for (let i = 0; i < n; i++) if (!Object.is(e1[i], e2[i])) assert.unreachable(`vexp n=${n} i=${i}`);
  }
});

test.run();
