// Tier 1: hand-computed tiny cases. Tier 2: an independent naive implementation (naive.ts:
// explicit S, F, C with nested loops, per-row n×n Kronecker Hessian) on random problems.
// Tier 3: block-partition invariance (1, 2, 7 blocks agree to 1e-12; same blockRows ⇒ bitwise).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  blockPartials,
  evaluateProblem,
  combinePartials,
  emptyPartials,
  planBlocks,
  attentionForward,
  ARRAY_PARTIAL_KEYS,
} from '@attnfit/shared/math';
import type { Partials } from '@attnfit/shared/math';
import { randMatrix } from '../helpers/rng.js';
import { naiveForward, naiveGrad, naiveNormal, naiveHessXX, randomInstance, relMax } from './naive.js';

const f64 = (...v: number[]) => new Float64Array(v);
const close = (a: number, b: number, tol = 1e-14) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('n = 1: softmax is 1, L = (c·y − t)², gradX and hessXX vanish', () => {
  const p = { n: 1, d: 1, A1: f64(2), A2: f64(-3), A3: f64(1.5), B: f64(0.5) };
  const part = evaluateProblem(p, f64(0.7), f64(2), {
    loss: true,
    gradX: true,
    gradY: true,
    hessXX: true,
    hessXY: true,
    normal: true,
  });
  assert.ok(close(part.loss!, (1.5 * 2 - 0.5) ** 2));
  assert.is(part.gradX![0], 0);
  assert.ok(close(part.gradY![0]!, 2 * 1.5 * (1.5 * 2 - 0.5)));
  assert.is(part.hessXX![0], 0);
  assert.is(part.hessXY![0], 0);
  assert.ok(close(part.MtM![0]!, 2.25) && close(part.MtB![0]!, 0.75));
});

test('n = 2, d = 1 by hand: F = [1/4, 3/4], L = 5/8, gradX = 3/16, gradY = 7/4', () => {
  // S rows are [0, x]; x = ln 3 → F = [1/4, 3/4]; H = [1, 2]; FH = 7/4; C = [3/4, −1/4].
  const p = { n: 2, d: 1, A1: f64(1, 1), A2: f64(0, 1), A3: f64(1, 2), B: f64(1, 2) };
  const part = evaluateProblem(p, f64(Math.log(3)), f64(1), { loss: true, gradX: true, gradY: true, normal: true });
  assert.ok(close(part.loss!, 0.625));
  assert.ok(close(part.gradX![0]!, 3 / 16));
  assert.ok(close(part.gradY![0]!, 7 / 4));
  assert.ok(close(part.MtM![0]!, 2 * (7 / 4) ** 2) && close(part.MtB![0]!, (3 * 7) / 4));
  assert.ok(relMax(attentionForward(p, f64(Math.log(3)), f64(1)), [7 / 4, 7 / 4]) < 1e-15);
});

for (const [seed, n, d] of [
  [21, 300, 8],
  [22, 40, 3],
  [23, 5, 8],
] as const) {
  test(`naive reference n=${n} d=${d}: loss, gradX, gradY, MtM, MtB agree to 1e-11`, () => {
    const { p, X, Y } = randomInstance(seed, n, d);
    const got = evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true, normal: true });
    const fw = naiveForward(p, X, Y),
      g = naiveGrad(p, X, Y),
      nm = naiveNormal(p, X, Y);
    assert.ok(close(got.loss!, fw.loss, 1e-12), `loss ${got.loss} vs ${fw.loss}`);
    assert.ok(relMax(got.gradX!, g.gX) < 1e-11, `gradX ${relMax(got.gradX!, g.gX)}`);
    assert.ok(relMax(got.gradY!, g.gY) < 1e-11, `gradY ${relMax(got.gradY!, g.gY)}`);
    assert.ok(relMax(got.MtM!, nm.MtM) < 1e-12 && relMax(got.MtB!, nm.MtB) < 1e-12, 'normal equations');
    const fwd = attentionForward(p, X, Y);
    assert.ok(relMax(fwd, fw.FH.flat()) < 1e-12, 'attentionForward = F H');
  });
}

for (const [seed, n, d, scale] of [
  [31, 60, 4, undefined],
  [32, 25, 6, 50],
  [33, 4, 6, undefined],
] as const) {
  test(`naive Kronecker hessXX n=${n} d=${d}${scale ? ' logits ~50' : ''} agrees to 1e-10`, () => {
    const { p, X, Y } = randomInstance(seed, n, d, scale === undefined ? {} : { logitScale: scale });
    const got = evaluateProblem(p, X, Y, { hessXX: true }).hessXX!;
    const want = naiveHessXX(p, X, Y);
    assert.ok(relMax(got, want) < 1e-10, `hessXX ${relMax(got, want)}`);
  });
}

function assertPartialsClose(a: Partials, b: Partials, tol: number, what: string): void {
  assert.is(a.rows, b.rows, `${what}: rows`);
  assert.ok(close(a.loss!, b.loss!, tol), `${what}: loss ${a.loss} vs ${b.loss}`);
  for (const k of ARRAY_PARTIAL_KEYS) {
    if (b[k] === undefined) {
      assert.is(a[k], undefined, `${what}: ${k} should be absent`);
      continue;
    }
    assert.ok(relMax(a[k]!, b[k]!) < tol, `${what}: ${k} rel err ${relMax(a[k]!, b[k]!)}`);
  }
}

test('block-partition invariance n=300 d=8: 1, 2 and 7 row blocks agree to 1e-12; same blockRows ⇒ bitwise', () => {
  const { p, X, Y, r } = randomInstance(41, 300, 8);
  const want = {
    loss: true,
    gradX: true,
    gradY: true,
    hessXX: true,
    hessXY: true,
    normal: true,
    hvpX: randMatrix(r, 8, 8),
    mixedXY: randMatrix(r, 8, 8),
    mixedYX: randMatrix(r, 8, 8),
  };
  const one = evaluateProblem(p, X, Y, want, 300);
  const two = evaluateProblem(p, X, Y, want, 150);
  const seven = evaluateProblem(p, X, Y, want, 43);
  assert.is(planBlocks(300, 43).length, 7);
  assertPartialsClose(two, one, 1e-12, '2 blocks');
  assertPartialsClose(seven, one, 1e-12, '7 blocks');
  // Same blocks reduced in block order by hand (what every scheduler does) ⇒ bitwise equal.
  const byHand = planBlocks(300, 43)
    .map(([r0, r1]) => blockPartials(p, r0, r1, X, Y, want))
    .reduce(combinePartials, emptyPartials());
  assert.is(byHand.loss, seven.loss);
  for (const k of ARRAY_PARTIAL_KEYS) assert.equal(Array.from(byHand[k]!), Array.from(seven[k]!), `bitwise ${k}`);
});

test('repeated evaluations interleaved with other shapes and wants are bitwise identical (no scratch leaks)', () => {
  const big = randomInstance(45, 50, 3),
    small = randomInstance(46, 9, 2);
  const want = {
    loss: true,
    gradX: true,
    hessXX: true,
    hvpX: randMatrix(big.r, 3, 3),
    mixedXY: randMatrix(big.r, 3, 3),
    mixedYX: randMatrix(big.r, 3, 3),
  };
  const first = evaluateProblem(big.p, big.X, big.Y, want, 16);
  evaluateProblem(small.p, small.X, small.Y, { loss: true, gradX: true, hvpX: randMatrix(small.r, 2, 2) }, 4);
  evaluateProblem(big.p, big.X, big.Y, { mixedXY: randMatrix(big.r, 3, 3) }, 50);
  const again = evaluateProblem(big.p, big.X, big.Y, want, 16);
  assert.is(again.loss, first.loss);
  for (const k of ['gradX', 'hessXX', 'hvpX', 'mixedXY', 'mixedYX'] as const)
    assert.equal(Array.from(again[k]!), Array.from(first[k]!), k);
});

test('blockPartials returns only the requested fields; empty blocks give zero partials', () => {
  const { p, X, Y } = randomInstance(42, 10, 2);
  const part = blockPartials(p, 3, 7, X, Y, { gradY: true });
  assert.equal(Object.keys(part).sort(), ['gradY', 'rows']);
  assert.is(part.rows, 4);
  const empty = blockPartials(p, 5, 5, X, Y, { loss: true, gradX: true, hessXX: true });
  assert.is(empty.rows, 0);
  assert.is(empty.loss, 0);
  assert.equal(Array.from(empty.gradX!), [0, 0, 0, 0]);
  assert.is(empty.hessXX!.length, 16);
});

test('blockPartials rejects bad rows and shapes with codes naming the field', () => {
  const { p, X, Y } = randomInstance(43, 6, 2);
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return [(e as { code?: string }).code, (e as Error).message];
    }
    return ['none', ''];
  };
  const [c1, m1] = code(() => blockPartials(p, 4, 9, X, Y, { loss: true }));
  assert.is(c1, 'BAD_OPTION');
  assert.match(m1!, /r0 <= r1 <= n = 6 \(got \[4, 9\)\)/);
  const [c2, m2] = code(() => blockPartials(p, 0, 6, new Float64Array(3), Y, { loss: true }));
  assert.is(c2, 'SHAPE_MISMATCH');
  assert.match(m2!, /X: length must be 4 \(got 3\)/);
  const [c3, m3] = code(() => blockPartials(p, 0, 6, X, Y, { hvpX: new Float64Array(9) }));
  assert.is(c3, 'SHAPE_MISMATCH');
  assert.match(m3!, /want.hvpX/);
  const [c4] = code(() => blockPartials({ ...p, B: new Float64Array(2) }, 0, 6, X, Y, { loss: true }));
  assert.is(c4, 'SHAPE_MISMATCH');
  const [c5, m5] = code(() =>
    blockPartials({ ...p, d: 0 }, 0, 6, new Float64Array(0), new Float64Array(0), { loss: true }),
  );
  assert.is(c5, 'EMPTY');
  assert.match(m5!, /d: must be >= 1 \(got 0\)/);
});

test('combinePartials adds in place, copies missing arrays, and reports length mismatches', () => {
  const acc = emptyPartials();
  const b = { rows: 2, loss: 1.5, gradX: f64(1, 2) };
  assert.is(combinePartials(acc, b), acc);
  assert.ok(acc.gradX !== b.gradX, 'copied, not aliased');
  combinePartials(acc, { rows: 3, loss: 0.5, gradX: f64(10, 20), gradY: f64(7) });
  assert.equal(
    { rows: acc.rows, loss: acc.loss, gradX: Array.from(acc.gradX!), gradY: Array.from(acc.gradY!) },
    { rows: 5, loss: 2, gradX: [11, 22], gradY: [7] },
  );
  assert.equal(Array.from(b.gradX), [1, 2], 'b untouched');
  assert.throws(() => combinePartials(acc, { rows: 1, gradX: f64(1) }), /gradX length mismatch \(2 vs 1\)/);
});

test('planted problem: loss and gradients vanish at the planted (X*, Y*)', () => {
  const { p, X, Y } = randomInstance(44, 30, 3);
  const B = attentionForward(p, X, Y);
  const part = evaluateProblem({ ...p, B }, X, Y, { loss: true, gradX: true, gradY: true });
  assert.ok(part.loss! < 1e-26, `loss ${part.loss}`);
  assert.ok(Math.max(...part.gradX!.map(Math.abs), ...part.gradY!.map(Math.abs)) < 1e-12);
});

test.run();
