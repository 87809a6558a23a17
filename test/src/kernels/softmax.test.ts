// Row softmax and its backward: hand-computed values, huge logits, masked rows, in/out of place,
// Jrow against the explicit Jacobian, and argument errors naming the argument and value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { softmaxRows, jrow, jrowBase } from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';

const f64 = (...v: number[]) => new Float64Array(v);

test('softmax of [0, ln 2, ln 3] is [1/6, 2/6, 3/6]; out of place leaves S untouched', () => {
  const S = f64(0, Math.log(2), Math.log(3)),
    O = new Float64Array(3),
    lse = new Float64Array(1);
  softmaxRows(1, 3, S, 0, 3, O, 0, 3, lse, 0);
  assert.ok(relErr(O, [1 / 6, 2 / 6, 3 / 6]) < 1e-15);
  assert.ok(Math.abs(lse[0]! - Math.log(6)) < 1e-15);
  assert.equal(Array.from(S), [0, Math.log(2), Math.log(3)]);
});

test('huge logits (±1e3) stay finite and exact; rows sum to 1', () => {
  const S = f64(1000, 999, -1000, -1000, 999, 1000);
  softmaxRows(2, 3, S, 0, 3, S, 0, 3);
  const e = Math.exp(-1);
  assert.ok(relErr(S, [1 / (1 + e), e / (1 + e), 0, 0, e / (1 + e), 1 / (1 + e)]) < 1e-15);
  for (const v of S) assert.ok(Number.isFinite(v));
});

test('masked rows: all −Inf → zeros; +Inf entries share the mass; NaN propagates; strided views', () => {
  const S = f64(-Infinity, -Infinity, 7, Infinity, 1, Infinity, NaN, 0, 9);
  const O = new Float64Array(12).fill(-5);
  const lse = new Float64Array(3);
  softmaxRows(3, 2, S, 0, 3, O, 1, 4, lse, 0);
  assert.equal(Array.from(O), [-5, 0, 0, -5, -5, 1, 0, -5, -5, NaN, NaN, -5]);
  assert.equal(Array.from(lse), [-Infinity, Infinity, NaN]);
});

test('jrow equals Jᵀg with the explicit softmax Jacobian J = diag f − f fᵀ, and accepts a given rowDot', () => {
  const r = rng(7),
    m = 4,
    n = 9;
  const F = randMatrix(r, m, n);
  softmaxRows(m, n, F, 0, n, F, 0, n);
  const G = randMatrix(r, m, n),
    O = new Float64Array(m * n);
  jrow(m, n, F, 0, n, G, 0, n, O, 0, n);
  const want = new Float64Array(m * n),
    dots = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += ((k === l ? F[i * n + k]! : 0) - F[i * n + k]! * F[i * n + l]!) * G[i * n + l]!;
      want[i * n + k] = s;
    }
    for (let k = 0; k < n; k++) dots[i] += F[i * n + k]! * G[i * n + k]!;
  }
  assert.ok(relErr(O, want) < 1e-14);
  const O2 = G.slice();
  jrowBase(m, n, F, 0, n, O2, 0, n, O2, 0, n, dots, 0); // in place over G, with precomputed rowsums
  assert.ok(relErr(O2, want) < 1e-14);
});

test('softmax backward matches finite differences of a loss through softmax', () => {
  const r = rng(8),
    n = 6;
  const S = randMatrix(r, 1, n, 3),
    W = randMatrix(r, 1, n);
  const lossAt = (s: Float64Array) => {
    const f = new Float64Array(n);
    softmaxRows(1, n, s, 0, n, f, 0, n);
    return f.reduce((a, v, i) => a + v * W[i]!, 0);
  };
  const F = new Float64Array(n);
  softmaxRows(1, n, S, 0, n, F, 0, n);
  const g = new Float64Array(n);
  jrow(1, n, F, 0, n, W, 0, n, g, 0, n);
  const h = 1e-5;
  for (let k = 0; k < n; k++) {
    const sp = S.slice(),
      sm = S.slice();
    sp[k] += h;
    sm[k] -= h;
    assert.ok(Math.abs((lossAt(sp) - lossAt(sm)) / (2 * h) - g[k]!) < 1e-9, `k=${k}`);
  }
});

test('softmaxRows / jrow reject bad arguments naming the argument and value', () => {
  const A = new Float64Array(6);
  assert.throws(() => softmaxRows(2, 3, A, 0, 2, A, 0, 3), /softmaxRows: ldS must be >= 3 \(got 2\)/);
  assert.throws(() => softmaxRows(-1, 3, A, 0, 3, A, 0, 3), /softmaxRows: rows must be an integer >= 0 \(got -1\)/);
  assert.throws(() => softmaxRows(2, 3, A, 1, 3, A, 1, 3), /softmaxRows: S too short \(length 6, needs 7\)/);
  assert.throws(() => softmaxRows(1, 3, A, 0, 3, A, 1, 3), /O overlaps S/);
  assert.throws(
    () => jrow(2, 3, A, 0, 3, A, 0, 3, new Float64Array(5), 0, 3),
    /jrow: O too short \(length 5, needs 6\)/,
  );
});

test.run();
