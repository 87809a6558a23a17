/**
 * Row-subsampled screening: subsetBlocks is a pure range function (exhaustive for small sizes);
 * an oracle's row-subset view evaluates exactly the row-subset problem (checked against plain
 * loops and bitwise against the blocks' partials added in order, for inline and 1–2 threads; its
 * gradient against finite differences); and the search with screening is deterministic for any
 * concurrency and thread count, reports what it screened, still fits a small problem from scratch,
 * and leaves warm starts alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import { blockPartials, combinePartials, emptyPartials, planTree, subsetBlocks } from '@attnfit/shared/math';
import type { Oracle } from '@attnfit/coordinator/internal';
import { InlineOracle, LocalOracle, shutdownEngine, solve } from '@attnfit/coordinator/internal';
import { randMatrix, rng } from '../helpers/rng.js';
import { naiveForward, perturbed, planted, plantedSelf } from './planted.js';

const P = planted(96, 3, 11);
const d = P.d;
const BLOCK_ROWS = 16; // 6 blocks
const SEL = [1, 4];
const r = rng(8);
const X = randMatrix(r, d, d, 0.7),
  Y = randMatrix(r, d, d, 1);

test('subsetBlocks: strictly increasing, in range, round(f·n) blocks (≥ 1), seeded, all blocks at f = 1', () => {
  assert.equal(subsetBlocks(8, 0.25, 0), [0, 4]);
  assert.equal(subsetBlocks(5, 1, 3), [0, 1, 2, 3, 4]);
  assert.equal(subsetBlocks(0, 0.5, 1), []);
  for (let nb = 1; nb <= 40; nb++)
    for (const f of [0.01, 0.1, 0.25, 1 / 3, 0.5, 0.9, 1])
      for (const seed of [0, 1, 2, 7, -3, 123456]) {
        const s = subsetBlocks(nb, f, seed);
        assert.is(s.length, Math.min(nb, Math.max(1, Math.round(f * nb))), `nb=${nb} f=${f}`);
        for (let i = 0; i < s.length; i++) {
          assert.ok(Number.isInteger(s[i]) && s[i]! >= 0 && s[i]! < nb, `in range: ${s}`);
          if (i > 0) assert.ok(s[i]! > s[i - 1]!, `increasing: ${s}`);
        }
        assert.equal(subsetBlocks(nb, f, seed), s, 'deterministic');
      }
  // different seeds pick different blocks (the subset is not always the first ones)
  assert.ok(new Set([0, 1, 2, 3, 4].map((seed) => subsetBlocks(16, 0.25, seed).join())).size > 1);
  for (const [f, field] of [
    [0, 'fraction'],
    [1.5, 'fraction'],
    [NaN, 'fraction'],
  ] as const) {
    try {
      subsetBlocks(4, f, 1);
      assert.unreachable('should throw');
    } catch (e) {
      assert.instance(e, AttnfitError);
      assert.is((e as AttnfitError).code, 'BAD_OPTION');
      assert.ok((e as AttnfitError).message.includes(field));
    }
  }
});

/** The selected rows' loss Σ_{i∈S} ‖F_i − B_i‖², F = forward on all keys, with plain loops. */
function naiveSubsetLoss(rows: Array<[number, number]>, Xv: Float64Array, Yv: Float64Array): number {
  const F = naiveForward(P.n, d, P.A1, P.A2, P.A3, Xv, Yv);
  let s = 0;
  for (const [r0, r1] of rows)
    for (let i = r0 * d; i < r1 * d; i++) {
      const e = F[i]! - P.B[i]!;
      s += e * e;
    }
  return s;
}

test('rowSubset: the row-subset problem — plain loops to rounding, blocks in order bitwise, any thread count', async () => {
  const plan = planTree(P.n, d, { blockRows: BLOCK_ROWS });
  assert.is(plan.blocks.length, 6);
  const rows = SEL.map((b) => plan.blocks[b]!);
  const want = { loss: true, gradX: true, gradY: true, normal: true };
  // independent: the selected blocks' partials added in block order from emptyPartials
  const direct = emptyPartials();
  for (const [r0, r1] of rows) combinePartials(direct, blockPartials(P, r0, r1, X, Y, want));
  const inline = new InlineOracle(P, { blockRows: BLOCK_ROWS });
  const views: Oracle[] = [inline.rowSubset(SEL)];
  const locals = [1, 2].map((threads) => new LocalOracle(P, { threads, blockRows: BLOCK_ROWS }));
  for (const o of locals) views.push(o.rowSubset(SEL));
  for (const v of views) {
    const got = await v.evaluate(X, Y, want);
    assert.is(got.rows, 32);
    assert.is(got.loss, direct.loss, `${v.info().kind} loss bitwise`);
    for (const k of ['gradX', 'gradY', 'MtM', 'MtB'] as const)
      assert.equal(Array.from(got[k]!), Array.from(direct[k]!), `${v.info().kind} ${k} bitwise`);
    assert.is(v.rows, 32);
    assert.is(v.n, P.n);
    assert.is(v.info().blocks, 2);
  }
  const naive = naiveSubsetLoss(rows, X, Y);
  assert.ok(Math.abs(direct.loss! - naive) <= 1e-12 * naive, `${direct.loss} vs ${naive}`);
  // ‖B_S‖² and G1 = A1_Sᵀ A1_S over the selected rows; G2 over all keys
  let b2 = 0;
  const G1 = new Float64Array(d * d),
    G2 = new Float64Array(d * d);
  for (const [r0, r1] of rows)
    for (let i = r0; i < r1; i++)
      for (let a = 0; a < d; a++) {
        b2 += P.B[i * d + a]! ** 2;
        for (let c = 0; c < d; c++) G1[a * d + c]! += P.A1[i * d + a]! * P.A1[i * d + c]!;
      }
  for (let i = 0; i < P.n; i++)
    for (let a = 0; a < d; a++) for (let c = 0; c < d; c++) G2[a * d + c]! += P.A2[i * d + a]! * P.A2[i * d + c]!;
  for (const v of views) {
    assert.ok(Math.abs(v.bNorm2 - b2) <= 1e-12 * b2);
    const g = await v.gram();
    for (let i = 0; i < d * d; i++) {
      assert.ok(Math.abs(g.G1[i]! - G1[i]!) <= 1e-12 * (1 + Math.abs(G1[i]!)), `G1[${i}]`);
      assert.ok(Math.abs(g.G2[i]! - G2[i]!) <= 1e-12 * (1 + Math.abs(G2[i]!)), `G2[${i}]`);
    }
  }
  // the gradient of the subset loss, against central differences of the plain-loop loss
  const g = (await views[0]!.evaluate(X, Y, { gradX: true })).gradX!;
  const h = 1e-5;
  for (let k = 0; k < d * d; k++) {
    const Xp = Float64Array.from(X),
      Xm = Float64Array.from(X);
    Xp[k]! += h;
    Xm[k]! -= h;
    const fd = (naiveSubsetLoss(rows, Xp, Y) - naiveSubsetLoss(rows, Xm, Y)) / (2 * h);
    assert.ok(Math.abs(fd - g[k]!) <= 1e-6 * (1 + Math.abs(fd)), `gradX[${k}]: ${g[k]} vs ${fd}`);
  }
  // bad subsets are BAD_OPTION naming the field; closing a view leaves the oracle open
  for (const bad of [[], [2, 2], [3, 1], [6], [-1], [0.5]]) {
    try {
      inline.rowSubset(bad);
      assert.unreachable('should throw');
    } catch (e) {
      assert.instance(e, AttnfitError);
      assert.is((e as AttnfitError).code, 'BAD_OPTION');
      assert.ok((e as AttnfitError).message.startsWith('rowSubset: blocks'), (e as AttnfitError).message);
    }
  }
  await views[0]!.close();
  assert.ok((await inline.evaluate(X, Y, { loss: true })).loss! > 0);
  for (const o of locals) await o.close();
});

/** A small schedule with screening: 9 starts, the first round on a third of the rows. */
const SMALL = {
  spreads: [0.5, 1, 2],
  rounds: [2, 4],
  finalists: 2,
  polishIter: 10,
  hops: 2,
  hopRounds: [4],
  screenRows: 1 / 3,
  screenRounds: 1,
};

test('search with screening: reported, bitwise the same for any concurrency and thread count', async () => {
  const a = await solve(new InlineOracle(P), { search: SMALL, tol: 1e-300, gtol: 0 });
  const s = a.search!;
  assert.is(s.screen.rounds, 1);
  assert.is(s.screen.n, P.n);
  assert.is(s.screen.blocks.length, 2, 'a third of 6 blocks');
  assert.is(s.screen.rows, 32);
  assert.ok(s.screen.evaluations > 0);
  assert.ok(Math.abs(s.screen.equivalentEvaluations - (s.evaluations + (s.screen.evaluations * 32) / 96)) < 1e-9);
  const pruned = s.starts.filter((st) => st.status === 'pruned@0');
  assert.ok(pruned.length > 0);
  for (const st of pruned) {
    assert.is(st.relLoss, null, 'never evaluated on all rows');
    assert.ok(typeof st.screenRelLoss === 'number' && st.screenEvals! > 0);
  }
  for (const st of s.starts.filter((x) => x.family !== 'hop' && x.status !== 'pruned@0'))
    assert.ok(st.relLoss !== null && st.screenRelLoss !== null && st.evals > 0, `start ${st.index} moved to all rows`);
  // the result is a point of the full objective, the lowest of the population
  assert.is(a.relLoss, Math.min(...s.starts.filter((x) => x.relLoss !== null).map((x) => x.relLoss!)));
  const b = await solve(new InlineOracle(P), { search: SMALL, tol: 1e-300, gtol: 0, concurrency: 3 });
  const locals = [1, 2].map((threads) => new LocalOracle(P, { threads }));
  const cs = [b];
  for (const o of locals) cs.push(await solve(o, { search: SMALL, tol: 1e-300, gtol: 0, concurrency: 2 }));
  for (const c of cs) {
    assert.equal(Array.from(c.X), Array.from(a.X));
    assert.equal(
      c.search!.starts.map((x) => [x.status, x.relLoss, x.screenRelLoss]),
      s.starts.map((x) => [x.status, x.relLoss, x.screenRelLoss]),
    );
  }
  for (const o of locals) await o.close();
  // a maxEvals stop inside screening still returns a point of the full objective
  const early = await solve(new InlineOracle(P), { search: { ...SMALL, maxEvals: 1 } });
  assert.is(early.search!.stopReason, 'max-evals');
  assert.ok(Number.isFinite(early.relLoss));
  assert.ok(early.search!.starts.some((x) => x.relLoss === early.relLoss));
});

test('search with screening: fits from scratch; warm starts and oracles without row subsets', async () => {
  const X4 = new Float64Array(d * d);
  for (let i = 0; i < d; i++) X4[i * d + i] = 4;
  const p = plantedSelf(96, d, 12, X4);
  const r1 = await solve(new InlineOracle(p), { search: SMALL, tol: 1e-12 });
  assert.ok(r1.converged, r1.message);
  assert.is(r1.search!.stopReason, 'converged');
  assert.ok(r1.search!.screen.evaluations > 0);
  // every halving round screened: the finalists move to all rows before they are polished
  const r2 = await solve(new InlineOracle(p), { search: { ...SMALL, screenRounds: 2 }, tol: 1e-12 });
  assert.ok(r2.converged, r2.message);
  assert.is(r2.search!.screen.rounds, 2);
  assert.ok(r2.search!.starts.every((x) => x.status.startsWith('pruned@') || x.relLoss !== null));
  // --x0: no search at all, identical with or without screening options
  const x0 = perturbed(P.Xtrue, 0.05, 3);
  const w1 = await solve(new InlineOracle(P), { search: SMALL, x0, tol: 1e-14 });
  const w2 = await solve(new InlineOracle(P), { search: { ...SMALL, screenRows: 1 }, x0, tol: 1e-14 });
  assert.is(w1.search, undefined);
  assert.equal(Array.from(w1.X), Array.from(w2.X));
  // an oracle without rowSubset screens on all rows and says so
  const inner = new InlineOracle(P);
  const plain: Oracle = {
    n: inner.n,
    d: inner.d,
    bNorm2: inner.bNorm2,
    keyMean: inner.keyMean,
    gram: () => inner.gram(),
    evaluate: (...a) => inner.evaluate(...a),
    info: () => inner.info(),
    close: () => inner.close(),
  };
  const n1 = await solve(plain, { search: SMALL, tol: 1e-300, gtol: 0 });
  assert.is(n1.search!.screen.rows, P.n);
  assert.is(n1.search!.screen.evaluations, 0);
  assert.match(n1.search!.screen.reason!, /cannot evaluate a row subset/);
  const off = await solve(new InlineOracle(P), { search: { ...SMALL, screenRows: 1 }, tol: 1e-300, gtol: 0 });
  assert.equal(Array.from(n1.X), Array.from(off.X), 'the same as screening off');
  for (const [search, field] of [
    [{ screenRows: 0 }, 'screenRows'],
    [{ screenRows: 1.5 }, 'screenRows'],
    [{ screenRounds: -1 }, 'screenRounds'],
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

test.after(async () => {
  await shutdownEngine();
});

test.run();
