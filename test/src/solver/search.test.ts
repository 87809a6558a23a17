/**
 * Fit-from-scratch search (solve with `search`): the population and its report, determinism
 * across concurrency, the evaluation and time caps, warm starts skipping the search, and
 * options validated at the boundary.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import { InlineOracle, SEARCH_DEFAULTS, solve } from '@attnfit/coordinator/internal';
import { naiveLoss, norm2, perturbed, planted, plantedSelf } from './planted.js';

const P = planted(96, 3, 11);
/** A small schedule: 3 spreads × (identity, whitened, random) = 9 starts, 2 hop rounds. */
const SMALL = { spreads: [0.5, 1, 2], rounds: [2, 4], finalists: 2, polishIter: 10, hops: 2, hopRounds: [4] };

test('search: every start is reported with its family, spread, status and cost; the best is returned', async () => {
  const r = await solve(new InlineOracle(P), { search: SMALL, tol: 1e-300, gtol: 0 });
  const s = r.search!;
  assert.ok(s, 'report.search present');
  assert.is(s.starts.length, 9 + 2 * 3, 'population + 2 hops of 3 radii');
  assert.equal(
    s.families.map((f) => f.family),
    ['identity', 'whitened', 'random', 'hop'],
  );
  assert.is(s.stopReason, 'schedule');
  for (const st of s.starts) {
    assert.ok(
      ['finalist', 'converged', 'stopped'].includes(st.status) || /^pruned@\d$/.test(st.status),
      `status ${st.status}`,
    );
    assert.ok(st.evals >= 1 && st.relLoss !== null, `start ${st.index} evaluated`);
  }
  assert.is(
    s.evaluations,
    s.starts.reduce((a, b) => a + b.evals, 0),
  );
  // the returned point is the lowest relative loss of the population, checked independently
  const min = Math.min(...s.starts.map((st) => st.relLoss!));
  assert.is(r.relLoss, min);
  assert.ok(Math.abs(naiveLoss(P, r.X, r.Y) / norm2(P.B) - r.relLoss) <= 1e-9 * Math.max(r.relLoss, 1e-12));
  // best-so-far is monotone and ends at the result
  const b = s.bestSoFar;
  for (let i = 1; i < b.length; i++) assert.ok(b[i]!.relLoss <= b[i - 1]!.relLoss);
  assert.is(b[b.length - 1]!.relLoss, r.relLoss);
  assert.is(r.starts.length, 1);
  assert.is(r.starts[0]!.init, 'search');
});

test('search: bitwise the same result for any concurrency', async () => {
  const a = await solve(new InlineOracle(P), { search: SMALL, concurrency: 1 });
  const b = await solve(new InlineOracle(P), { search: SMALL, concurrency: 4 });
  assert.equal(Array.from(a.X), Array.from(b.X));
  assert.equal(Array.from(a.Y), Array.from(b.Y));
  assert.equal(
    a.search!.starts.map((s) => [s.status, s.relLoss]),
    b.search!.starts.map((s) => [s.status, s.relLoss]),
  );
});

test('search: maxEvals ends it between rounds (deterministic), budgetSeconds ends it on time', async () => {
  const r = await solve(new InlineOracle(P), { search: { ...SMALL, maxEvals: 10 } });
  assert.is(r.search!.stopReason, 'max-evals');
  assert.ok(r.search!.starts.every((s) => s.status !== 'running'));
  const again = await solve(new InlineOracle(P), { search: { ...SMALL, maxEvals: 10 } });
  assert.equal(Array.from(again.X), Array.from(r.X));
  const t = await solve(new InlineOracle(P), { search: { ...SMALL, budgetSeconds: 1e-9 } });
  assert.is(t.search!.stopReason, 'budget');
  assert.ok(Number.isFinite(t.relLoss), 'a budget stop still returns an evaluated point');
  assert.ok(t.message.includes('search ended: budget'), t.message);
});

test('search: a warm start skips it; converging ends it early', async () => {
  const warm = await solve(new InlineOracle(P), { search: SMALL, x0: perturbed(P.Xtrue, 0.05, 3), tol: 1e-14 });
  assert.is(warm.search, undefined);
  assert.ok(warm.converged);
  // self-attention whose truth is a scaled identity ("attend to similar tokens"): found from scratch
  const d = 3;
  const X = new Float64Array(d * d);
  for (let i = 0; i < d; i++) X[i * d + i] = 4;
  const p = plantedSelf(96, d, 12, X);
  const r = await solve(new InlineOracle(p), { search: SMALL, tol: 1e-12 });
  assert.ok(r.converged, r.message);
  assert.is(r.search!.stopReason, 'converged');
  assert.ok(r.search!.starts.some((s) => s.status === 'converged'));
});

test('search: a finalist that keeps halving its objective is polished past polishIter (up to maxIter)', async () => {
  const d = 3;
  const X = new Float64Array(d * d);
  for (let i = 0; i < d; i++) X[i * d + i] = 4;
  const p = plantedSelf(96, d, 12, X);
  const r = await solve(new InlineOracle(p), { search: { ...SMALL, polishIter: 1, hops: 0 }, tol: 1e-12 });
  assert.ok(r.converged, r.message);
  assert.is(r.search!.stopReason, 'converged');
  const c = r.search!.starts[r.search!.best]!;
  assert.ok(c.iterations > 2 + 4 + 1, `polished ${c.iterations} iterations in all`);
});

test('search: defaults are frozen; bad caps are BAD_OPTION naming the field', async () => {
  assert.ok(Object.isFrozen(SEARCH_DEFAULTS));
  for (const [search, field] of [
    [{ budgetSeconds: 0 }, 'budgetSeconds'],
    [{ maxEvals: 1.5 }, 'maxEvals'],
    [{ budgetSeconds: NaN }, 'budgetSeconds'],
  ] as const) {
    const e = await solve(new InlineOracle(P), { search }).then(
      () => null,
      (err: unknown) => err,
    );
    assert.instance(e, AttnfitError);
    assert.is((e as AttnfitError).code, 'BAD_OPTION');
    assert.ok((e as AttnfitError).message.startsWith(field), (e as AttnfitError).message);
  }
});

test.run();
