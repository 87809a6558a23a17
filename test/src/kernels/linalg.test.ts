// Dense factorizations: Cholesky (+ not-PD report), LU solve, Bunch–Kaufman LDLᵀ with inertia,
// symmetric eigen-decomposition. Residual tests with stated tolerances on random matrices.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  cholesky,
  choleskyBase,
  solveSPD,
  solveGeneral,
  ldlt,
  ldltSolve,
  inertia,
  symEig,
  symEigMin,
  symEigValues,
  NotPositiveDefiniteError,
  SingularMatrixError,
} from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';

const f64 = (...v: number[]) => new Float64Array(v);
const mul = (n: number, A: ArrayLike<number>, B: ArrayLike<number>, k = n, m = n) => {
  const C = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let l = 0; l < k; l++) {
      const a = A[i * k + l]!;
      for (let j = 0; j < m; j++) C[i * m + j] += a * B[l * m + j]!;
    }
  return C;
};
const tr = (n: number, A: ArrayLike<number>) => {
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) T[j * n + i] = A[i * n + j]!;
  return T;
};
const randSym = (r: () => number, n: number) => {
  const G = randMatrix(r, n, n);
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S[i * n + j] = G[i * n + j]! + G[j * n + i]!;
  return S;
};
const randSPD = (r: () => number, n: number) => {
  const G = randMatrix(r, n, n);
  const S = mul(n, G, tr(n, G));
  for (let i = 0; i < n; i++) S[i * n + i] += n;
  return S;
};

test('cholesky: L Lᵀ = A to 1e-14 (n = 1, 5, 40); strict upper zeroed; solveSPD residual', () => {
  const r = rng(1);
  for (const n of [1, 5, 40]) {
    const A = randSPD(r, n),
      L = A.slice();
    cholesky(n, L);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.is(L[i * n + j], 0);
    assert.ok(relErr(mul(n, L, tr(n, L)), A) < 1e-14, `n=${n}`);
    const B = randMatrix(r, n, 3),
      X = solveSPD(n, A, B, 3);
    assert.ok(relErr(mul(n, A, X, n, 3), B) < 1e-12, `solve n=${n}`);
  }
});

test('cholesky reports "not positive definite at pivot k" with the reduced pivot value', () => {
  const A = f64(1, 2, 2, 1); // pivot 1: 1 − 2² = −3
  assert.is(choleskyBase(2, A.slice(), 0, 2), 1);
  try {
    cholesky(2, A.slice());
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, NotPositiveDefiniteError);
    const err = e as NotPositiveDefiniteError;
    assert.is(err.code, 'NOT_POSITIVE_DEFINITE');
    assert.is(err.pivot, 1);
    assert.is(err.value, -3);
    assert.match(err.message, /not positive definite at pivot 1 \(reduced diagonal -3\)/);
  }
  assert.throws(() => solveSPD(3, f64(1, 0, 0, 0, 0, 0, 0, 0, 1), f64(1, 1, 1)), /not positive definite at pivot 1/);
  assert.is(choleskyBase(1, f64(NaN), 0, 1), 0);
  assert.throws(() => solveSPD(1, f64(NaN), f64(1)), /solveSPD: A\[0,0\] must be finite \(got NaN\)/);
});

test('solveGeneral: partial pivoting handles a zero leading pivot; residual 1e-12; singular report', () => {
  assert.equal(Array.from(solveGeneral(2, f64(0, 1, 1, 0), f64(2, 3))), [3, 2]);
  const r = rng(2),
    n = 30,
    A = randMatrix(r, n, n),
    B = randMatrix(r, n, 2);
  assert.ok(relErr(mul(n, A, solveGeneral(n, A, B, 2), n, 2), B) < 1e-11);
  try {
    solveGeneral(3, f64(1, 2, 3, 2, 4, 6, 0, 0, 1), f64(1, 2, 3));
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, SingularMatrixError);
    assert.is((e as SingularMatrixError).code, 'SINGULAR_MATRIX');
    assert.match((e as Error).message, /singular \(zero pivot in column 1\)/);
  }
  assert.throws(() => solveGeneral(2, f64(1, 2, 3), f64(1, 2)), /solveGeneral: A too short \(length 3, needs 4\)/);
});

test('ldlt: P A Pᵀ = L D Lᵀ to 1e-13 on random indefinite matrices; inertia matches eigenvalue signs', () => {
  const r = rng(3);
  for (const n of [1, 2, 7, 30]) {
    const A = randSym(r, n),
      f = ldlt(n, A);
    // Build D (block diagonal) and check the reconstruction.
    const D = new Float64Array(n * n);
    for (let k = 0; k < n; k++) {
      D[k * n + k] = f.D[k]!;
      if (f.blocks[k] === 2) {
        D[k * n + k + 1] = f.E[k]!;
        D[(k + 1) * n + k] = f.E[k]!;
      }
    }
    const LDLt = mul(n, mul(n, f.L, D), tr(n, f.L));
    const PAPt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) PAPt[i * n + j] = A[f.perm[i]! * n + f.perm[j]!]!;
    assert.ok(relErr(LDLt, PAPt) < 1e-13, `n=${n} residual ${relErr(LDLt, PAPt)}`);
    const ev = symEig(n, A).values;
    assert.equal(
      f.inertia,
      { positive: ev.filter((v) => v > 0).length, negative: ev.filter((v) => v < 0).length, zero: 0 },
      `n=${n}`,
    );
    const b = randMatrix(r, n, 1),
      x = ldltSolve(f, b);
    assert.ok(relErr(mul(n, A, x, n, 1), b) < 1e-11, `ldltSolve n=${n}`);
  }
});

test('ldlt: hand cases — [[0,1],[1,0]] needs a 2×2 pivot; diag(1, 0, −2) has a zero; SPD is all positive', () => {
  const f = ldlt(2, f64(0, 1, 1, 0));
  assert.equal(f.inertia, { positive: 1, negative: 1, zero: 0 });
  assert.is(f.blocks[0], 2);
  assert.equal(inertia(3, f64(1, 0, 0, 0, 0, 0, 0, 0, -2)), { positive: 1, negative: 1, zero: 1 });
  assert.equal(inertia(4, randSPD(rng(4), 4)), { positive: 4, negative: 0, zero: 0 });
  assert.throws(() => ldlt(2, f64(1, NaN, NaN, 1)), /ldlt: A\[0,1\] must be finite \(got NaN\)/);
});

test('symEig: A V = V Λ and Vᵀ V = I to 1e-12, ascending values (n = 1, 2, 10, 120)', () => {
  const r = rng(5);
  for (const n of [1, 2, 10, 120]) {
    const A = randSym(r, n),
      { values, vectors: V } = symEig(n, A);
    const AV = mul(n, A, V),
      VL = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) VL[i * n + k] = V[i * n + k]! * values[k]!;
    assert.ok(relErr(AV, VL) < 1e-12, `n=${n} residual ${relErr(AV, VL)}`);
    const I = new Float64Array(n * n);
    for (let i = 0; i < n; i++) I[i * n + i] = 1;
    assert.ok(relErr(mul(n, tr(n, V), V), I) < 1e-12, `n=${n} orthogonality`);
    for (let k = 1; k < n; k++) assert.ok(values[k - 1]! <= values[k]!);
    const only = symEigValues(n, A);
    assert.ok(relErr(only, values) < 1e-12, `eigenvalues-only path n=${n} ${relErr(only, values)}`);
  }
});

test('symEig: known spectra — [[2,1],[1,2]] → [1,3], identity (repeated), diagonal; symEigMin', () => {
  assert.ok(relErr(symEig(2, f64(2, 1, 1, 2)).values, [1, 3]) < 1e-15);
  const I = symEig(3, f64(1, 0, 0, 0, 1, 0, 0, 0, 1));
  assert.equal(Array.from(I.values), [1, 1, 1]);
  assert.ok(relErr(symEig(3, f64(3, 0, 0, 0, -1, 0, 0, 0, 2)).values, [-1, 2, 3]) < 1e-15);
  assert.ok(Math.abs(symEigMin(2, f64(0, 1, 1, 0)) + 1) < 1e-15);
  assert.throws(() => symEig(2, f64(1, 2, 3)), /symEig: A too short \(length 3, needs 4\)/);
  assert.throws(() => symEig(1, f64(Infinity)), /symEig: A\[0,0\] must be finite \(got Infinity\)/);
});

test.run();
