#!/usr/bin/env node
// Solve benchmark: wall time per iteration and iterations to relative loss ≤ 1e-12 for
// planted problems (attnfit generate's distribution, scale 2) from a warm start
// X0 = X_true + 0.05·N(0, 1), on the local engine with 1 and all threads.
// Each configuration is solved RUNS (≥ 5) times; medians with min–max are reported.
//
// Usage: node bench/solve.mjs [--quick] [--configs 1024x8:newton,2048x8:newton,...]
// Writes bench/results/solve-<time>.json and .md, and prints the markdown table.
import { availableParallelism } from 'node:os';
import { LocalOracle, shutdownEngine, solve } from '@attnfit/coordinator';
import { gemmBackendDetail, vexpBackend } from '@attnfit/shared/kernels';
// The engine's threads load the optional native BLAS when it is built; load it here too so the
// backend printed with the table is the one that computed it.
import '@attnfit/shared/native';
import { plantedProblem } from '../coordinator/dist/cli/commands/generate.js';
import { RUNS, fmt, machine, machineMd, stats, table, writeResults, randn } from './lib/common.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => { const k = argv.indexOf(name); return k >= 0 ? argv[k + 1] : def; };
const quick = argv.includes('--quick');
const CONFIGS = opt('--configs', quick ? '512x8:newton' : '1024x8:newton,2048x8:newton,1024x16:newton,1024x16:newton-cg')
  .split(',').map((s) => { const [nd, method] = s.split(':'); const [n, d] = nd.split('x').map(Number); return { n, d, method }; });
const THREADS = [...new Set([1, Math.max(1, availableParallelism())])];
const TOL = 1e-12;

const rows = [], results = [];
for (const { n, d, method } of CONFIGS) {
  const p = plantedProblem(n, d, 1, 2);
  const noise = randn(d * d, 7, 0.05);
  const x0 = Float64Array.from(p.Xtrue, (v, i) => v + noise[i]);
  for (const threads of THREADS) {
    const oracle = new LocalOracle(p, { threads });
    await solve(oracle, { method, x0, maxIter: 1, tol: TOL }); // warm-up (thread start, JIT)
    const secs = [], perIt = [], its = [], rel = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const res = await solve(oracle, { method, x0, tol: TOL, maxIter: 50 });
      const s = (performance.now() - t0) / 1000;
      secs.push(s); its.push(res.iterations); rel.push(res.relLoss); perIt.push((1000 * s) / Math.max(1, res.iterations));
    }
    await oracle.close();
    const S = stats(secs), P = stats(perIt), I = stats(its);
    results.push({ n, d, method, threads, blocks: oracle.info().blocks, seconds: S, msPerIteration: P, iterations: I, finalRelLoss: stats(rel) });
    rows.push([String(n), String(d), method, String(threads), `${I.median}`, `${fmt(P.median, 0)} [${fmt(P.min, 0)}–${fmt(P.max, 0)}]`,
      `${fmt(S.median, 2)} [${fmt(S.min, 2)}–${fmt(S.max, 2)}]`, stats(rel).max.toExponential(1)]);
    process.stderr.write(`n=${n} d=${d} ${method} threads=${threads}: ${I.median} iterations, ${fmt(P.median, 0)} ms/iteration\n`);
  }
}
await shutdownEngine();
const m = machine({ gemm: gemmBackendDetail(), vexp: vexpBackend() });
const md = [
  `### attnfit solve: warm start (X_true + 0.05·noise), tol ${TOL}`,
  '',
  table(['n', 'd', 'method', 'threads', 'iterations', 'ms / iteration', 'total s', 'worst final relLoss'], rows),
  '',
  machineMd(m),
  '- attnfit rows use the local engine with the stated threads; ms / iteration = total solve time / iterations',
  '  (includes the initial point and line-search evaluations). Row blocks: planBlocks(n, defaultBlockRows(n, d)).',
].join('\n');
const [j, mdPath] = writeResults(`solve-${new Date().toISOString().replace(/[:.]/g, '-')}`, { machine: m, results }, md);
console.log(md);
console.error(`wrote ${j} and ${mdPath}`);
