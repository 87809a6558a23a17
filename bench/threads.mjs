#!/usr/bin/env node
// Thread scaling of one loss + ∇X + ∇Y evaluation through the real engine
// (createOracle(problem, { threads }) → piscina pool → block tasks → block-order reduce):
//  1. n = 4096, d ∈ {16, 64}: threads 1 vs 2 (medians of ≥ 5, min–max, speedup), plus the
//     inline oracle (threads: 0, no pool) as the no-overhead baseline; the three configurations
//     are timed interleaved, run by run, so drifts of a shared machine hit them alike;
//  2. fitted time exponent in n (1024 → 8192, one thread, same engine).
// The GEMM backend is whatever a process gets by default (native-blas when built, else
// wasm-simd); ATTNFIT_GEMM=wasm forces wasm-simd in the main thread and every worker thread.
// Prints markdown; writes bench/results/threads[-BACKEND].{json,md}.
// Usage: node bench/threads.mjs [--quick] [--no-fit]   (env BENCH_RUNS=N)
import { availableParallelism } from 'node:os';
import { gemmBackend, gemmBackendDetail, vexpBackend } from '@attnfit/shared/kernels';
import '@attnfit/shared/native'; // same GEMM as the CLI and the worker threads
import { createOracle, shutdownEngine } from '@attnfit/coordinator';
import { defaultBlockRows, planBlocks } from '@attnfit/shared/math';
import { machine, machineMd, stats, table, writeResults, randn, fmt, RUNS } from './lib/common.mjs';

const quick = process.argv.includes('--quick');
const noFit = process.argv.includes('--no-fit');
const N = quick ? 2048 : 4096;
const DS = [16, 64];
const THREADS = [1, 2];
const FIT_NS = quick ? [512, 1024, 2048] : [1024, 2048, 4096, 8192];
const WANT = { loss: true, gradX: true, gradY: true };

const m = machine({
  gemm: gemmBackendDetail(),
  vexp: vexpBackend(),
  numpy: 'not used',
  openblasCoretype: process.env.OPENBLAS_CORETYPE ?? 'unset',
});
console.error(
  `threads bench: ${m.cpu}, ${m.cores} cores (availableParallelism ${availableParallelism()}), node ${m.node}, gemm ${m.gemm}, load ${m.loadavg}`,
);

function problem(n, d, seed) {
  // A ~ N(0,1), X ~ N(0, 1/d²) so the logits A1 X A2ᵀ are ~ N(0, 1); Y ~ N(0, 1).
  return {
    p: {
      n,
      d,
      A1: randn(n * d, seed),
      A2: randn(n * d, seed + 1),
      A3: randn(n * d, seed + 2),
      B: randn(n * d, seed + 3),
    },
    X: randn(d * d, seed + 4, 1 / d),
    Y: randn(d * d, seed + 5),
  };
}

/**
 * Times one evaluation per oracle configuration (threads values; 0 = inline), interleaved run by
 * run so that slow drifts of a shared machine hit every configuration alike.
 */
async function timeOracles(n, d, threadsList, runs = RUNS) {
  const { p, X, Y } = problem(n, d, 100 + n + d);
  const oracles = [];
  for (const threads of threadsList) oracles.push(await createOracle(p, { threads }));
  try {
    const last = [],
      t = oracles.map(() => []);
    for (const [k, o] of oracles.entries()) for (let i = 0; i < 2; i++) last[k] = await o.evaluate(X, Y, WANT); // warm: tensors to threads, JIT, scratch
    for (let i = 0; i < runs; i++) {
      for (const [k, o] of oracles.entries()) {
        const t0 = performance.now();
        const r = await o.evaluate(X, Y, WANT);
        t[k].push(performance.now() - t0);
        if (r.loss !== last[k].loss)
          throw new Error(`threads=${threadsList[k]}: loss changed between runs (${r.loss} vs ${last[k].loss})`);
      }
    }
    return oracles.map((o, k) => ({
      s: stats(t[k]),
      loss: last[k].loss,
      gradX: last[k].gradX,
      gradY: last[k].gradY,
      info: o.info(),
    }));
  } finally {
    for (const o of oracles) await o.close();
  }
}

const bitwise = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

// 1. threads 1 vs 2 (and inline)
const rows = [];
for (const d of DS) {
  const br = defaultBlockRows(N, d);
  const res = {};
  const cfg = [0, ...THREADS];
  (await timeOracles(N, d, cfg)).forEach((r, k) => {
    res[cfg[k]] = r;
  });
  for (const t of cfg)
    console.error(
      `  n=${N} d=${d} threads=${t}: ${fmt(res[t].s.median)} ms [${fmt(res[t].s.min)}–${fmt(res[t].s.max)}]`,
    );
  const same = THREADS.every(
    (t) => res[t].loss === res[0].loss && bitwise(res[t].gradX, res[0].gradX) && bitwise(res[t].gradY, res[0].gradY),
  );
  rows.push({
    n: N,
    d,
    blockRows: br,
    blocks: planBlocks(N, br).length,
    inline: res[0].s,
    t1: res[1].s,
    t2: res[2].s,
    speedup: res[1].s.median / res[2].s.median,
    bitwiseEqual: same,
  });
}

// 2. exponent in n (one thread, engine)
const fits = [];
if (!noFit) {
  for (const d of DS) {
    const pts = [];
    for (const n of FIT_NS) {
      const have = rows.find((r) => r.n === n && r.d === d);
      pts.push({ n, ms: have ? have.t1.median : (await timeOracles(n, d, [1]))[0].s.median });
    }
    const xs = pts.map((q) => Math.log(q.n)),
      ys = pts.map((q) => Math.log(q.ms));
    const mx = xs.reduce((a, b) => a + b) / xs.length,
      my = ys.reduce((a, b) => a + b) / ys.length;
    const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    fits.push({ d, points: pts, exponent: slope });
    console.error(`  d=${d}: time ~ n^${fmt(slope, 2)} (${pts.map((q) => `${q.n}: ${fmt(q.ms)} ms`).join(', ')})`);
  }
}
await shutdownEngine();

const cell = (s) => `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
const md = [
  `## Thread scaling: one loss + ∇X + ∇Y evaluation through the engine (gemm ${m.gemm})`,
  '',
  machineMd(
    m,
    `- engine threads as in the table (one OpenBLAS thread per call); OPENBLAS_CORETYPE=${m.openblasCoretype} (matters only for native-blas); numpy not run`,
  ),
  '',
  table(
    ['n', 'd', 'blocks × rows', 'inline ms', '1 thread ms', '2 threads ms', 'speedup', 'bitwise equal'],
    rows.map((r) => [
      r.n,
      r.d,
      `${r.blocks} × ${r.blockRows}`,
      cell(r.inline),
      cell(r.t1),
      cell(r.t2),
      `${fmt(r.speedup, 2)}×`,
      r.bitwiseEqual ? 'yes' : 'NO',
    ]),
  ),
  '',
  ...(fits.length
    ? [
        table(
          ['d', ...FIT_NS.map((n) => `n=${n} ms`), 'exponent'],
          fits.map((f) => [f.d, ...f.points.map((q) => fmt(q.ms)), fmt(f.exponent, 2)]),
        ),
        '',
      ]
    : []),
].join('\n');
console.log(md);
const [jf, mf] = writeResults(`threads-${gemmBackend()}`, { machine: m, rows, fits }, md);
console.error(`wrote ${jf} and ${mf}`);
