#!/usr/bin/env node
// Loss + both gradients benchmark, one thread:
//  1. in-process: attnfit evaluateProblem (@attnfit/shared/math) vs bench/numpy_loss.py at
//     n ∈ {1024, 2048, 4096}, d ∈ {16, 64} (random problems, logits ~ N(0, 1));
//  2. fitted time exponent in n (least squares on log t vs log n, n = 1024 … 8192);
//  3. whole process: `attnfit loss PROBLEM --x --y --grad-out DIR --threads 1` vs
//     `numpy_loss.py process` (load .npy, evaluate, save gradients), wall time, with a check that
//     both give the same loss and gradients.
// Prints markdown; writes bench/results/loss.{json,md}.
// Usage: node bench/loss.mjs [--quick]   (env BENCH_RUNS=N; --quick: n ≤ 2048, no 8192)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateProblem } from '@attnfit/shared/math';
import { gemmBackendDetail, gemmBackends, setGemmBackend, vexpBackend } from '@attnfit/shared/kernels';
import { nativeBlasStatus } from '@attnfit/shared/native';
import { encodeNpy, loadMatrix } from '@attnfit/shared/io';
import {
  machine,
  machineMd,
  numpyInfo,
  runPython,
  stats,
  table,
  timeMs,
  writeResults,
  randn,
  fmt,
  RUNS,
  repoDir,
  numpyEnv,
} from './lib/common.mjs';

const quick = process.argv.includes('--quick');
const NS = quick ? [1024, 2048] : [1024, 2048, 4096];
const FIT_NS = quick ? [512, 1024, 2048] : [1024, 2048, 4096, 8192];
const DS = [16, 64];
const WANT = { loss: true, gradX: true, gradY: true };

const np = numpyInfo();
const nat = nativeBlasStatus();
setGemmBackend('wasm-simd'); // the default product configuration; native-blas is an extra column
const m = machine({
  gemm: gemmBackendDetail(),
  vexp: vexpBackend(),
  numpy: np?.numpy ?? null,
  nativeBlas: nat.loaded ? nat.config : `absent: ${nat.reason}`,
});
const withNative = gemmBackends().includes('native-blas');
console.error(
  `loss bench: ${m.cpu}, ${m.cores} cores, node ${m.node}, gemm ${m.gemm}, exp ${m.vexp}, numpy ${m.numpy ?? 'absent'}`,
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

function timeAttnfit(n, d, runs = RUNS) {
  const { p, X, Y } = problem(n, d, 100 + n + d);
  return timeMs(() => evaluateProblem(p, X, Y, WANT), runs);
}

// warm-up: let V8 tier up the kernels before the first timed configuration
timeAttnfit(1024, 16, 3);

// 1. in-process table
const inproc = [];
for (const d of DS)
  for (const n of NS) {
    const s = timeAttnfit(n, d);
    inproc.push({ n, d, attnfit: s });
    if (withNative) {
      setGemmBackend('native-blas');
      inproc.at(-1).native = timeAttnfit(n, d);
      setGemmBackend('wasm-simd');
    }
    console.error(`  attnfit n=${n} d=${d}: ${fmt(s.median)} ms`);
  }
if (np) {
  const py = runPython('numpy_loss.py', ['bench', String(RUNS), inproc.map((r) => `${r.n},${r.d}`).join(';')]);
  py.results.forEach((r, i) => {
    inproc[i].numpy = stats(r.ms);
  });
}

// 2. exponent in n
const fits = [];
for (const d of DS) {
  const pts = FIT_NS.map((n) => {
    const have = inproc.find((r) => r.n === n && r.d === d);
    return { n, ms: (have ? have.attnfit : timeAttnfit(n, d, n >= 8192 ? 5 : RUNS)).median };
  });
  const xs = pts.map((q) => Math.log(q.n)),
    ys = pts.map((q) => Math.log(q.ms));
  const mx = xs.reduce((a, b) => a + b) / xs.length,
    my = ys.reduce((a, b) => a + b) / ys.length;
  const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  fits.push({ d, points: pts, exponent: slope });
  console.error(`  d=${d}: time ~ n^${fmt(slope, 2)}`);
}

// 3. whole process
const proc = [];
const procN = quick ? 1024 : 4096;
const cli = join(repoDir, 'coordinator', 'bin', 'attnfit.js');
for (const d of DS) {
  const dir = mkdtempSync(join(tmpdir(), 'attnfit-bench-'));
  try {
    const g = spawnSync(
      process.execPath,
      [cli, 'generate', '--n', String(procN), '--d', String(d), '--seed', '7', '--out', join(dir, 'p')],
      { encoding: 'utf8' },
    );
    if (g.status !== 0) throw new Error(`attnfit generate failed: ${g.stderr}`);
    // evaluate away from the planted optimum so the gradients are not ~0
    const Xt = (await loadMatrix(join(dir, 'p', 'X_true.npy'))).data,
      noise = randn(d * d, 9, 0.3 / d);
    writeFileSync(
      join(dir, 'X.npy'),
      encodeNpy(
        Xt.map((v, i) => v + noise[i]),
        [d, d],
      ),
    );
    const xy = ['--x', join(dir, 'X.npy'), '--y', join(dir, 'p', 'Y_true.npy')];
    const wall = (cmd, args, env) => {
      const t = [];
      let out = '';
      for (let i = 0; i < RUNS + 1; i++) {
        const t0 = performance.now();
        const r = spawnSync(cmd, args, { encoding: 'utf8', env });
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
        if (i > 0) t.push(performance.now() - t0); // first run warms the page cache
        out = r.stdout;
      }
      return { s: stats(t), json: JSON.parse(out.trim().split('\n').pop()) };
    };
    const a = wall(
      process.execPath,
      [cli, 'loss', join(dir, 'p'), ...xy, '--grad-out', join(dir, 'ga'), '--threads', '1'],
      { ...process.env, ATTNFIT_GEMM: 'wasm' },
    );
    const row = { n: procN, d, attnfit: a.s, attnfitOut: a.json };
    if (withNative)
      row.native = wall(
        process.execPath,
        [cli, 'loss', join(dir, 'p'), ...xy, '--grad-out', join(dir, 'gb'), '--threads', '1'],
        { ...process.env, ATTNFIT_GEMM: 'native' },
      ).s;
    if (np) {
      const b = wall(
        'python3',
        [
          join(repoDir, 'bench', 'numpy_loss.py'),
          'process',
          join(dir, 'p'),
          ...xy.filter((_, i) => i % 2),
          join(dir, 'gn'),
        ],
        numpyEnv(),
      );
      row.numpy = b.s;
      row.numpyOut = b.json;
      const rel = (u, v) => Math.abs(u - v) / Math.max(Math.abs(v), 1e-300);
      let gmax = 0;
      for (const f of ['gradX.npy', 'gradY.npy']) {
        const ga = (await loadMatrix(join(dir, 'ga', f))).data,
          gn = (await loadMatrix(join(dir, 'gn', f))).data;
        let num = 0,
          den = 0;
        for (let i = 0; i < ga.length; i++) {
          num = Math.max(num, Math.abs(ga[i] - gn[i]));
          den = Math.max(den, Math.abs(gn[i]));
        }
        gmax = Math.max(gmax, num / den);
      }
      row.agreement = { lossRel: rel(a.json.loss, b.json.loss), gradMaxRel: gmax };
    }
    proc.push(row);
    console.error(
      `  process n=${procN} d=${d}: attnfit ${fmt(a.s.median)} ms${withNative ? `, native ${fmt(row.native.median)} ms` : ''}, numpy ${fmt(row.numpy?.median)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const c = (s) => (s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '—');
const ratio = (a, b) => (a && b ? `${fmt(a.median / b.median, 2)}×` : '—');
const md = [
  '## Loss + both gradients, ms (float64, one thread)',
  '',
  machineMd(m),
  '',
  '### In process (evaluateProblem vs numpy, random problem, loss + ∇X + ∇Y)',
  '',
  table(
    [
      'n',
      'd',
      `attnfit (${gemmBackendDetail()})`,
      ...(withNative ? ['attnfit (native-blas)'] : []),
      'numpy',
      'attnfit / numpy',
      ...(withNative ? ['native / numpy'] : []),
    ],
    inproc.map((r) => [
      r.n,
      r.d,
      c(r.attnfit),
      ...(withNative ? [c(r.native)] : []),
      c(r.numpy),
      ratio(r.attnfit, r.numpy),
      ...(withNative ? [ratio(r.native, r.numpy)] : []),
    ]),
  ),
  '',
  '### Time exponent in n (attnfit, least squares of log t on log n)',
  '',
  table(
    ['d', ...FIT_NS.map((n) => `n=${n} ms`), 'exponent'],
    fits.map((f) => [f.d, ...f.points.map((q) => fmt(q.ms)), fmt(f.exponent, 2)]),
  ),
  '',
  'Expected ≈ 2 (the n×n logits dominate: O(n²d) flops and n² exps).',
  '',
  `### Whole process (load .npy, evaluate, save gradients), n=${procN}, wall ms`,
  '',
  table(
    [
      'n',
      'd',
      '`attnfit loss --threads 1` (WebAssembly)',
      ...(withNative ? ['same, native-blas'] : []),
      '`numpy_loss.py process`',
      'attnfit / numpy',
      ...(withNative ? ['native / numpy'] : []),
      'loss rel. diff',
      'grad max rel. diff',
    ],
    proc.map((r) => [
      r.n,
      r.d,
      c(r.attnfit),
      ...(withNative ? [c(r.native)] : []),
      c(r.numpy),
      ratio(r.attnfit, r.numpy),
      ...(withNative ? [ratio(r.native, r.numpy)] : []),
      r.agreement ? r.agreement.lossRel.toExponential(1) : '—',
      r.agreement ? r.agreement.gradMaxRel.toExponential(1) : '—',
    ]),
  ),
  '',
  'The WebAssembly column runs with ATTNFIT_GEMM=wasm (relaxed-SIMD FMA kernel); the agreement columns compare it with numpy.',
].join('\n');
console.log(md);
const [j] = writeResults('loss', { machine: m, runs: RUNS, inProcess: inproc, exponent: fits, wholeProcess: proc }, md);
console.error(`wrote ${j} (+ .md)`);
