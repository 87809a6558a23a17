// The Y-subproblem (Y*, H_yy and its inverse), the paper's regulariser, Gram partials, and the
// loss normalisation helpers. Finite differences with stated tolerances for every derivative.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  evaluateProblem,
  solveYStar,
  solveYStarDetailed,
  hessYY,
  applyHessYYInverse,
  regTerms,
  gram,
  gramPartials,
  planBlocks,
  bNorm2,
  relLoss,
} from '@attnfit/shared/math';
import { randMatrix } from '../helpers/rng.js';
import { randomInstance, relMax, fd4 } from './naive.js';

const matVec = (H: Float64Array, v: ArrayLike<number>) => {
  const dd = v.length,
    out = new Float64Array(dd);
  for (let i = 0; i < dd; i++) {
    let s = 0;
    for (let j = 0; j < dd; j++) s += H[i * dd + j]! * v[j]!;
    out[i] = s;
  }
  return out;
};
const shift = (A: Float64Array, V: ArrayLike<number>, t: number) => A.map((v, i) => v + t * V[i]!);
const unit = (len: number, i: number) => {
  const e = new Float64Array(len);
  e[i] = 1;
  return e;
};
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'none';
};

test('solveYStar: ∇_Y L(X, Y*) + 2λY* = 0 (λ = 0 and λ = 0.5), relative 1e-10', () => {
  const { p, X } = randomInstance(51, 40, 3);
  const { MtM, MtB } = evaluateProblem(p, X, new Float64Array(9), { normal: true });
  for (const lambda of [0, 0.5]) {
    const Y = solveYStar(MtM!, MtB!, 3, lambda);
    const g = evaluateProblem(p, X, Y, { gradY: true }).gradY!;
    const scale = Math.max(...evaluateProblem(p, X, new Float64Array(9), { gradY: true }).gradY!.map(Math.abs));
    const resid = g.map((v, i) => v + 2 * lambda * Y[i]!);
    assert.ok(Math.max(...resid.map(Math.abs)) < 1e-10 * scale, `lambda=${lambda}`);
  }
});

test('solveYStar is robust at X = 0 (MᵀM rank one): raises λ, returns a finite Y; bad input codes', () => {
  const { p } = randomInstance(52, 20, 4);
  const { MtM, MtB } = evaluateProblem(p, new Float64Array(16), new Float64Array(16), { normal: true });
  const { Y, lambda } = solveYStarDetailed(MtM!, MtB!, 4, 0);
  assert.ok(lambda > 0, `lambda raised to ${lambda}`);
  for (const v of Y) assert.ok(Number.isFinite(v));
  assert.is(
    codeOf(() => solveYStar(new Float64Array(4).fill(NaN), new Float64Array(4), 2, 0)),
    'NON_FINITE',
  );
  assert.is(
    codeOf(() => solveYStar(new Float64Array(4), new Float64Array(4), 2, -1)),
    'BAD_OPTION',
  );
  assert.is(
    codeOf(() => solveYStar(new Float64Array(4), new Float64Array(9), 2, 0)),
    'SHAPE_MISMATCH',
  );
});

test('hessYY = 2 (MᵀM + λI) ⊗ I matches finite differences of ∇_Y L (tol 1e-8); applyHessYYInverse inverts it', () => {
  const { p, X, Y, r } = randomInstance(53, 25, 3);
  const { MtM } = evaluateProblem(p, X, Y, { normal: true });
  const H = hessYY(MtM!, 3),
    dd = 9;
  for (let i = 0; i < dd; i++) {
    const col = fd4((t) => evaluateProblem(p, X, shift(Y, unit(dd, i), t), { gradY: true }).gradY!, 1e-3);
    const mine = new Float64Array(dd);
    for (let k = 0; k < dd; k++) mine[k] = H[k * dd + i]!;
    assert.ok(relMax(mine, col) < 1e-8, `column ${i}`);
  }
  const V = randMatrix(r, 3, 3);
  assert.ok(relMax(applyHessYYInverse(MtM!, 3, matVec(H, V)), V) < 1e-10);
  const Hl = hessYY(MtM!, 3, 0.25);
  assert.ok(relMax(applyHessYYInverse(MtM!, 3, matVec(Hl, V), 0.25), V) < 1e-10);
  assert.is(Hl[0]! - H[0]!, 0.5);
});

test('regTerms: loss = ½γ‖A1 X A2ᵀ‖², gradX and hess match finite differences (tol 1e-8)', () => {
  const { p, X } = randomInstance(54, 12, 3);
  const { n, d, A1, A2 } = p,
    gamma = 0.3,
    dd = d * d;
  const naiveLoss = (Xv: Float64Array) => {
    let s = 0;
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++) {
        let v = 0;
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) v += A1[j * d + a]! * Xv[a * d + b]! * A2[k * d + b]!;
        s += v * v;
      }
    return 0.5 * gamma * s;
  };
  const { G1, G2 } = gram(p);
  const t = regTerms(G1, G2, X, d, gamma);
  assert.ok(Math.abs(t.loss - naiveLoss(X)) < 1e-12 * naiveLoss(X));
  const fdG = new Float64Array(dd);
  for (let i = 0; i < dd; i++) fdG[i] = fd4((s) => [naiveLoss(shift(X, unit(dd, i), s))], 1e-3)[0]!;
  assert.ok(relMax(t.gradX, fdG) < 1e-8, `gradX ${relMax(t.gradX, fdG)}`);
  for (let i = 0; i < dd; i++) {
    const col = fd4((s) => regTerms(G1, G2, shift(X, unit(dd, i), s), d, gamma, false).gradX, 1e-3);
    for (let k = 0; k < dd; k++)
      assert.ok(Math.abs(t.hess![k * dd + i]! - col[k]!) < 1e-8 * Math.max(1, Math.abs(col[k]!)), `hess[${k},${i}]`);
  }
  assert.is(regTerms(G1, G2, X, d, gamma, false).hess, undefined);
  assert.is(
    codeOf(() => regTerms(G1, G2, X, d, -1)),
    'BAD_OPTION',
  );
});

test('gramPartials sum over any row partition to gram; per-row weights weight the logit rows', () => {
  const { p, X } = randomInstance(55, 23, 4);
  const full = gram(p),
    acc = { G1: new Float64Array(16), G2: new Float64Array(16) };
  for (const [r0, r1] of planBlocks(23, 5)) {
    const g = gramPartials(p, r0, r1);
    for (let i = 0; i < 16; i++) {
      acc.G1[i] += g.G1[i]!;
      acc.G2[i] += g.G2[i]!;
    }
  }
  assert.ok(relMax(acc.G1, full.G1) < 1e-13 && relMax(acc.G2, full.G2) < 1e-13);
  const w = Array.from({ length: 23 }, (_, j) => (j % 3) * 0.5);
  const { n, d, A1, A2 } = p;
  let want = 0;
  for (let j = 0; j < n; j++)
    for (let k = 0; k < n; k++) {
      let v = 0;
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) v += A1[j * d + a]! * X[a * d + b]! * A2[k * d + b]!;
      want += 0.5 * 2 * w[j]! * v * v;
    }
  const gw = gram(p, w);
  assert.ok(Math.abs(regTerms(gw.G1, gw.G2, X, d, 2).loss - want) < 1e-12 * want);
  assert.is(
    codeOf(() => gram(p, [1, 2])),
    'SHAPE_MISMATCH',
  );
  assert.is(
    codeOf(() => gram(p, Array(23).fill(-1))),
    'BAD_OPTION',
  );
});

test('bNorm2 and relLoss', () => {
  const B = new Float64Array([1, 2, 3, 4]);
  assert.is(bNorm2({ n: 2, d: 2, B }), 30);
  assert.is(relLoss(3, 30), 0.1);
  assert.is(relLoss(3, 0), 3);
});

test.run();
