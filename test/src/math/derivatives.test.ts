// Finite-difference checks of every derivative blockPartials produces (project rule), on
// several instances: generic, logits of magnitude ~50, A1 = A2 = A3, n < d, d = 1.
// Reference: 4th-order central differences (error O(h⁴)); tolerance 1e-6 relative to the
// largest entry of the reference (stated per assertion).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateProblem, setHessianSlabElements } from '@attnfit/shared/math';
import type { Problem } from '@attnfit/shared/math';
import { randMatrix } from '../helpers/rng.js';
import { randomInstance, relMax, fd4 } from './naive.js';

const TOL = 1e-6;

const instances = [
  { name: 'generic n=7 d=3', ...randomInstance(11, 7, 3) },
  { name: 'logits ~50 n=9 d=4', ...randomInstance(12, 9, 4, { logitScale: 50 }) },
  { name: 'A1=A2=A3 n=6 d=3', ...randomInstance(13, 6, 3, { tied: true }) },
  { name: 'n<d n=3 d=5', ...randomInstance(14, 3, 5) },
  { name: 'd=1 n=5', ...randomInstance(15, 5, 1) },
];

const shift = (A: Float64Array, V: ArrayLike<number>, t: number) => A.map((v, i) => v + t * V[i]!);
const unit = (len: number, i: number) => {
  const e = new Float64Array(len);
  e[i] = 1;
  return e;
};
const lossAt = (p: Problem, X: Float64Array, Y: Float64Array) => [evaluateProblem(p, X, Y, { loss: true }).loss!];
const gradXAt = (p: Problem, X: Float64Array, Y: Float64Array) => evaluateProblem(p, X, Y, { gradX: true }).gradX!;
const gradYAt = (p: Problem, X: Float64Array, Y: Float64Array) => evaluateProblem(p, X, Y, { gradY: true }).gradY!;
/** Step: 1e-4 relative to the size of X (logit-50 instances have small X entries but large slopes). */
const stepFor = (A: Float64Array) => 1e-4 * Math.max(1e-2, Math.sqrt(A.reduce((s, v) => s + v * v, 0) / A.length));
/** Symmetric matrix-vector product H v for a dd×dd row-major H. */
const matVec = (H: Float64Array, v: ArrayLike<number>, transpose = false) => {
  const dd = v.length,
    out = new Float64Array(dd);
  for (let i = 0; i < dd; i++) {
    let s = 0;
    for (let j = 0; j < dd; j++) s += (transpose ? H[j * dd + i]! : H[i * dd + j]!) * v[j]!;
    out[i] = s;
  }
  return out;
};

for (const inst of instances) {
  const { p, X, Y, r } = inst;
  const dd = p.d * p.d;
  const hX = stepFor(X),
    hY = stepFor(Y);

  test(`${inst.name}: gradX and gradY match finite differences of the loss (tol ${TOL})`, () => {
    const part = evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true });
    const fdX = new Float64Array(dd),
      fdY = new Float64Array(dd);
    for (let i = 0; i < dd; i++) {
      fdX[i] = fd4((t) => lossAt(p, shift(X, unit(dd, i), t), Y), hX)[0]!;
      fdY[i] = fd4((t) => lossAt(p, X, shift(Y, unit(dd, i), t)), hY)[0]!;
    }
    assert.ok(relMax(part.gradX!, fdX) < TOL, `gradX rel err ${relMax(part.gradX!, fdX)}`);
    assert.ok(relMax(part.gradY!, fdY) < TOL, `gradY rel err ${relMax(part.gradY!, fdY)}`);
    assert.ok(Number.isFinite(part.loss!) && part.loss! > 0);
  });

  test(`${inst.name}: hessXX and hessXY match finite differences of gradX (tol ${TOL})`, () => {
    const part = evaluateProblem(p, X, Y, { hessXX: true, hessXY: true });
    const fdXX = new Float64Array(dd * dd),
      fdXY = new Float64Array(dd * dd);
    for (let i = 0; i < dd; i++) {
      const colX = fd4((t) => gradXAt(p, shift(X, unit(dd, i), t), Y), hX);
      const colY = fd4((t) => gradXAt(p, X, shift(Y, unit(dd, i), t)), hY);
      for (let k = 0; k < dd; k++) {
        fdXX[k * dd + i] = colX[k]!;
        fdXY[k * dd + i] = colY[k]!;
      }
    }
    assert.ok(relMax(part.hessXX!, fdXX) < TOL, `hessXX rel err ${relMax(part.hessXX!, fdXX)}`);
    assert.ok(relMax(part.hessXY!, fdXY) < TOL, `hessXY rel err ${relMax(part.hessXY!, fdXY)}`);
    // The mixed block is also ∂(∇_Y L)/∂x transposed: check one column family against gradY.
    for (let i = 0; i < dd; i++) {
      const col = fd4((t) => gradYAt(p, shift(X, unit(dd, i), t), Y), hX);
      for (let k = 0; k < dd; k++) fdXY[i * dd + k] = col[k]!;
    }
    assert.ok(relMax(part.hessXY!, fdXY) < TOL, `hessXY vs d(gradY)/dx rel err ${relMax(part.hessXY!, fdXY)}`);
    for (let i = 0; i < dd; i++)
      for (let j = 0; j < dd; j++) assert.is(part.hessXX![i * dd + j], part.hessXX![j * dd + i]);
  });

  test(`${inst.name}: hvpX, mixedXY, mixedYX match directional differences and the dense blocks`, () => {
    const V = randMatrix(r, p.d, p.d),
      Vy = randMatrix(r, p.d, p.d),
      Vx = randMatrix(r, p.d, p.d);
    const part = evaluateProblem(p, X, Y, { hvpX: V, mixedXY: Vy, mixedYX: Vx, hessXX: true, hessXY: true });
    const fdHv = fd4((t) => gradXAt(p, shift(X, V, t), Y), hX);
    const fdXY = fd4((t) => gradXAt(p, X, shift(Y, Vy, t)), hY);
    const fdYX = fd4((t) => gradYAt(p, shift(X, Vx, t), Y), hX);
    assert.ok(relMax(part.hvpX!, fdHv) < TOL, `hvpX rel err ${relMax(part.hvpX!, fdHv)}`);
    assert.ok(relMax(part.mixedXY!, fdXY) < TOL, `mixedXY rel err ${relMax(part.mixedXY!, fdXY)}`);
    assert.ok(relMax(part.mixedYX!, fdYX) < TOL, `mixedYX rel err ${relMax(part.mixedYX!, fdYX)}`);
    // Products agree with the dense blocks to rounding.
    assert.ok(relMax(part.hvpX!, matVec(part.hessXX!, V)) < 1e-11, 'hessXX·v = hvpX');
    assert.ok(relMax(part.mixedXY!, matVec(part.hessXY!, Vy)) < 1e-11, 'hessXY·vy = mixedXY');
    assert.ok(relMax(part.mixedYX!, matVec(part.hessXY!, Vx, true)) < 1e-11, 'hessXYᵀ·vx = mixedYX');
  });
}

// (this file does not enable relaxed SIMD: the mul+add kernel, whose sums are those of the reference kernel)
test('the Hessian assembly gives bitwise the same result for every key-slab budget (one column of A2 per GEMM, groups with a remainder, all at once)', () => {
  const { p, X, Y } = randomInstance(16, 40, 5);
  const full = evaluateProblem(p, X, Y, { hessXX: true, hessXY: true });
  // budget / (n·d) columns per group: 1, 2 (groups 2+2+1), 5 (one group)
  for (const cols of [1, 2, 5]) {
    const prev = setHessianSlabElements(cols * p.n * p.d);
    try {
      const part = evaluateProblem(p, X, Y, { hessXX: true, hessXY: true });
      assert.ok(
        part.hessXX!.every((v, i) => Object.is(v, full.hessXX![i])),
        `hessXX, ${cols} column(s) per GEMM`,
      );
      assert.ok(
        part.hessXY!.every((v, i) => Object.is(v, full.hessXY![i])),
        `hessXY, ${cols} column(s) per GEMM`,
      );
    } finally {
      setHessianSlabElements(prev);
    }
  }
  assert.throws(() => setHessianSlabElements(0), /elements must be an integer >= 1/);
});

test.run();
