import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import {
  DynamicAttention,
  DYNAMIC_DEFAULTS,
  dynamicThreshold,
  parseDynamicOp,
  pickDynamicMode,
  applyDynamicOp,
  type DynamicMode,
} from '@attnfit/shared/dynamic';
import { rng, randn, randMatrix } from '../helpers/rng.js';
import { bruteEntry, bruteRow, outScale } from './brute.js';

const TOL = 1e-12;

function throwsCode(fn: () => unknown, code: string, msg: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AttnfitError, `expected AttnfitError, got ${String(e)}`);
    assert.is((e as AttnfitError).code, code);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('hand-computed 2×1 case: weights 1/3, 2/3', () => {
  const Q = new Float64Array([1, 0]),
    K = new Float64Array([0, Math.LN2]),
    V = new Float64Array([3, 6]);
  const da = DynamicAttention.init(Q, K, V, 2, 1, { tau: 1 });
  assert.ok(Math.abs(da.query(0, 0) - 5) < 1e-14);
  assert.ok(Math.abs(da.query(1, 0) - 4.5) < 1e-14);
  da.updateV(1, 0, 3); // V = [3, 9] → 1 + 6 = 7 (pending, corrected by the log)
  assert.is(da.pending, 1);
  assert.ok(Math.abs(da.query(0, 0) - 7) < 1e-14);
  da.updateK(0, 0, Math.LN2); // both logits ln2 for row 0 → (3 + 9)/2 = 6; log reaches T = 2 → rebuild
  assert.is(da.pending, 0);
  assert.is(da.stats().rebuilds, 1);
  assert.ok(Math.abs(da.query(0, 0) - 6) < 1e-14);
  assert.equal(Array.from(da.queryRow(1)), [6]);
});

test('threshold T = ceil(n^tau) and auto mode by snapshot size', () => {
  assert.is(dynamicThreshold(64, 0.5), 8);
  assert.is(dynamicThreshold(100, 0.25), 4);
  assert.is(dynamicThreshold(1000, 0), 1);
  assert.is(pickDynamicMode(5792), 'snapshot');
  assert.is(pickDynamicMode(5793), 'keys');
  assert.is(pickDynamicMode(100, 'auto', 8 * 100 * 100 - 1), 'keys');
  assert.is(DYNAMIC_DEFAULTS.snapshotMaxBytes, 256 * 1024 * 1024);
});

/** Random interleaved updates and queries vs brute force; returns the structure's stats. */
function randomRun(
  seed: number,
  n: number,
  d: number,
  tau: number,
  mode: DynamicMode,
  ops: number,
  logitScale: number,
  deamortize = false,
) {
  const R = rng(seed);
  const s = Math.sqrt(logitScale / Math.sqrt(d));
  const Q = randMatrix(R, n, d, s),
    K = randMatrix(R, n, d, s),
    V = randMatrix(R, n, d, 1);
  const da = DynamicAttention.init(Q, K, V, n, d, { tau, mode, deamortize });
  assert.is(da.mode, mode);
  const Kt = K.slice(),
    Vt = V.slice();
  let worst = 0,
    sawBackground = false;
  for (let t = 0; t < ops; t++) {
    if (deamortize && da.stats().backgroundRows > 0) sawBackground = true;
    const u = R();
    const r = Math.floor(R() * n),
      c = Math.floor(R() * d);
    if (u < 0.3) {
      const dl = randn(R) * s;
      da.updateK(r, c, dl);
      Kt[r * d + c] += dl;
    } else if (u < 0.5) {
      const dl = randn(R);
      da.updateV(r, c, dl);
      Vt[r * d + c] += dl;
    } else if (u < 0.55) {
      const row = Array.from({ length: d }, () => randn(R) * s);
      da.updateKRow(r, row);
      for (let k = 0; k < d; k++) Kt[r * d + k] += row[k]!;
    } else if (u < 0.6) {
      const x = randn(R);
      da.setV(r, c, x);
      Vt[r * d + c] = x;
    } else if (u < 0.9) {
      const i = Math.floor(R() * n);
      const err = Math.abs(da.query(i, c) - bruteEntry(Q, Kt, Vt, n, d, i, c)) / outScale(Vt);
      worst = Math.max(worst, err);
    } else {
      const i = Math.floor(R() * n);
      const got = da.queryRow(i),
        want = bruteRow(Q, Kt, Vt, n, d, i);
      for (let k = 0; k < d; k++) worst = Math.max(worst, Math.abs(got[k]! - want[k]!) / outScale(Vt));
    }
  }
  assert.ok(worst <= TOL, `seed ${seed} tau ${tau} ${mode}: worst error ${worst}`);
  if (deamortize) assert.ok(sawBackground, 'a background rebuild was in progress at some query');
  return da.stats();
}

for (const mode of ['snapshot', 'keys'] as const) {
  for (const tau of [0.25, 0.5, 0.75]) {
    test(`random interleaved updates/queries vs brute force, logits ~±50, tau=${tau}, ${mode}`, () => {
      const st = randomRun(1000 + Math.round(tau * 100), 64, 8, tau, mode, 600, 50);
      assert.ok(st.rebuilds > 0);
      assert.is(st.threshold, Math.ceil(64 ** tau - 1e-9));
      assert.is(st.mode, mode);
    });
  }
}

for (const mode of ['snapshot', 'keys'] as const) {
  test(`de-amortised rebuilds (background rows per update) stay exact, ${mode}`, () => {
    for (const tau of [0.25, 0.5, 0.75]) {
      const st = randomRun(500 + Math.round(tau * 100), 64, 8, tau, mode, 600, 50, true);
      assert.ok(st.rebuilds > 0);
      assert.ok(st.deamortized);
    }
    // explicit rebuild() finishes the background work and flushes everything
    const R = rng(4);
    const da = DynamicAttention.init(randMatrix(R, 20, 3, 2), randMatrix(R, 20, 3, 2), randMatrix(R, 20, 3), 20, 3, {
      threshold: 4,
      deamortize: true,
      mode,
    });
    for (let t = 0; t < 5; t++) da.updateK(t, 1, 1);
    assert.ok(da.stats().backgroundRows > 0);
    da.rebuild();
    assert.is(da.pending, 0);
    assert.is(da.stats().backgroundRows, 0);
  });
}

test('moderate logits, larger n, both modes agree with brute force', () => {
  randomRun(7, 200, 16, 0.5, 'snapshot', 300, 5);
  randomRun(8, 200, 16, 0.5, 'keys', 300, 5);
});

for (const mode of ['snapshot', 'keys'] as const) {
  test(`adversarial: each row's dominant key pushed down (cancellation → exact fallback/repair), ${mode}`, () => {
    const n = 40,
      d = 4;
    const R = rng(77);
    const Q = randMatrix(R, n, d, 4),
      K = randMatrix(R, n, d, 4),
      V = randMatrix(R, n, d, 1);
    for (const [tau, deamortize] of [
      [0.25, false],
      [0.75, false],
      [0.5, true],
    ] as const) {
      const da = DynamicAttention.init(Q, K, V, n, d, { tau, mode, deamortize });
      const Kt = K.slice();
      let worst = 0;
      for (let i = 0; i < n; i++) {
        // find row i's dominant key under the current keys, push its logit down by ~60
        let best = 0,
          bestZ = -Infinity;
        for (let r = 0; r < n; r++) {
          let z = 0;
          for (let c = 0; c < d; c++) z += Q[i * d + c]! * Kt[r * d + c]!;
          if (z > bestZ) {
            bestZ = z;
            best = r;
          }
        }
        let cBig = 0;
        for (let c = 1; c < d; c++) if (Math.abs(Q[i * d + c]!) > Math.abs(Q[i * d + cBig]!)) cBig = c;
        const dl = -60 / Q[i * d + cBig]!;
        da.updateK(best, cBig, dl);
        Kt[best * d + cBig] += dl;
        for (let j = 0; j < d; j++)
          worst = Math.max(worst, Math.abs(da.query(i, j) - bruteEntry(Q, Kt, V, n, d, i, j)));
        const row = da.queryRow(i),
          want = bruteRow(Q, Kt, V, n, d, i);
        for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(row[j]! - want[j]!));
      }
      // all rows after all pushes
      for (let i = 0; i < n; i++)
        for (let j = 0; j < d; j++)
          worst = Math.max(worst, Math.abs(da.query(i, j) - bruteEntry(Q, Kt, V, n, d, i, j)));
      da.rebuild();
      for (let i = 0; i < n; i++)
        for (let j = 0; j < d; j++)
          worst = Math.max(worst, Math.abs(da.query(i, j) - bruteEntry(Q, Kt, V, n, d, i, j)));
      const st = da.stats();
      assert.ok(worst <= TOL * outScale(V), `tau ${tau}: worst ${worst}`);
      assert.ok(st.fallbacks + st.repairs > 0, 'cancellation was detected at least once');
    }
  });
}

test('sharded rebuild (prepare, rebuildRows in pieces, commit) equals one rebuild; full rebuild too', () => {
  const n = 50,
    d = 5,
    R = rng(3);
  const Q = randMatrix(R, n, d, 2),
    K = randMatrix(R, n, d, 2),
    V = randMatrix(R, n, d);
  const a = DynamicAttention.init(Q, K, V, n, d, { threshold: 1000 });
  const b = DynamicAttention.init(Q, K, V, n, d, { threshold: 1000 });
  const c = DynamicAttention.init(Q, K, V, n, d, { threshold: 1000 });
  for (let t = 0; t < 12; t++) {
    const r = Math.floor(R() * n),
      col = Math.floor(R() * d),
      dl = randn(R);
    for (const x of [a, b, c]) {
      if (t % 2) x.updateV(r, col, dl);
      else x.updateK(r, col, dl);
    }
  }
  a.rebuild();
  const plan = b.prepareRebuild();
  b.rebuildRows(plan, 30, 50);
  b.rebuildRows(plan, 0, 13);
  b.rebuildRows(plan, 13, 30);
  b.commitRebuild(plan);
  c.rebuild({ full: true });
  assert.is(c.stats().fullRebuilds, 1);
  for (let i = 0; i < n; i++) {
    const ra = a.queryRow(i),
      rb = b.queryRow(i),
      rc = c.queryRow(i);
    for (let j = 0; j < d; j++) {
      // same math for any row split; the GEMM backend may round edge blocks differently
      assert.ok(Math.abs(ra[j]! - rb[j]!) <= 1e-14, 'row split changes nothing beyond rounding');
      assert.ok(Math.abs(ra[j]! - rc[j]!) <= 1e-13);
    }
  }
  assert.is(b.pending, 0);
});

test('eager mode (threshold 1) rebuilds on every update and stays exact', () => {
  const n = 30,
    d = 3,
    R = rng(5);
  const Q = randMatrix(R, n, d, 3),
    K = randMatrix(R, n, d, 3),
    V = randMatrix(R, n, d);
  const da = DynamicAttention.init(Q, K, V, n, d, { threshold: 1 });
  const Kt = K.slice();
  for (let t = 0; t < 40; t++) {
    const r = Math.floor(R() * n),
      c = Math.floor(R() * d),
      dl = 3 * randn(R);
    da.updateK(r, c, dl);
    Kt[r * d + c] += dl;
    assert.is(da.pending, 0);
    const i = Math.floor(R() * n);
    assert.ok(Math.abs(da.query(i, 0) - bruteEntry(Q, Kt, V, n, d, i, 0)) <= TOL);
  }
  assert.is(da.stats().rebuilds, 40);
  assert.is(da.stats().updates, 40);
});

test('argument errors carry codes and name the field and value', () => {
  const Q = new Float64Array(6),
    K = new Float64Array(6),
    V = new Float64Array(6);
  throwsCode(
    () => DynamicAttention.init(Q, K, new Float64Array(5), 3, 2),
    'SHAPE_MISMATCH',
    /V: length must be n\*d = 6 \(got 5\)/,
  );
  throwsCode(
    () => DynamicAttention.init(Q, K, V, 3, 2, { tau: 2 }),
    'BAD_OPTION',
    /tau: must be a number in \[0, 1\] \(got 2\)/,
  );
  throwsCode(() => DynamicAttention.init(Q, K, V, 3, 2, { mode: 'big' as never }), 'BAD_OPTION', /mode/);
  throwsCode(() => DynamicAttention.init(Q, new Float64Array([0, 0, NaN, 0, 0, 0]), V, 3, 2), 'NON_FINITE', /K\[1,0\]/);
  const da = DynamicAttention.init(Q, K, V, 3, 2);
  throwsCode(() => da.updateK(3, 0, 1), 'BAD_OP', /i: row index must be an integer in \[0, 2\] \(got 3\)/);
  throwsCode(() => da.updateV(0, -1, 1), 'BAD_OP', /j: column index/);
  throwsCode(() => da.updateK(0, 0, Infinity), 'BAD_OP', /delta: must be a finite number \(got Infinity\)/);
  throwsCode(() => da.query(0, 2), 'BAD_OP', /j:.*\(got 2\)/);
  throwsCode(() => da.updateKRow(0, [1]), 'BAD_OP', /delta: must be an array of d = 2/);
  assert.is(da.stats().updates, 0, 'rejected updates change nothing');
});

test('parseDynamicOp validates op, indices, delta', () => {
  assert.equal(parseDynamicOp({ op: 'query', i: 1, j: 0 }, 4, 2), { op: 'query', i: 1, j: 0 });
  assert.equal(parseDynamicOp({ op: 'updateVRow', i: 1, delta: [1, 2] }, 4, 2), {
    op: 'updateVRow',
    i: 1,
    delta: [1, 2],
  });
  throwsCode(() => parseDynamicOp({ op: 'nope', i: 0, j: 0 }, 4, 2), 'BAD_OP', /"op": unknown op.*\(got "nope"\)/);
  throwsCode(
    () => parseDynamicOp({ op: 'updateK', i: 4, j: 0, delta: 1 }, 4, 2),
    'BAD_OP',
    /"i": must be an integer in \[0, 3\] \(got 4\)/,
  );
  throwsCode(
    () => parseDynamicOp({ op: 'updateK', i: 0, j: 0, delta: 'x' }, 4, 2),
    'BAD_OP',
    /"delta": must be a finite number/,
  );
  throwsCode(() => parseDynamicOp([1], 4, 2), 'BAD_OP', /must be a JSON object/);
  const da = DynamicAttention.init(
    new Float64Array(8),
    new Float64Array(8),
    new Float64Array([1, 2, 3, 4, 5, 6, 7, 8]),
    4,
    2,
  );
  assert.is(applyDynamicOp(da, { op: 'query', i: 0, j: 0 }), 4);
});

test.run();
