// The two-level plan: planShards is a pure range function (tested exhaustively for small
// sizes), defaultShardCount / planTree depend only on (n, d) and give the documented values,
// the tree reducer adds blocks in block order within a shard and shards in shard order, and
// foldInOrder hands results over in index order whatever order they complete in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MAX_SHARDS,
  TreeReducer,
  defaultShardCount,
  evaluateProblem,
  foldInOrder,
  planShards,
  planTree,
  reduceInOrder,
  reduceTree,
  shardBlockRanges,
} from '@attnfit/shared/math';
import type { Partials } from '@attnfit/shared/math';
import { rng, randMatrix } from '../helpers/rng.js';

test('planShards covers [0, nBlocks) exactly once, in order, for every nBlocks ≤ 60 and shardBlocks ≤ 65', () => {
  for (let nb = 0; nb <= 60; nb++)
    for (let sb = 1; sb <= 65; sb++) {
      const shards = planShards(nb, sb);
      assert.is(shards.length, Math.ceil(nb / sb), `count nb=${nb} sb=${sb}`);
      let next = 0;
      for (const [i, [b0, b1]] of shards.entries()) {
        assert.is(b0, next);
        assert.is(b1 - b0, i < shards.length - 1 ? sb : nb - (shards.length - 1) * sb);
        next = b1;
      }
      assert.is(next, nb);
    }
  assert.equal(planShards(5, 2), [
    [0, 2],
    [2, 4],
    [4, 5],
  ]);
  assert.throws(() => planShards(4, 0), /planShards: shardBlocks must be an integer >= 1 \(got 0\)/);
  assert.throws(() => planShards(-1, 2), /planShards: nBlocks must be an integer >= 0 \(got -1\)/);
});

test('defaultShardCount: documented values; bounded by blocks, MAX_SHARDS, work and traffic; n-independent at large n', () => {
  // n = 8192, d = 16: 64 blocks of 128 rows; work bound 8192² / 2^22 = 16, traffic 8192² / (64 · 16⁴) = 16.
  assert.is(defaultShardCount(8192, 16, 64), 16);
  assert.is(defaultShardCount(8192, 32, 64), 1); // traffic bound 8192² / (64 · 32⁴) = 1
  assert.is(defaultShardCount(65536, 16, 4096), MAX_SHARDS);
  assert.is(defaultShardCount(8192, 8, 64), 16); // work bound 8192² / 2^22
  assert.is(defaultShardCount(65536, 8, 4096), MAX_SHARDS);
  assert.is(defaultShardCount(16384, 16, 1024), 64); // work 64, traffic 64
  assert.is(defaultShardCount(65536, 4, 4096), MAX_SHARDS);
  assert.is(defaultShardCount(2048, 4, 16), 1);
  assert.is(defaultShardCount(100, 64, 8), 1);
  assert.is(defaultShardCount(0, 4, 0), 1);
  for (const n of [64, 1000, 4096, 10_000, 100_000, 1_000_000])
    for (const d of [1, 2, 4, 8, 16, 32, 64]) {
      const tree = planTree(n, d);
      assert.equal(planTree(n, d), tree, 'pure');
      assert.ok(tree.shards.length >= 1 && tree.shards.length <= Math.min(MAX_SHARDS, tree.blocks.length));
      // Each shard's d⁴ Hessian partial is at most 1/64 of the elements it covers (or one shard).
      assert.ok(tree.shards.length === 1 || 64 * tree.shards.length * d ** 4 <= n * n, `n=${n} d=${d}`);
    }
  // At fixed d the shard count stops growing with n (the coordinator's traffic does too).
  assert.is(planTree(65536, 16).shards.length, planTree(1 << 20, 16).shards.length);
});

test('planTree: shards are whole consecutive blocks covering [0, n); overrides; documented example', () => {
  const t = planTree(8192, 16);
  assert.equal([t.blockRows, t.blocks.length, t.shardBlocks, t.shards.length], [128, 64, 4, 16]);
  assert.equal(t.shards[1], { b0: 4, b1: 8, r0: 512, r1: 1024 });
  const o = planTree(100, 3, { blockRows: 8, shardBlocks: 5 });
  assert.equal([o.blocks.length, o.shards.length], [13, 3]);
  assert.equal(
    o.shards.map((s) => [s.r0, s.r1]),
    [
      [0, 40],
      [40, 80],
      [80, 100],
    ],
  );
  for (const s of o.shards) assert.equal(shardBlockRanges(s.r0, s.r1, o.blockRows), o.blocks.slice(s.b0, s.b1));
  assert.equal(shardBlockRanges(8, 20, 5), [
    [8, 13],
    [13, 18],
    [18, 20],
  ]);
  assert.throws(() => planTree(10, 2, { shardBlocks: 0 }), /shardBlocks must be an integer >= 1 \(got 0\)/);
});

const part = (rows: number, loss: number, g: number[]): Partials => ({ rows, loss, gradX: Float64Array.from(g) });

test('TreeReducer adds blocks in block order within a shard and shards in shard order', () => {
  // Values chosen so that the association matters in float64: (1 + 1e-16) + 1e-16 = 1 but 1 + (1e-16 + 1e-16) > 1.
  const blocks = [part(1, 1, [1]), part(1, 1e-16, [1e-16]), part(1, 1e-16, [1e-16]), part(1, 0, [0])];
  const plan = {
    shards: [
      { b0: 0, b1: 1 },
      { b0: 1, b1: 3 },
      { b0: 3, b1: 4 },
    ],
  } as Parameters<typeof reduceTree>[0];
  const got = reduceTree(plan, blocks);
  const want = reduceInOrder([blocks[0]!, reduceInOrder([blocks[1]!, blocks[2]!]), blocks[3]!]);
  assert.ok(Object.is(got.loss, want.loss));
  assert.ok(Object.is(got.loss, 1 + 2e-16));
  assert.ok(Object.is(got.gradX![0], 1 + 2e-16));
  assert.is(got.rows, 4);
  const flat = reduceInOrder(blocks);
  assert.not.ok(Object.is(flat.loss, got.loss), 'the tree is a different (fixed) association than the flat fold');
  const t = new TreeReducer(plan);
  t.add(blocks[0]!);
  assert.throws(() => t.result(), /1 of 3 shards reduced/);
  t.addShard(reduceInOrder([blocks[1]!, blocks[2]!]));
  t.add(blocks[3]!);
  assert.ok(Object.is(t.result().loss, got.loss));
  assert.throws(() => t.add(blocks[0]!), /more blocks than the plan has/);
});

test('evaluateProblem reduces through the tree: one shard equals the flat block fold', () => {
  const r = rng(3);
  const n = 40,
    d = 3;
  const p = { n, d, A1: randMatrix(r, n, d), A2: randMatrix(r, n, d), A3: randMatrix(r, n, d), B: randMatrix(r, n, d) };
  const X = randMatrix(r, d, d, 0.4),
    Y = randMatrix(r, d, d);
  const want = { loss: true, gradX: true };
  const one = evaluateProblem(p, X, Y, want, 8, 5);
  const perBlock = evaluateProblem(p, X, Y, want, 8, 1);
  const two = evaluateProblem(p, X, Y, want, 8, 3);
  assert.ok(Math.abs(one.loss! - two.loss!) <= 1e-12 * Math.abs(one.loss!));
  assert.ok(Object.is(one.loss, perBlock.loss), 'one shard of 5 blocks = 5 shards of one block (both the flat fold)');
});

test('foldInOrder hands results over in index order whatever order they complete in, and rejects with the first failure', async () => {
  const resolvers: Array<() => void> = [];
  const seen: number[] = [];
  let maxLive = 0,
    live = 0;
  const run = (i0: number, i1: number): Promise<number[]> =>
    new Promise((res) => {
      live++;
      maxLive = Math.max(maxLive, live);
      resolvers[i0] = () => {
        live--;
        res(Array.from({ length: i1 - i0 }, (_, k) => (i0 + k) * 10));
      };
    });
  const done = foldInOrder(7, 3, 1, run, (v, i) => seen.push(i, v));
  // Complete in reverse order of launch, one at a time (yielding so lanes launch more).
  const tick = () => new Promise((r) => setImmediate(r));
  await tick();
  for (const order of [2, 1, 0, 5, 4, 3, 6]) {
    while (!resolvers[order]) await tick();
    resolvers[order]!();
    await tick();
  }
  await done;
  assert.equal(seen, [0, 0, 1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);
  assert.ok(maxLive <= 3, `at most window in flight (${maxLive})`);
  const err = new Error('boom');
  const bad = foldInOrder(
    5,
    2,
    2,
    async (i0) => {
      if (i0 === 2) throw err;
      return [i0, i0 + 1];
    },
    () => undefined,
  );
  assert.is(
    await bad.then(
      () => undefined,
      (e: unknown) => e,
    ),
    err,
  );
});

test.run();
