// The Hessian assembly's per-thread key-slab cache (A2∘A3, A2∘A2 built once per problem) must
// never serve stale slabs: a problem whose A2 or A3 changes in place between evaluations gives
// bitwise the Hessian of a fresh copy of the changed problem, and the naive Kronecker reference
// agrees with it. Also: the packed-triangle product makes hessXX exactly symmetric.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateProblem } from '@attnfit/shared/math';
import type { Problem } from '@attnfit/shared/math';
import { naiveHessXX, randomInstance, relMax } from './naive.js';

const HESS = { hessXX: true, hessXY: true } as const;
const copy = (p: Problem): Problem => ({
  n: p.n,
  d: p.d,
  A1: p.A1.slice(),
  A2: p.A2.slice(),
  A3: p.A3.slice(),
  B: p.B.slice(),
});
const bitwise = (a: Float64Array, b: Float64Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

for (const key of ['A2', 'A3'] as const) {
  test(`${key} changed in place between evaluations: the Hessian is that of the changed problem (bitwise), never a cached one`, () => {
    const { p, X, Y } = randomInstance(51, 30, 4);
    const before = evaluateProblem(p, X, Y, HESS); // fills this thread's cache with p's slabs
    p[key][7] += 0.25; // one entry of one key row
    const after = evaluateProblem(p, X, Y, HESS);
    const fresh = evaluateProblem(copy(p), X, Y, HESS);
    assert.ok(bitwise(after.hessXX!, fresh.hessXX!), 'hessXX equals a fresh copy of the changed problem');
    assert.ok(bitwise(after.hessXY!, fresh.hessXY!), 'hessXY equals a fresh copy of the changed problem');
    assert.ok(!bitwise(after.hessXX!, before.hessXX!) || !bitwise(after.hessXY!, before.hessXY!), 'the change shows');
    assert.ok(relMax(after.hessXX!, naiveHessXX(p, X, Y)) < 1e-10, 'naive reference');
  });
}

test('a second problem with the same values reuses nothing it should not: same bits as the first', () => {
  const { p, X, Y } = randomInstance(52, 25, 3);
  const a = evaluateProblem(p, X, Y, HESS);
  const b = evaluateProblem(copy(p), X, Y, HESS);
  assert.ok(bitwise(a.hessXX!, b.hessXX!) && bitwise(a.hessXY!, b.hessXY!));
});

test('hessXX is exactly symmetric (one product of packed triangles)', () => {
  const { p, X, Y } = randomInstance(53, 40, 6, { logitScale: 20 });
  const h = evaluateProblem(p, X, Y, { hessXX: true }).hessXX!;
  const dd = p.d * p.d;
  for (let i = 0; i < dd; i++) for (let j = i + 1; j < dd; j++) assert.is(h[i * dd + j], h[j * dd + i]);
});

test.run();
