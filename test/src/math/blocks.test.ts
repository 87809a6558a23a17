// planBlocks is a pure range function: tested exhaustively for small n and block sizes.
// defaultBlockRows depends only on (n, d) and stays within its documented bounds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planBlocks, defaultBlockRows, BLOCK_TARGET_ELEMENTS } from '@attnfit/shared/math';

test('planBlocks covers [0, n) exactly once, in order, for every n ≤ 70 and blockRows ≤ 75', () => {
  for (let n = 0; n <= 70; n++)
    for (let br = 1; br <= 75; br++) {
      const blocks = planBlocks(n, br);
      assert.is(blocks.length, Math.ceil(n / br), `count n=${n} br=${br}`);
      let next = 0;
      for (const [i, [r0, r1]] of blocks.entries()) {
        assert.is(r0, next, `contiguous n=${n} br=${br}`);
        assert.ok(r1 > r0 && r1 <= n, `non-empty and in range n=${n} br=${br}`);
        assert.is(r1 - r0, i < blocks.length - 1 ? br : n - (blocks.length - 1) * br);
        next = r1;
      }
      assert.is(next, n, `covers n=${n} br=${br}`);
    }
  assert.equal(planBlocks(5, 2), [
    [0, 2],
    [2, 4],
    [4, 5],
  ]);
});

test('planBlocks rejects bad n and blockRows with BAD_OPTION naming the field and value', () => {
  for (const [n, br, re] of [
    [-1, 2, /n must be an integer >= 0 \(got -1\)/],
    [3.5, 2, /got 3.5/],
    [4, 0, /blockRows must be an integer >= 1 \(got 0\)/],
    [4, NaN, /got NaN/],
  ] as const) {
    try {
      planBlocks(n, br);
      assert.unreachable('should throw');
    } catch (e) {
      assert.is((e as { code?: string }).code, 'BAD_OPTION');
      assert.match((e as Error).message, re);
    }
  }
});

test('defaultBlockRows: within [1, n], bounded m·n and m·d², deterministic, documented values', () => {
  for (const n of [0, 1, 7, 8, 9, 100, 1000, 4096, 65536, 1 << 20])
    for (const d of [1, 4, 16, 64, 128]) {
      const m = defaultBlockRows(n, d);
      assert.is(defaultBlockRows(n, d), m, 'pure');
      assert.ok(Number.isInteger(m) && m >= 1 && m <= Math.max(1, n), `range n=${n} d=${d} m=${m}`);
      if (m > 8 && m < n) {
        assert.ok(m * n <= BLOCK_TARGET_ELEMENTS && m * d * d <= BLOCK_TARGET_ELEMENTS, `bounds n=${n} d=${d}`);
        assert.is(m % 8, 0);
      }
    }
  assert.is(defaultBlockRows(4096, 64), 256);
  assert.is(defaultBlockRows(5, 3), 5);
  assert.is(defaultBlockRows(300, 8), 40); // at least MIN_BLOCKS blocks once n >= 64
  assert.is(defaultBlockRows(1024, 8), 128);
  assert.is(defaultBlockRows(60, 4), 8);
  assert.is(defaultBlockRows(0, 4), 1);
  assert.throws(() => defaultBlockRows(10, -1), /d must be an integer >= 0 \(got -1\)/);
});

test.run();
