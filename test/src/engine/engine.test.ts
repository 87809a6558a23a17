/**
 * Local engine: thread results are bitwise identical to evaluateProblem (threads 1 and 2, the
 * SharedArrayBuffer path and the ATTNFIT_NO_SAB copy path, one shard and several shards of several
 * blocks), cancellation rejects with CANCELLED,
 * errors cross the thread boundary with their code, and the thread entry's protocol (miss,
 * abort flag, unknown kind) behaves as documented.
 */
import { test } from 'uvu';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import { evaluateProblem } from '@attnfit/shared/math';
import type { Partials, Want } from '@attnfit/shared/math';
import { EnginePool, InlineOracle, LocalOracle, getEnginePool, shutdownEngine } from '@attnfit/coordinator/internal';
import { createBlockPool } from '@attnfit/worker/internal';
import runThreadTask from '@attnfit/worker/thread';
import { randMatrix, rng } from '../helpers/rng.js';
import { planted } from '../solver/planted.js';

const p = planted(96, 3, 11);
const d = p.d;
const r = rng(5);
const X = randMatrix(r, d, d, 0.5),
  Y = randMatrix(r, d, d, 1),
  V = randMatrix(r, d, d, 1),
  W = randMatrix(r, d, d, 1);
const BLOCK_ROWS = 16; // 6 blocks
const WANTS: Want[] = [
  { loss: true, gradX: true, gradY: true, normal: true },
  { hessXX: true, hessXY: true },
  { hvpX: V, mixedYX: V },
  { mixedXY: W },
];

function assertBitwise(a: Partials, b: Partials, label: string): void {
  assert.is(a.rows, b.rows, `${label}: rows`);
  assert.ok(Object.is(a.loss, b.loss), `${label}: loss ${a.loss} vs ${b.loss}`);
  for (const k of ['gradX', 'gradY', 'hessXX', 'hessXY', 'MtM', 'MtB', 'hvpX', 'mixedXY', 'mixedYX'] as const) {
    const x = a[k],
      y = b[k];
    assert.is(x === undefined, y === undefined, `${label}: ${k} presence`);
    if (!x || !y) continue;
    assert.is(x.length, y.length, `${label}: ${k} length`);
    for (let i = 0; i < x.length; i++)
      if (!Object.is(x[i], y[i])) assert.unreachable(`${label}: ${k}[${i}] ${x[i]} vs ${y[i]}`);
  }
}

test("a program importing only @attnfit/coordinator runs the worker threads' kernels inline too: large products bitwise equal", () => {
  // Child process: this file imports @attnfit/worker, which loads the kernels' accelerators on its
  // own. Products are far above the small-size cutoff (native BLAS or the WebAssembly FMA kernel,
  // not the reference loop), so a kernel mismatch between threads would show in the last bits.
  const probe = `
    const { createOracle, LocalOracle, shutdownEngine } = await import('@attnfit/coordinator');
    let s = 7; const u = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; };
    const n = 640, d = 8, mk = (k, f = 1) => Float64Array.from({ length: k }, () => f * u());
    const q = { n, d, A1: mk(n * d), A2: mk(n * d), A3: mk(n * d), B: mk(n * d) };
    const X = mk(d * d, 0.3), Y = mk(d * d);
    const want = { loss: true, gradX: true, gradY: true, hessXX: true };
    const a = await (await createOracle(q, { threads: 0 })).evaluate(X, Y, want); // inline
    const local = new LocalOracle(q, { threads: 2 });
    const b = await local.evaluate(X, Y, want);
    const same = Object.is(a.loss, b.loss) && ['gradX', 'gradY', 'hessXX'].every((k) => a[k].every((v, i) => Object.is(v, b[k][i])));
    process.stdout.write(JSON.stringify({ same, gemm: local.info().gemm }));
    await local.close(); await shutdownEngine();`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ATTNFIT_GEMM;
  delete env.ATTNFIT_NATIVE;
  delete env.ATTNFIT_WASM_FMA;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      env,
      encoding: 'utf8',
    }),
  );
  assert.ok(out.same, `inline and 2 threads differ (${out.gemm})`);
  assert.match(out.gemm, /native-blas|wasm-simd \(f64x2 FMA\)/);
});

test('LocalOracle (threads 1 and 2) and InlineOracle equal evaluateProblem bitwise', async () => {
  for (const want of WANTS) {
    const ref = evaluateProblem(p, X, Y, want, BLOCK_ROWS);
    assertBitwise(await new InlineOracle(p, { blockRows: BLOCK_ROWS }).evaluate(X, Y, want), ref, 'inline');
    for (const threads of [1, 2]) {
      const o = new LocalOracle(p, { threads, blockRows: BLOCK_ROWS });
      assert.is(o.info().kind, 'local');
      assert.is(o.info().threads, threads);
      assert.is(o.info().blocks, 6);
      assertBitwise(await o.evaluate(X, Y, want), ref, `threads=${threads} ${Object.keys(want).join(',')}`);
      await o.close();
    }
  }
  assert.ok(getEnginePool(2).shared, 'SharedArrayBuffer path by default');
});

test('two-level plan: 3 shards of 2 blocks — inline, threads 1 and 2 and evaluateProblem agree bitwise; the tree is the reduction order', async () => {
  const { blockPartials, reduceInOrder } = await import('@attnfit/shared/math');
  for (const want of WANTS) {
    const ref = evaluateProblem(p, X, Y, want, BLOCK_ROWS, 2);
    // By hand: blocks added in block order within each shard, shards in shard order.
    const shards = [0, 1, 2].map((s) =>
      reduceInOrder(
        [0, 1].map((b) => blockPartials(p, (2 * s + b) * BLOCK_ROWS, (2 * s + b + 1) * BLOCK_ROWS, X, Y, want)),
      ),
    );
    assertBitwise(reduceInOrder(shards), ref, 'by hand');
    const inline = new InlineOracle(p, { blockRows: BLOCK_ROWS, shardBlocks: 2 });
    assert.is(inline.info().shards, 3);
    assertBitwise(await inline.evaluate(X, Y, want), ref, 'inline 3 shards');
    for (const threads of [1, 2]) {
      const o = new LocalOracle(p, { threads, blockRows: BLOCK_ROWS, shardBlocks: 2 });
      assert.equal([o.info().blocks, o.info().shards, o.info().shardBlocks], [6, 3, 2]);
      assertBitwise(await o.evaluate(X, Y, want), ref, `threads=${threads} 3 shards ${Object.keys(want).join(',')}`);
      await o.close();
    }
  }
});

test('default block plan: thread count does not change the result', async () => {
  const want = { loss: true, gradX: true };
  const a = await new LocalOracle(p, { threads: 1 }).evaluate(X, Y, want);
  const b = await new LocalOracle(p, { threads: 2 }).evaluate(X, Y, want);
  assertBitwise(a, b, 'default plan');
  assertBitwise(a, evaluateProblem(p, X, Y, want), 'vs evaluateProblem');
});

test('ATTNFIT_NO_SAB=1: plain copies per thread, same bits', async () => {
  process.env.ATTNFIT_NO_SAB = '1';
  try {
    const o = new LocalOracle(p, { threads: 2, blockRows: BLOCK_ROWS });
    assert.not.ok(getEnginePool(2).shared, 'pool recreated without SharedArrayBuffer');
    const want = WANTS[0]!;
    assertBitwise(await o.evaluate(X, Y, want), evaluateProblem(p, X, Y, want, BLOCK_ROWS), 'no-SAB');
    const g = await o.gram();
    assertBitwise(
      { rows: 0, gradX: g.G1 },
      { rows: 0, gradX: await new InlineOracle(p).gram().then((x) => x.G1) },
      'gram',
    );
    // without a shared abort flag, cancellation aborts the piscina tasks (threads are replaced)
    const ac = new AbortController();
    const pending = o.evaluate(X, Y, { hessXX: true }, { signal: ac.signal });
    ac.abort();
    const e = await pending.then(
      () => null,
      (err: unknown) => err,
    );
    assert.is((e as AttnfitError).code, 'CANCELLED');
    assertBitwise(await o.evaluate(X, Y, want), evaluateProblem(p, X, Y, want, BLOCK_ROWS), 'no-SAB after cancel');
  } finally {
    delete process.env.ATTNFIT_NO_SAB;
  }
});

test('cancellation: a pre-aborted or aborted call rejects with CANCELLED; the pool stays usable', async () => {
  const o = new LocalOracle(p, { threads: 2, blockRows: 8 });
  const ac = new AbortController();
  ac.abort();
  const e1 = await o.evaluate(X, Y, { hessXX: true }, { signal: ac.signal }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(e1, AttnfitError);
  assert.is((e1 as AttnfitError).code, 'CANCELLED');
  const ac2 = new AbortController();
  const pending = o.evaluate(X, Y, { hessXX: true, hessXY: true }, { signal: ac2.signal });
  ac2.abort();
  const e2 = await pending.then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((e2 as AttnfitError).code, 'CANCELLED');
  const inline = new InlineOracle(p, { blockRows: 8 });
  const e3 = await inline.evaluate(X, Y, { loss: true }, { signal: ac.signal }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((e3 as AttnfitError).code, 'CANCELLED');
  assertBitwise(await o.evaluate(X, Y, { loss: true }), evaluateProblem(p, X, Y, { loss: true }, 8), 'after cancel');
});

test('errors cross the thread boundary with their code; bad shapes are rejected, not thrown', async () => {
  const pool = new EnginePool(1);
  try {
    const reg = pool.register(p);
    const e = await pool.blocks(reg, [[0, 200]], X, Y, { loss: true }).then(
      () => null,
      (err: unknown) => err,
    );
    assert.instance(e, AttnfitError);
    assert.is((e as AttnfitError).code, 'PROTOCOL');
    assert.match((e as AttnfitError).message, '[0, 200)');
    const o = new LocalOracle(p, { threads: 1 });
    const e2 = await o.evaluate(new Float64Array(2), Y, { loss: true }).then(
      () => null,
      (err: unknown) => err,
    );
    assert.is((e2 as AttnfitError).code, 'SHAPE_MISMATCH');
  } finally {
    await pool.destroy();
  }
});

test('thread entry protocol: miss without tensors, then cached; abort flag; unknown kind', async () => {
  const id = `test-${Math.random()}`;
  const msg = { r0: 0, r1: 16, X, Y, want: { loss: true } };
  const miss = await runThreadTask({ kind: 'block', problemId: id, msg });
  assert.equal(miss, { ok: false, miss: true });
  const tensors = { n: p.n, d, A1: p.A1, A2: p.A2, A3: p.A3, B: p.B };
  const ok = await runThreadTask({ kind: 'block', problemId: id, msg, tensors });
  assert.ok(ok.ok);
  const again = await runThreadTask({ kind: 'block', problemId: id, msg });
  assert.ok(again.ok, 'cached by problem id');
  const abort = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(abort, 0, 1);
  const c = await runThreadTask({
    kind: 'blocks',
    problemId: id,
    msg: {
      ranges: [
        [0, 8],
        [8, 16],
      ],
      X,
      Y,
      want: { loss: true },
    },
    abort,
  });
  assert.ok(!c.ok && !c.miss && c.error.code === 'CANCELLED');
  const u = await runThreadTask({ kind: 'nope' as 'block', problemId: id, msg });
  assert.ok(!u.ok && !u.miss && u.error.code === 'PROTOCOL');
});

test('worker BlockPool gives the same bits as the engine', async () => {
  const bp = createBlockPool(2);
  try {
    const reg = bp.register(p);
    const parts = await bp.blocks(
      reg,
      [
        [0, 48],
        [48, 96],
      ],
      X,
      Y,
      { loss: true, gradX: true },
    );
    const inline = new InlineOracle(p, { blockRows: 48 });
    let acc: Partials = { rows: 0 };
    const { combinePartials } = await import('@attnfit/shared/math');
    for (const q of parts) acc = combinePartials(acc, q);
    assertBitwise(acc, await inline.evaluate(X, Y, { loss: true, gradX: true }), 'BlockPool');
  } finally {
    await bp.destroy();
  }
});

test.after(async () => {
  await shutdownEngine();
});
test.run();
