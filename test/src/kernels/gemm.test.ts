import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dgemm } from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';

function naive(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float64Array,
  lda: number,
  B: Float64Array,
  ldb: number,
  beta: number,
  C: Float64Array,
  ldc: number,
): Float64Array {
  const out = C.slice();
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++)
        s += (tA ? A[k * lda + i]! : A[i * lda + k]!) * (tB ? B[j * ldb + k]! : B[k * ldb + j]!);
      out[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * ldc + j]!);
    }
  return out;
}

test('dgemm matches a naive triple loop for all transposes and odd shapes', () => {
  const r = rng(1);
  for (const [M, N, K] of [
    [1, 1, 1],
    [3, 5, 7],
    [17, 9, 13],
    [8, 8, 0],
  ] as const) {
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        const lda = (tA ? M : K) + 2,
          ldb = (tB ? K : N) + 1,
          ldc = N + 3;
        const A = randMatrix(r, tA ? K : M, lda),
          B = randMatrix(r, tB ? N : K, ldb),
          C = randMatrix(r, M, ldc);
        const want = naive(tA, tB, M, N, K, 0.7, A, lda, B, ldb, 0.3, C, ldc);
        const got = C.slice();
        dgemm(tA, tB, M, N, K, 0.7, A, 0, lda, B, 0, ldb, 0.3, got, 0, ldc);
        assert.ok(relErr(got, want) < 1e-14, `M=${M} N=${N} K=${K} tA=${tA} tB=${tB}`);
      }
  }
});

test('dgemm with beta = 0 never reads C (NaN does not propagate)', () => {
  const A = new Float64Array([1, 2, 3, 4]),
    B = new Float64Array([1, 0, 0, 1]);
  const C = new Float64Array([NaN, NaN, NaN, NaN]);
  dgemm(false, false, 2, 2, 2, 1, A, 0, 2, B, 0, 2, 0, C, 0, 2);
  assert.equal(Array.from(C), [1, 2, 3, 4]);
});

test('dgemm rejects bad arguments naming the argument and value', () => {
  const A = new Float64Array(4);
  assert.throws(() => dgemm(false, false, 2, 2, 2, 1, A, 0, 1, A, 0, 2, 0, A, 0, 2), /lda must be >= 2 \(got 1\)/);
  assert.throws(
    () => dgemm(false, false, -1, 2, 2, 1, A, 0, 2, A, 0, 2, 0, A, 0, 2),
    /M must be an integer >= 0 \(got -1\)/,
  );
  assert.throws(() => dgemm(false, false, 3, 2, 2, 1, A, 0, 2, A, 0, 2, 0, A, 0, 2), /A too short/);
});

test.run();
