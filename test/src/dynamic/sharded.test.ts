// Sharded rebuilds of the dynamic attention structure: rows of a rebuild split over threads on
// shared memory give BITWISE the state of the single-thread rebuild (row blocks are aligned to
// plan.blockRows whatever the split, so every block runs the same GEMM/exp calls), and queries
// after sharded rebuilds match a brute-force stable softmax within 1e-12 (relative to max|V|).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttnfitError } from '@attnfit/shared/core';
import {
  DynamicAttention,
  DYNAMIC_DEFAULTS,
  planRebuildShards,
  rebuildSharded,
  type DynamicMode,
  type DynamicOp,
  type DynamicSharedState,
} from '@attnfit/shared/dynamic';
import { writeNpy } from '@attnfit/shared/io';
import { connect } from '@nats-io/transport-node';
import { openDynamicSession, openNatsDynamicSession, startDynamicService } from '@attnfit/coordinator';
import { dynamicRebuildThreadPath } from '@attnfit/coordinator/internal';
import { DynamicRebuildPool } from '@attnfit/worker';
import { startNatsServer } from '../helpers/nats-server.js';
import { rng, randn, randMatrix } from '../helpers/rng.js';
import { bruteRow, outScale } from './brute.js';

const TOL = 1e-12;
const TAU = 0.5;

/** Random ops: entry updates of K and V, token edits, set, queries; a few large K pushes (cancellation). */
function script(seed: number, n: number, d: number, count: number): DynamicOp[] {
  const R = rng(seed);
  const ops: DynamicOp[] = [];
  let up = true;
  for (let t = 0; t < count; t++) {
    const u = R(),
      i = Math.floor(R() * n),
      j = Math.floor(R() * d);
    if (u < 0.35) ops.push({ op: 'updateK', i, j, delta: 2 * randn(R) });
    else if (u < 0.55) ops.push({ op: 'updateV', i, j, delta: randn(R) });
    else if (u < 0.6) ops.push({ op: 'updateKRow', i, delta: Array.from({ length: d }, () => randn(R)) });
    else if (u < 0.63) ops.push({ op: 'updateVRow', i, delta: Array.from({ length: d }, () => randn(R)) });
    else if (u < 0.66) ops.push({ op: 'setV', i, j, delta: randn(R) });
    else if (u < 0.68) {
      ops.push({ op: 'updateK', i: 0, j: 0, delta: up ? 40 : -40 });
      up = !up;
    } // dominant key 0 up, then pushed down
    else if (u < 0.9) ops.push({ op: 'query', i, j });
    else ops.push({ op: 'queryRow', i });
  }
  return ops;
}

/** Q with a positive first column, so key 0 dominates every row when K[0,0] is large. */
function problem(seed: number, n: number, d: number) {
  const R = rng(seed);
  const Q = randMatrix(R, n, d, 1.5),
    K = randMatrix(R, n, d, 1.5),
    V = randMatrix(R, n, d);
  for (let i = 0; i < n; i++) Q[i * d] = 0.5 + Math.abs(Q[i * d]!);
  return { Q, K, V };
}

/** Apply an update op to plain K, V copies (the brute-force reference). */
function track(op: DynamicOp, K: Float64Array, V: Float64Array, d: number): void {
  switch (op.op) {
    case 'updateK':
      K[op.i * d + op.j] += op.delta;
      break;
    case 'updateV':
      V[op.i * d + op.j] += op.delta;
      break;
    case 'setV':
      V[op.i * d + op.j] = op.delta;
      break;
    case 'updateKRow':
      for (let c = 0; c < d; c++) K[op.i * d + c] += op.delta[c]!;
      break;
    case 'updateVRow':
      for (let c = 0; c < d; c++) V[op.i * d + c] += op.delta[c]!;
      break;
    default:
      break;
  }
}

function isUpdate(op: DynamicOp): boolean {
  return op.op !== 'query' && op.op !== 'queryRow';
}

function apply(da: DynamicAttention, op: DynamicOp): number | number[] | undefined {
  switch (op.op) {
    case 'updateK':
      da.updateK(op.i, op.j, op.delta);
      return undefined;
    case 'updateV':
      da.updateV(op.i, op.j, op.delta);
      return undefined;
    case 'setV':
      da.setV(op.i, op.j, op.delta);
      return undefined;
    case 'setK':
      da.setK(op.i, op.j, op.delta);
      return undefined;
    case 'updateKRow':
      da.updateKRow(op.i, op.delta);
      return undefined;
    case 'updateVRow':
      da.updateVRow(op.i, op.delta);
      return undefined;
    case 'query':
      return da.query(op.i, op.j);
    case 'queryRow':
      return Array.from(da.queryRow(op.i));
  }
}

/** Bitwise equality of the row-indexed state of two shared structures. */
function assertSameState(a: DynamicSharedState, b: DynamicSharedState, what: string): void {
  for (const f of ['m', 'ell', 'amp', 'N', 'ST', 'K0', 'V0', 'K', 'V'] as const) {
    const x = a[f],
      y = b[f];
    if (x === null || y === null) {
      assert.is(x, y, `${what}: ${f}`);
      continue;
    }
    const bx = new BigUint64Array(x.buffer, x.byteOffset, x.length),
      by = new BigUint64Array(y.buffer, y.byteOffset, y.length);
    let diff = -1;
    for (let k = 0; k < bx.length; k++)
      if (bx[k] !== by[k]) {
        diff = k;
        break;
      }
    assert.is(diff, -1, `${what}: ${f}[${diff}] differs (${x[diff]} vs ${y[diff]})`);
  }
}

function worstVsBrute(
  da: DynamicAttention | null,
  rows: Float64Array[] | null,
  Q: Float64Array,
  K: Float64Array,
  V: Float64Array,
  n: number,
  d: number,
): number {
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const got = da ? da.queryRow(i) : rows![i]!,
      want = bruteRow(Q, K, V, n, d, i);
    for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(got[j]! - want[j]!));
  }
  return worst / outScale(V);
}

test('planRebuildShards: whole blocks, in order, balanced, covering [0, n) once; bad arguments name the field', () => {
  assert.equal(planRebuildShards(512, 128, 2), [
    [0, 256],
    [256, 512],
  ]);
  assert.equal(planRebuildShards(320, 128, 2), [
    [0, 128],
    [128, 320],
  ]);
  assert.equal(planRebuildShards(100, 128, 4), [[0, 100]]);
  assert.equal(planRebuildShards(0, 8, 3), []);
  for (const n of [1, 7, 64, 129, 1000]) {
    for (const br of [1, 5, 64, 128]) {
      for (const parts of [1, 2, 3, 8]) {
        const r = planRebuildShards(n, br, parts);
        assert.ok(r.length >= 1 && r.length <= parts);
        assert.is(r[0]![0], 0);
        assert.is(r[r.length - 1]![1], n);
        for (let k = 0; k < r.length; k++) {
          assert.ok(r[k]![1] > r[k]![0]);
          if (k > 0) {
            assert.is(r[k]![0], r[k - 1]![1]);
            assert.is(r[k]![0] % br, 0);
          }
        }
        const sizes = r.map(([a, b]) => Math.ceil(b / br) - a / br);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, 'balanced to one block');
      }
    }
  }
  for (const [args, re] of [
    [[-1, 8, 2], /n: must be an integer >= 0 \(got -1\)/],
    [[8, 0, 2], /blockRows: .*\(got 0\)/],
    [[8, 4, 1.5], /parts: .*\(got 1\.5\)/],
  ] as const) {
    try {
      planRebuildShards(...(args as unknown as [number, number, number]));
      assert.unreachable('throws');
    } catch (e) {
      assert.ok(e instanceof AttnfitError);
      assert.is((e as AttnfitError).code, 'BAD_OPTION');
      assert.match((e as Error).message, re);
    }
  }
});

test('shared state: attachShared needs SharedArrayBuffer views of the right sizes; sharedState needs shared: true', () => {
  const { Q, K, V } = problem(1, 16, 3);
  const plain = DynamicAttention.init(Q, K, V, 16, 3);
  assert.is(plain.shared, false);
  assert.throws(() => plain.sharedState(), /shared: sharedState\(\) needs a structure built with \{ shared: true \}/);
  const sh = DynamicAttention.init(Q, K, V, 16, 3, { shared: true });
  const st = sh.sharedState();
  assert.ok(st.N.buffer instanceof SharedArrayBuffer && st.ST!.buffer instanceof SharedArrayBuffer);
  assert.throws(
    () => DynamicAttention.attachShared({ ...st, m: new Float64Array(16) }),
    /state\.m: must be a Float64Array on a SharedArrayBuffer/,
  );
  assert.throws(
    () => DynamicAttention.attachShared({ ...st, N: new Float64Array(new SharedArrayBuffer(8)) }),
    /state\.N: length must be 48 \(got 1\)/,
  );
  assert.throws(
    () => DynamicAttention.init(Q, K, V, 16, 3, { autoRebuild: false, deamortize: true }),
    /autoRebuild: cannot be false with deamortize/,
  );
  // a view answers like its owner (same memory)
  const view = DynamicAttention.attachShared(st);
  assert.equal(Array.from(view.queryRow(5)), Array.from(sh.queryRow(5)));
  // shared storage changes no arithmetic
  for (let i = 0; i < 16; i++) assert.equal(Array.from(sh.queryRow(i)), Array.from(plain.queryRow(i)));
});

for (const [mode, n] of [
  ['snapshot', 320],
  ['keys', 512],
] as Array<[DynamicMode, number]>) {
  test(`structure + 2 threads (${mode}, n=${n}, τ=${TAU}): sharded rebuilds are bitwise the single-thread ones; queries match brute force`, async () => {
    const d = 8;
    const { Q, K, V } = problem(n, n, d);
    const ref = DynamicAttention.init(Q, K, V, n, d, { tau: TAU, mode, shared: true }); // rebuilds itself, one thread
    const sh = DynamicAttention.init(Q, K, V, n, d, { tau: TAU, mode, shared: true, autoRebuild: false });
    const pool = new DynamicRebuildPool(2, { filename: dynamicRebuildThreadPath() });
    const Kt = K.slice(),
      Vt = V.slice();
    let split = 0;
    try {
      for (const op of script(7 + n, n, d, 700)) {
        const a = apply(ref, op),
          b = apply(sh, op);
        assert.equal(b, a, `${op.op} answers equal`);
        if (isUpdate(op)) {
          track(op, Kt, Vt, d);
          if (sh.rebuildDue) {
            const res = await pool.rebuild(sh);
            if (res.ranges.length === 2) split++;
            assert.is(res.recovered, false);
            assert.is(sh.pending, 0);
            assert.is(ref.pending, 0);
            assertSameState(sh.sharedState(), ref.sharedState(), `after rebuild ${ref.stats().rebuilds}`);
          }
        }
      }
      assert.ok(split >= 10, `rebuilds were split across 2 threads (${split})`);
      const ss = sh.stats(),
        rs = ref.stats();
      assert.is(ss.rebuilds, rs.rebuilds);
      assert.is(ss.repairs, rs.repairs, 'helper repairs are counted by the owner');
      assert.ok(rs.repairs > 0, 'the dominant-key pushes forced exact row repairs during rebuilds');
      assert.ok(worstVsBrute(sh, null, Q, Kt, Vt, n, d) <= TOL, 'pending log: queries match brute force');
      await pool.rebuild(sh);
      ref.rebuild();
      assertSameState(sh.sharedState(), ref.sharedState(), 'final flush');
      await pool.rebuild(sh, { full: true });
      ref.rebuild({ full: true });
      assertSameState(sh.sharedState(), ref.sharedState(), 'full rebuild');
      assert.ok(worstVsBrute(sh, null, Q, Kt, Vt, n, d) <= TOL, 'after sharded rebuilds: queries match brute force');
      assert.is(sh.stats().fullRebuilds, ref.stats().fullRebuilds);
    } finally {
      await pool.destroy();
    }
  });
}

test('a failing helper: the owner recovers with a full local rebuild and stays exact', async () => {
  const n = 256,
    d = 6;
  const { Q, K, V } = problem(3, n, d);
  const sh = DynamicAttention.init(Q, K, V, n, d, { tau: TAU, shared: true, autoRebuild: false });
  const Kt = K.slice(),
    Vt = V.slice();
  for (const op of script(5, n, d, 60))
    if (isUpdate(op)) {
      apply(sh, op);
      track(op, Kt, Vt, d);
    }
  const res = await rebuildSharded(sh, 2, async (state, plan, r0, r1) => {
    DynamicAttention.attachShared(state).rebuildRows(plan, r0, (r0 + r1) >> 1); // half done, then "crash"
    throw new Error('helper lost');
  });
  assert.is(res.recovered, true);
  assert.match(String((res.error as Error).message), /helper lost/);
  assert.is(sh.pending, 0);
  assert.ok(worstVsBrute(sh, null, Q, Kt, Vt, n, d) <= TOL);
});

test(`thread session with rebuildThreads: 2 (n=384, τ=${TAU}): bitwise the in-process answers; brute force within 1e-12`, async () => {
  const n = 384,
    d = 8;
  const { Q, K, V } = problem(11, n, d);
  const ops = script(21, n, d, 900);
  const local = DynamicAttention.init(Q, K, V, n, d, { tau: TAU });
  const Kt = K.slice(),
    Vt = V.slice();
  const want: Array<number | number[]> = [];
  for (const op of ops) {
    const v = apply(local, op);
    if (v !== undefined) want.push(v);
    track(op, Kt, Vt, d);
  }
  const s = await openDynamicSession(Q, K, V, n, d, { tau: TAU, rebuildThreads: 2, shardMinRows: 256 });
  try {
    const got = (await s.apply(ops)).map((x) => (typeof x === 'number' ? x : Array.from(x)));
    assert.equal(got, want);
    // one call per op as well (a few updates, so a rebuild is triggered by a method call)
    const tail = script(22, n, d, 120);
    for (const op of tail) {
      const a = apply(local, op);
      track(op, Kt, Vt, d);
      switch (op.op) {
        case 'query':
          assert.is(await s.query(op.i, op.j), a);
          break;
        case 'queryRow':
          assert.equal(Array.from(await s.queryRow(op.i)), a);
          break;
        case 'updateK':
          await s.updateK(op.i, op.j, op.delta);
          break;
        case 'updateV':
          await s.updateV(op.i, op.j, op.delta);
          break;
        case 'setV':
          await s.setV(op.i, op.j, op.delta);
          break;
        case 'updateKRow':
          await s.updateKRow(op.i, op.delta);
          break;
        case 'updateVRow':
          await s.updateVRow(op.i, op.delta);
          break;
        default:
          throw new Error(op.op);
      }
    }
    const st = await s.stats(),
      ls = local.stats();
    assert.is(st.rebuildThreads, 2);
    assert.ok((st.shardedRebuilds ?? 0) >= 10, `sharded rebuilds: ${st.shardedRebuilds}`);
    assert.is(st.rebuilds, ls.rebuilds);
    assert.is(st.repairs, ls.repairs);
    assert.is(st.fallbacks, ls.fallbacks);
    await s.rebuild({ full: true });
    local.rebuild({ full: true });
    const rows: Float64Array[] = [];
    for (let i = 0; i < n; i++) rows.push(await s.queryRow(i));
    for (let i = 0; i < n; i++) assert.equal(Array.from(rows[i]!), Array.from(local.queryRow(i)));
    assert.ok(worstVsBrute(null, rows, Q, Kt, Vt, n, d) <= TOL, 'queries after sharded rebuilds match brute force');
  } finally {
    await s.close();
  }
});

test('thread session: below shardMinRows nothing is sharded; bad rebuildThreads is BAD_OPTION', async () => {
  const n = 64,
    d = 4;
  const { Q, K, V } = problem(2, n, d);
  assert.is(DYNAMIC_DEFAULTS.shardMinRows, 2048);
  const s = await openDynamicSession(Q, K, V, n, d, { tau: TAU, rebuildThreads: 2 });
  try {
    for (const op of script(3, n, d, 80)) if (isUpdate(op)) await s.apply([op]);
    const st = await s.stats();
    assert.ok(st.rebuilds > 0);
    assert.is(st.shardedRebuilds, undefined);
    assert.is(st.rebuildThreads, undefined);
  } finally {
    await s.close();
  }
  try {
    await openDynamicSession(Q, K, V, n, d, { rebuildThreads: 0 });
    assert.unreachable('rejects');
  } catch (e) {
    assert.ok(e instanceof AttnfitError);
    assert.is((e as AttnfitError).code, 'BAD_OPTION');
    assert.match((e as Error).message, /rebuildThreads: must be an integer >= 1 \(got 0\)/);
  }
});

test('NATS service with rebuildThreads: 2 shards session rebuilds; answers bitwise the in-process ones', async () => {
  const n = 256,
    d = 6;
  const { Q, K, V } = problem(6, n, d);
  const ops = script(31, n, d, 500);
  const local = DynamicAttention.init(Q, K, V, n, d, { tau: TAU });
  const want: Array<number | number[]> = [];
  for (const op of ops) {
    const v = apply(local, op);
    if (v !== undefined) want.push(v);
  }
  const server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  const svc = await startDynamicService(nc, { rebuildThreads: 2, shardMinRows: 128 });
  let stopped = false;
  try {
    const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: TAU });
    try {
      const got = (await s.apply(ops)).map((x) => (typeof x === 'number' ? x : Array.from(x)));
      assert.equal(got, want);
      const st = await s.stats();
      assert.is(st.rebuildThreads, 2);
      assert.ok(
        (st.shardedRebuilds ?? 0) > 0 && st.shardedRebuilds === st.rebuilds,
        `sharded ${st.shardedRebuilds} of ${st.rebuilds}`,
      );
    } finally {
      await s.close();
    }
    await svc.stop();
    stopped = true;
    // the same through the CLI: attnfit dynamic serve --threads 2 --shard-min-rows 128
    const bin = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'dynamic', 'serve', '--nats', server.url, '--threads', '2', '--shard-min-rows', '128'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (b) => {
        err += b;
        if (err.includes('serving sessions')) resolve();
      });
      child.on('close', () => reject(new Error(`serve exited early: ${err}`)));
    });
    const s2 = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: TAU });
    try {
      const got = (await s2.apply(ops)).map((x) => (typeof x === 'number' ? x : Array.from(x)));
      assert.equal(got, want);
      const st = await s2.stats();
      assert.is(st.rebuildThreads, 2);
      assert.ok((st.shardedRebuilds ?? 0) > 0);
    } finally {
      await s2.close();
    }
    child.kill('SIGTERM');
    assert.is(await exited, 0, err);
  } finally {
    if (!stopped) await svc.stop().catch(() => {});
    await nc.drain().catch(() => {});
    await server.stop();
  }
});

test('attnfit dynamic --threads 2 prints byte-identical output to --threads 1', async () => {
  const n = 300,
    d = 5;
  const { Q, K, V } = problem(4, n, d);
  const dir = mkdtempSync(join(tmpdir(), 'attnfit-dyn-shard-'));
  try {
    await writeNpy(join(dir, 'Q.npy'), Q, [n, d]);
    await writeNpy(join(dir, 'K.npy'), K, [n, d]);
    await writeNpy(join(dir, 'V.npy'), V, [n, d]);
    writeFileSync(
      join(dir, 'ops.jsonl'),
      script(8, n, d, 500)
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
    const bin = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));
    const run = (extra: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(
          process.execPath,
          [bin, 'dynamic', '--q', 'Q.npy', '--k', 'K.npy', '--v', 'V.npy', '--ops', 'ops.jsonl', '--stats', ...extra],
          { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '',
          stderr = '';
        p.stdout.on('data', (b) => {
          stdout += b;
        });
        p.stderr.on('data', (b) => {
          stderr += b;
        });
        p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    const [one, two] = await Promise.all([run([]), run(['--threads', '2', '--shard-min-rows', '128'])]);
    assert.is(one.code, 0, one.stderr);
    assert.is(two.code, 0, two.stderr);
    assert.ok(one.stdout.length > 0);
    assert.is(two.stdout, one.stdout);
    const st = JSON.parse(two.stderr.trim().split('\n').pop()!) as {
      rebuildThreads: number;
      shardedRebuilds: number;
      rebuilds: number;
    };
    assert.is(st.rebuildThreads, 2);
    assert.ok(st.shardedRebuilds > 0 && st.shardedRebuilds === st.rebuilds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
