/**
 * Solver on planted problems (InlineOracle: no threads needed for the logic):
 * newton converges quadratically from a warm start; newton-cg converges; lbfgs / adam decrease;
 * histories are monotone; resume is deterministic; the reduced Hessian matches finite
 * differences of the reduced gradient; options are validated; results are checked independently
 * with a naive loss.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import { InlineOracle, SOLVE_DEFAULTS, solve, autoMethod, NEWTON_MAX_D, Reduced } from '@attnfit/coordinator/internal';
import type { IterationEvent, IterationRecord } from '@attnfit/coordinator/internal';
import { randMatrix, rng } from '../helpers/rng.js';
import { naiveLoss, norm2, perturbed, planted } from './planted.js';

const P4 = planted(128, 4, 3);
const P5 = planted(192, 5, 21);

function assertMonotone(h: IterationRecord[], label: string): void {
  for (let i = 1; i < h.length; i++) {
    assert.ok(
      h[i]!.objective <= h[i - 1]!.objective,
      `${label}: objective rose at iteration ${h[i]!.iteration}: ${h[i - 1]!.objective} → ${h[i]!.objective}`,
    );
  }
}

test('newton from a warm start: relLoss < 1e-12 in ≤ 10 iterations, quadratic decrease, naive check', async () => {
  for (const [p, seed] of [
    [P4, 9],
    [P5, 4],
  ] as const) {
    const r = await solve(new InlineOracle(p), { method: 'newton', x0: perturbed(p.Xtrue, 0.05, seed), tol: 1e-14 });
    assert.is(r.method, 'newton');
    assert.ok(r.converged, r.message);
    assert.is(r.stopReason, 'tol');
    assert.ok(r.iterations <= 10, `iterations ${r.iterations}`);
    assertMonotone(r.history, `newton d=${p.d}`);
    // quadratic: once below 1e-4, each step at least squares the relative loss (up to a constant)
    const rl = r.history.map((h) => h.relLoss);
    let quad = 0;
    for (let i = 1; i < rl.length; i++) if (rl[i - 1]! < 1e-4 && rl[i]! <= 10 * rl[i - 1]! ** 1.8) quad++;
    assert.ok(quad >= 1, `no quadratic step in ${rl.map((x) => x.toExponential(1)).join(' ')}`);
    // independent check of the returned X, Y with a plain-loop loss
    const rel = naiveLoss(p, r.X, r.Y) / norm2(p.B);
    assert.ok(rel < 1e-12, `naive relative loss ${rel}`);
    assert.ok(Math.abs(rel - r.relLoss) < 1e-13, `reported ${r.relLoss} vs naive ${rel}`);
  }
});

test('newton-cg converges from a warm start; lbfgs and adam decrease the loss; all monotone', async () => {
  const x0 = perturbed(P4.Xtrue, 0.05, 9);
  const cg = await solve(new InlineOracle(P4), { method: 'newton-cg', x0, tol: 1e-12 });
  assert.ok(cg.converged && cg.relLoss <= 1e-12, cg.message);
  assert.ok(cg.iterations <= 15, `newton-cg iterations ${cg.iterations}`);
  assertMonotone(cg.history, 'newton-cg');
  assert.ok(naiveLoss(P4, cg.X, cg.Y) / norm2(P4.B) < 1e-11);
  for (const method of ['lbfgs', 'adam'] as const) {
    const r = await solve(new InlineOracle(P4), { method, x0, maxIter: 25 });
    assertMonotone(r.history, method);
    assert.ok(r.relLoss < 0.1 * r.history[0]!.relLoss, `${method}: ${r.history[0]!.relLoss} → ${r.relLoss}`);
    assert.ok(Math.abs(naiveLoss(P4, r.X, r.Y) - r.loss) <= 1e-9 * norm2(P4.B));
  }
});

test('reduced Hessian: equals the HVP form and finite differences of the reduced gradient', async () => {
  const red = await Reduced.create(new InlineOracle(P4), 0);
  const X = perturbed(P4.Xtrue, 0.3, 2);
  const pt = await red.point(X, true);
  const S = await red.hessian(pt);
  const N = 16,
    v = randMatrix(rng(8), 4, 4, 1);
  const Sv = new Float64Array(N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) Sv[i]! += S[i * N + j]! * v[j]!;
  const hv = await red.hvp(pt, v);
  const h = 1e-5;
  const gp = (
    await red.point(
      Float64Array.from(X, (x, i) => x + h * v[i]!),
      true,
    )
  ).g!;
  const gm = (
    await red.point(
      Float64Array.from(X, (x, i) => x - h * v[i]!),
      true,
    )
  ).g!;
  let scale = 0,
    e1 = 0,
    e2 = 0;
  for (let i = 0; i < N; i++) {
    const fd = (gp[i]! - gm[i]!) / (2 * h);
    scale = Math.max(scale, Math.abs(fd));
    e1 = Math.max(e1, Math.abs(Sv[i]! - fd));
    e2 = Math.max(e2, Math.abs(hv[i]! - Sv[i]!));
  }
  assert.ok(e1 < 1e-6 * scale, `Schur Hessian vs finite differences: ${e1} (scale ${scale})`);
  assert.ok(e2 < 1e-9 * scale, `HVP vs Schur Hessian: ${e2}`);
});

test('resume from a checkpoint continues bitwise like an uninterrupted run (newton, newton-cg, lbfgs, adam)', async () => {
  for (const method of ['newton', 'newton-cg', 'lbfgs', 'adam'] as const) {
    const opts = { method, x0: perturbed(P4.Xtrue, 0.2, 1), maxIter: 6, tol: 1e-300, gtol: 0 };
    const events: IterationEvent[] = [];
    const full = await solve(new InlineOracle(P4), opts, {
      onIteration: (e) => {
        events.push(e);
      },
    });
    const cp = events.find((e) => e.iteration === 2)!;
    assert.ok(cp, `${method}: checkpoint at iteration 2`);
    const resumed = await solve(new InlineOracle(P4), opts, {
      resume: {
        X: cp.X,
        Y: cp.Y,
        iteration: cp.iteration,
        history: full.history.slice(0, 3),
        state: JSON.parse(JSON.stringify(cp.state)),
      },
    });
    assert.is(resumed.iterations, full.iterations, method);
    assert.equal(Array.from(resumed.X), Array.from(full.X), `${method}: X bitwise`);
    assert.equal(
      resumed.history.map((x) => x.loss),
      full.history.map((x) => x.loss),
      `${method}: history`,
    );
  }
});

test('stationary point with non-zero residual is reported as such; multi-start keeps the best', async () => {
  const r0 = rng(77);
  const p = { ...P4, B: randMatrix(r0, P4.n, P4.d, 1) }; // not realisable: residual stays large
  const r = await solve(new InlineOracle(p), { method: 'newton', starts: 2, seed: 5, maxIter: 40, gtol: 1e-8 });
  assert.is(r.starts.length, 2);
  assert.ok(r.relLoss > 0.01, `relLoss ${r.relLoss}`);
  assert.ok(r.starts.every((s) => s.init === 'random' && s.history.length >= 1));
  assert.is(r.starts[0]!.seed, 5);
  assert.is(r.starts[1]!.seed, 6);
  const best = Math.min(...r.starts.map((s) => s.objective));
  assert.is(r.objective, best);
  assert.is(
    r.bestStart,
    r.starts.findIndex((s) => s.objective === best),
  );
  if (r.stopReason === 'gradient') assert.match(r.message, 'not a zero-residual fit');
  else assert.ok(['max-iter', 'stalled'].includes(r.stopReason), r.stopReason);
  assert.ok(!(r.stopReason === 'tol'));
});

test('B = 0: relative loss falls back to the absolute loss; Y* = 0 fits exactly', async () => {
  const p = { ...P4, B: new Float64Array(P4.n * P4.d) };
  const r = await solve(new InlineOracle(p), { method: 'newton', maxIter: 3 });
  assert.is(r.loss, 0);
  assert.is(r.relLoss, 0);
  assert.is(r.stopReason, 'tol');
  assert.ok(r.converged);
});

test('parallel starts (concurrency 3) give the same result as sequential starts', async () => {
  const opts = { method: 'newton' as const, starts: 3, seed: 2, maxIter: 8 };
  const a = await solve(new InlineOracle(P4), opts);
  const b = await solve(new InlineOracle(P4), { ...opts, concurrency: 3 });
  assert.is(b.bestStart, a.bestStart);
  assert.equal(Array.from(b.X), Array.from(a.X));
  assert.equal(
    b.starts.map((s) => [s.start, s.loss, s.iterations]),
    a.starts.map((s) => [s.start, s.loss, s.iterations]),
  );
  const e = await solve(new InlineOracle(P4), { ...opts, concurrency: 0 }).then(
    () => null,
    (err: unknown) => err,
  );
  assert.is((e as AttnfitError).code, 'BAD_OPTION');
});

test('gamma > 0: objective includes the regulariser, loss stays unregularised', async () => {
  const r = await solve(new InlineOracle(P4), {
    method: 'newton',
    x0: perturbed(P4.Xtrue, 0.05, 9),
    gamma: 1e-3,
    maxIter: 5,
  });
  const h = r.history[r.history.length - 1]!;
  assert.ok(h.objective > h.loss, `objective ${h.objective} vs loss ${h.loss}`);
  assertMonotone(r.history, 'gamma');
  assert.ok(Math.abs(naiveLoss(P4, r.X, r.Y) - r.loss) <= 1e-9 * norm2(P4.B));
});

test('interruption via signal returns the best iterate so far with interrupted = true', async () => {
  const ac = new AbortController();
  const r = await solve(
    new InlineOracle(P4),
    { method: 'adam', maxIter: 10_000, tol: 1e-300, gtol: 0 },
    {
      signal: ac.signal,
      onIteration: (e) => {
        if (e.iteration === 3) ac.abort();
      },
    },
  );
  assert.ok(r.interrupted);
  assert.is(r.stopReason, 'interrupted');
  assert.ok(r.iterations >= 3 && r.iterations <= 4, `iterations ${r.iterations}`);
  assert.ok(Math.abs(naiveLoss(P4, r.X, r.Y) - r.loss) <= 1e-9 * norm2(P4.B));
});

test('default start is random (not the X = 0 saddle), seeded and reproducible; auto method by d', async () => {
  const a = await solve(new InlineOracle(P4), { maxIter: 0 });
  const b = await solve(new InlineOracle(P4), { maxIter: 0 });
  assert.equal(Array.from(a.X), Array.from(b.X));
  assert.ok(a.X.some((v) => v !== 0));
  assert.ok(a.gradNorm > 0, 'gradient non-zero at the default start');
  assert.is(a.method, 'newton');
  assert.is(autoMethod(NEWTON_MAX_D), 'newton');
  assert.is(autoMethod(NEWTON_MAX_D + 1), 'newton-cg');
  assert.ok(Object.isFrozen(SOLVE_DEFAULTS));
  // --y0 defines the reported point at maxIter 0
  const y0 = randMatrix(rng(3), 4, 4, 1);
  const c = await solve(new InlineOracle(P4), { maxIter: 0, x0: P4.Xtrue, y0 });
  assert.ok(Math.abs(c.loss - naiveLoss(P4, P4.Xtrue, y0)) <= 1e-9 * norm2(P4.B));
});

test('bad options reject with BAD_OPTION / SHAPE_MISMATCH naming the field', async () => {
  const o = new InlineOracle(P4);
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ method: 'sgd' }, 'BAD_OPTION', 'method'],
    [{ tol: 0 }, 'BAD_OPTION', 'tol'],
    [{ gtol: -1 }, 'BAD_OPTION', 'gtol'],
    [{ maxIter: 1.5 }, 'BAD_OPTION', 'maxIter'],
    [{ starts: 0 }, 'BAD_OPTION', 'starts'],
    [{ gamma: -1 }, 'BAD_OPTION', 'gamma'],
    [{ x0: new Float64Array(9) }, 'SHAPE_MISMATCH', 'x0'],
    [{ y0: new Float64Array([NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }, 'NON_FINITE', 'y0'],
  ];
  for (const [opts, code, field] of cases) {
    const e = await solve(o, opts as never).then(
      () => null,
      (err: unknown) => err,
    );
    assert.instance(e, AttnfitError, JSON.stringify(opts));
    assert.is((e as AttnfitError).code, code);
    assert.match((e as AttnfitError).message, field);
  }
});

test.run();
