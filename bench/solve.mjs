#!/usr/bin/env node
// Solve benchmark: wall time per iteration and iterations to relative loss ≤ 1e-12 for
// planted problems (attnfit generate's distribution, scale 2) from a warm start
// X0 = X_true + 0.05·N(0, 1), on the local engine with 1 and all threads.
// Each configuration is solved RUNS (≥ 5) times; medians with min–max are reported.
// When a python with PyTorch is found (env BENCH_TORCH_PYTHON, else python3, else /usr/bin/python3
// — Debian's python3-torch), the same problems and starts also go to bench/torch_lbfgs.py:
// time to the same relative loss with torch.optim.LBFGS, float64, 1 and all threads.
//
// Usage: node bench/solve.mjs [--quick] [--configs 1024x8:newton,2048x8:newton,...]
// Writes bench/results/solve-<time>.json and .md, and prints the markdown table.
import { availableParallelism, tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '@attnfit/shared/io';
import { LocalOracle, shutdownEngine, solve } from '@attnfit/coordinator';
import { gemmBackendDetail, vexpBackend } from '@attnfit/shared/kernels';
// The engine's threads load the optional native BLAS when it is built; load it here too so the
// backend printed with the table is the one that computed it.
import '@attnfit/shared/native';
import { plantedProblem } from '../coordinator/dist/cli/commands/generate.js';
import { RUNS, fmt, machine, machineMd, stats, table, writeResults, randn, benchDir } from './lib/common.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : def;
};
const quick = argv.includes('--quick');
const CONFIGS = opt(
  '--configs',
  quick ? '512x8:newton' : '1024x8:newton,2048x8:newton,1024x16:newton,1024x16:newton-cg',
)
  .split(',')
  .map((s) => {
    const [nd, method] = s.split(':');
    const [n, d] = nd.split('x').map(Number);
    return { n, d, method };
  });
const THREADS = [...new Set([1, Math.max(1, availableParallelism())])];
const TOL = 1e-12;

/** A python that can `import torch`, or null. */
function torchPython() {
  for (const py of [process.env.BENCH_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { py, version: r.stdout.trim() };
  }
  return null;
}
const torch = torchPython();
const TORCH_MAX_SECONDS = Number(process.env.BENCH_TORCH_MAX_SECONDS) || 120;
const torchRuns = Math.min(RUNS, 3); // PyTorch L-BFGS runs are long: medians of 3
const torchRows = [],
  torchResults = [],
  torchDone = new Set();

const rows = [],
  results = [];
for (const { n, d, method } of CONFIGS) {
  const p = plantedProblem(n, d, 1, 2);
  const noise = randn(d * d, 7, 0.05);
  const x0 = Float64Array.from(p.Xtrue, (v, i) => v + noise[i]);
  if (torch && !torchDone.has(`${n}x${d}`)) {
    torchDone.add(`${n}x${d}`);
    const dir = mkdtempSync(join(tmpdir(), 'attnfit-torch-'));
    try {
      for (const k of ['A1', 'A2', 'A3', 'B']) writeFileSync(join(dir, `${k}.npy`), encodeNpy(p[k], [n, d]));
      writeFileSync(join(dir, 'X0.npy'), encodeNpy(x0, [d, d]));
      for (const threads of THREADS) {
        const outs = [];
        for (let r = 0; r < torchRuns; r++) {
          const t = spawnSync(
            torch.py,
            [
              join(benchDir, 'torch_lbfgs.py'),
              dir,
              join(dir, 'X0.npy'),
              String(TOL),
              String(TORCH_MAX_SECONDS),
              String(threads),
            ],
            { encoding: 'utf8' },
          );
          if (t.status !== 0) throw new Error(`torch_lbfgs.py failed: ${t.stderr}`);
          outs.push(JSON.parse(t.stdout.trim().split('\n').pop()));
        }
        const S = stats(outs.map((o) => o.seconds)),
          worst = Math.max(...outs.map((o) => o.relLoss));
        torchResults.push({ n, d, threads, seconds: S, runs: outs });
        torchRows.push({
          n,
          d,
          threads,
          S,
          its: stats(outs.map((o) => o.iterations)).median,
          evals: stats(outs.map((o) => o.evaluations)).median,
          worst,
          reached: outs.every((o) => o.reached),
        });
        process.stderr.write(
          `torch L-BFGS n=${n} d=${d} threads=${threads}: ${fmt(S.median, 2)} s, relLoss ${worst.toExponential(1)}\n`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const threads of THREADS) {
    const oracle = new LocalOracle(p, { threads });
    await solve(oracle, { method, x0, maxIter: 1, tol: TOL }); // warm-up (thread start, JIT)
    const secs = [],
      perIt = [],
      its = [],
      rel = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const res = await solve(oracle, { method, x0, tol: TOL, maxIter: 50 });
      const s = (performance.now() - t0) / 1000;
      secs.push(s);
      its.push(res.iterations);
      rel.push(res.relLoss);
      perIt.push((1000 * s) / Math.max(1, res.iterations));
    }
    await oracle.close();
    const S = stats(secs),
      P = stats(perIt),
      I = stats(its);
    results.push({
      n,
      d,
      method,
      threads,
      blocks: oracle.info().blocks,
      seconds: S,
      msPerIteration: P,
      iterations: I,
      finalRelLoss: stats(rel),
    });
    rows.push([
      String(n),
      String(d),
      method,
      String(threads),
      `${I.median}`,
      `${fmt(P.median, 0)} [${fmt(P.min, 0)}–${fmt(P.max, 0)}]`,
      `${fmt(S.median, 2)} [${fmt(S.min, 2)}–${fmt(S.max, 2)}]`,
      stats(rel).max.toExponential(1),
    ]);
    process.stderr.write(
      `n=${n} d=${d} ${method} threads=${threads}: ${I.median} iterations, ${fmt(P.median, 0)} ms/iteration\n`,
    );
  }
}
await shutdownEngine();
const m = machine({
  gemm: gemmBackendDetail(),
  vexp: vexpBackend(),
  torch: torch ? `${torch.version} (${torch.py})` : null,
});
/** attnfit's fastest method on (n, d, threads), for the comparison column. */
const bestAttnfit = (n, d, threads) =>
  results
    .filter((r) => r.n === n && r.d === d && r.threads === threads && r.finalRelLoss.max <= TOL)
    .sort((a, b) => a.seconds.median - b.seconds.median)[0];
const torchTable = torch
  ? table(
      [
        'n',
        'd',
        'threads',
        'PyTorch L-BFGS s to tol',
        'L-BFGS iterations / evaluations',
        'worst final relLoss',
        'attnfit (fastest method) s',
        'PyTorch / attnfit',
      ],
      torchRows.map((t) => {
        const a = bestAttnfit(t.n, t.d, t.threads);
        return [
          String(t.n),
          String(t.d),
          String(t.threads),
          `${fmt(t.S.median, 2)} [${fmt(t.S.min, 2)}–${fmt(t.S.max, 2)}]${t.reached ? '' : ' (not reached)'}`,
          `${t.its} / ${t.evals}`,
          t.worst.toExponential(1),
          a ? `${fmt(a.seconds.median, 2)} (${a.method})` : '—',
          a ? `${fmt(t.S.median / a.seconds.median, 1)}×` : '—',
        ];
      }),
    )
  : 'PyTorch not importable (tried BENCH_TORCH_PYTHON, python3, /usr/bin/python3): comparison skipped. Debian: apt-get install python3-torch.';
const md = [
  `### attnfit solve: warm start (X_true + 0.05·noise), tol ${TOL}`,
  '',
  table(['n', 'd', 'method', 'threads', 'iterations', 'ms / iteration', 'total s', 'worst final relLoss'], rows),
  '',
  `### Time to relative loss ${TOL}: PyTorch L-BFGS from the same start (X0, Y*(X0)), float64${torch ? `, torch ${torch.version}, medians of ${torchRuns}, at most ${TORCH_MAX_SECONDS} s each` : ''}`,
  '',
  torchTable,
  '',
  machineMd(
    m,
    `- threads as in the tables (attnfit: engine threads; PyTorch: torch.set_num_threads)${torch ? `; PyTorch ${torch.version} from ${torch.py}` : ''}`,
  ),
  '- attnfit rows use the local engine with the stated threads; ms / iteration = total solve time / iterations',
  '  (includes the initial point and line-search evaluations). Row blocks: planBlocks(n, defaultBlockRows(n, d)).',
].join('\n');
const [j, mdPath] = writeResults(
  `solve-${new Date().toISOString().replace(/[:.]/g, '-')}`,
  { machine: m, results, torch: torchResults },
  md,
);
console.log(md);
console.error(`wrote ${j} and ${mdPath}`);
