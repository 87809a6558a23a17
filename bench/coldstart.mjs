#!/usr/bin/env node
// Fit-from-scratch benchmark (issue 10): can `attnfit solve` find the zero-residual fit without a
// warm start, and how does it compare with today's multi-start L-BFGS and with PyTorch multi-start
// at the same wall time?
//
// Problem families (n = 1024; d = 8 and 16; SEEDS problems each):
//   planted-s1, -s2, -s4  `attnfit generate --scale S` (cross-attention: A1, A2, A3 independent)
//   self-s2               self-attention planted here (A1 = A2 = A3), logit scale 2
//   peaked-s7             `attnfit generate --scale 7`: nearly one-hot attention rows
//   trained-<name>        the recorded layers in bench/fixtures/layers/<name> (one problem each,
//                         solved with SEEDS solver seeds; multi-head ones have no exact fit)
// Per problem, all with one time budget B = BUDGET_FACTOR (20) × the warm-start solve time of
// that size (median of 3 `attnfit solve P --x0 X_warm.npy` on a planted scale-2 problem,
// report.json "seconds"):
//   default   `attnfit solve P --seed k` (no --x0; `--budget B` only when `solve --help` lists it,
//             otherwise it is stopped with SIGTERM after B seconds of solving — its own clock,
//             read from `--progress -`, so process start-up does not count — and keeps its best
//             iterate)
//   lbfgs     `attnfit solve P [--no-search] --method lbfgs --starts K --max-iter M --seed k`
//             (K = 64, M = 200; --no-search when the CLI has it: today's random multi-start),
//             stopped the same way after B seconds of solving
//   torch-*   bench/torch_multistart.py --method lbfgs|adam with the solve time the default run
//             took (python with torch: BENCH_TORCH_PYTHON, /usr/bin/python3, python3)
// A run that fails, or is still running at 2B + 60 s of wall time, is recorded as a failure
// (status "failed" / "timeout" in the JSON), never a crash.
// Success: relative loss ≤ 1e-10 on a family with an exact fit.
//
// Usage: node bench/coldstart.mjs [--quick] [--seeds N] [--families a,b] [--dims 8,16]
//          [--budget-factor F | --budget-s SECONDS] [--lbfgs-starts K] [--lbfgs-max-iter M] [--torch-threads T]
//          [--no-torch] [--keep]
//   --quick: 3 seeds, d = 8 only, budget factor 2 (a smoke run of a few minutes; its numbers are not
//   the benchmark). --families: names or prefixes (planted, self, peaked, trained).
// Writes bench/results/coldstart-<time>.json and .md, and prints the markdown table.
import { availableParallelism, tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy, encodeNpy } from '@attnfit/shared/io';
import { attentionForward } from '@attnfit/shared/math';
import { gemmBackendDetail, vexpBackend } from '@attnfit/shared/kernels';
// The CLI's threads load the optional native BLAS when it is built; load it here too so the
// backend printed with the table is the one the CLI uses.
import '@attnfit/shared/native';
import { benchDir, fmt, machine, machineMd, randn, repoDir, stats, table, writeResults } from './lib/common.mjs';

const argv = process.argv.slice(2);
const KNOWN = new Set([
  '--quick',
  '--seeds',
  '--families',
  '--dims',
  '--budget-factor',
  '--budget-s',
  '--lbfgs-starts',
  '--lbfgs-max-iter',
  '--torch-threads',
  '--no-torch',
  '--keep',
]);
for (let i = 0; i < argv.length; i++) {
  if (!KNOWN.has(argv[i])) {
    console.error(`coldstart.mjs: unknown argument ${argv[i]}`);
    process.exit(2);
  }
  if (!['--quick', '--no-torch', '--keep'].includes(argv[i])) i++;
}
const opt = (name, def) => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : def;
};
const quick = argv.includes('--quick');
const SEEDS = Number(opt('--seeds', quick ? 3 : 20));
const DIMS = opt('--dims', quick ? '8' : '8,16')
  .split(',')
  .map(Number);
const FAMILY_FILTER = opt('--families', '').split(',').filter(Boolean);
const BUDGET_FACTOR = Number(opt('--budget-factor', quick ? 2 : 20));
// A fixed budget in seconds instead of BUDGET_FACTOR × the warm-start time: compares runs made at
// different machine loads (the warm-start time, and so B, moves with the load).
const BUDGET_S = opt('--budget-s', undefined) === undefined ? undefined : Number(opt('--budget-s'));
const LBFGS_STARTS = Number(opt('--lbfgs-starts', 64));
const LBFGS_MAX_ITER = Number(opt('--lbfgs-max-iter', 200));
const TORCH_THREADS = Number(opt('--torch-threads', Math.max(1, availableParallelism())));
const KEEP = argv.includes('--keep');
for (const [k, v] of [
  ['--seeds', SEEDS],
  ['--budget-factor', BUDGET_FACTOR],
  ['--budget-s', BUDGET_S ?? 1],
  ['--lbfgs-starts', LBFGS_STARTS],
  ['--lbfgs-max-iter', LBFGS_MAX_ITER],
  ['--torch-threads', TORCH_THREADS],
]) {
  if (!(Number.isFinite(v) && v > 0)) {
    console.error(`coldstart.mjs: ${k} must be a number > 0 (got ${v})`);
    process.exit(2);
  }
}
const N = 1024;
const SUCCESS = 1e-10;
const THREADS = Math.max(1, availableParallelism());
const bin = join(repoDir, 'coordinator', 'bin', 'attnfit.js');
const fixturesDir = join(benchDir, 'fixtures', 'layers');
const log = (s) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------------------------------------
// Subprocesses: never throw; a run that fails, is stopped or times out is described, not fatal.

/**
 * Runs cmd. Stops: SIGTERM `budgetS` seconds after the solve's own clock started (anchored on the
 * first `--progress -` line on stderr, whose "seconds" says how long start 0 has run) — the budget
 * stop; SIGTERM at `limitS` after spawn if that never happens — a timeout; SIGKILL `graceS` after
 * either. Never rejects.
 */
function run(cmd, args, { budgetS, limitS, graceS = 30 } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let out = '',
      err = '',
      anchored = false,
      stop = null,
      killed = false;
    const timers = new Set();
    let child;
    try {
      child = spawn(cmd, args, { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ status: null, signal: null, stdout: '', stderr: String(e), wallS: 0, stop, killed });
      return;
    }
    const after = (s, fn) => {
      const t = setTimeout(
        () => {
          timers.delete(t);
          fn();
        },
        Math.max(0, s) * 1000,
      );
      timers.add(t);
      return t;
    };
    const term = (why) => {
      if (stop) return;
      stop = why;
      child.kill('SIGTERM');
      after(graceS, () => {
        killed = true;
        child.kill('SIGKILL');
      });
    };
    if (limitS !== undefined) after(limitS, () => term('limit'));
    child.stdout.on('data', (b) => {
      out += b;
    });
    child.stderr.on('data', (b) => {
      err += b;
      if (budgetS !== undefined && !anchored) {
        const m = /\{"start":\d+,"iteration":\d+,[^\n]*"seconds":([-+0-9.eE]+)\}/.exec(err);
        if (m) {
          anchored = true;
          after(budgetS - Number(m[1]), () => term('budget'));
        }
      }
      if (err.length > 1e6) err = err.slice(-5e5);
    });
    const done = (status, signal, extra = '') => {
      for (const t of timers) clearTimeout(t);
      resolve({
        status,
        signal,
        stdout: out,
        stderr: err + extra,
        wallS: (performance.now() - t0) / 1000,
        stop,
        killed,
      });
    };
    child.on('error', (e) => done(null, null, String(e)));
    child.on('close', (status, signal) => done(status, signal));
  });
}

const attnfitArgs = (...a) => [bin, ...a];
const readJson = (p) => {
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
};
const tail = (s, k = 400) =>
  s
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('{"start"'))
    .slice(-3)
    .join(' | ')
    .slice(-k);

/**
 * Solve with the attnfit CLI. `budgetS`: stopped with SIGTERM after that many seconds of solving
 * (status "budget-stop", best iterate kept); `limitS`: wall seconds after which the run counts as
 * a timeout (a failure).
 */
async function attnfitSolve(problem, out, extra, { budgetS, limitS }) {
  rmSync(out, { recursive: true, force: true });
  const progress = budgetS !== undefined ? ['--progress', '-'] : [];
  const r = await run(process.execPath, attnfitArgs('solve', problem, '--out', out, ...progress, ...extra), {
    budgetS,
    limitS,
    graceS: 30,
  });
  const rep = readJson(join(out, 'report.json'));
  const base = { wallS: r.wallS, exit: r.status, signal: r.signal };
  const error = () => tail(r.stderr) || `exit ${r.status} ${r.signal ?? ''}`;
  if (!rep)
    return { ...base, status: r.stop === 'limit' ? 'timeout' : 'failed', relLoss: null, seconds: null, error: error() };
  const status =
    r.killed || r.stop === 'limit'
      ? 'timeout'
      : r.stop === 'budget' && (r.status === 130 || r.status === 0)
        ? 'budget-stop'
        : r.status === 0
          ? 'ok'
          : 'failed';
  const res = {
    ...base,
    status,
    relLoss: rep.relLoss,
    seconds: rep.seconds,
    iterations: rep.iterations,
    method: rep.method,
    startsRun: Array.isArray(rep.starts) ? rep.starts.length : null,
    stopReason: rep.stopReason,
    message: rep.message,
  };
  if (rep.search !== undefined) res.search = rep.search;
  if (status === 'failed' || status === 'timeout') res.error = error();
  return res;
}

/** A python that can `import torch, numpy`, or null. */
function torchPython() {
  if (argv.includes('--no-torch')) return null;
  for (const py of [process.env.BENCH_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { py, version: r.stdout.trim() };
  }
  return null;
}

async function torchRun(py, problem, method, budgetS, seed) {
  const r = await run(
    py,
    [
      join(benchDir, 'torch_multistart.py'),
      problem,
      '--method',
      method,
      '--budget',
      String(budgetS),
      '--seed',
      String(seed),
      '--threads',
      String(TORCH_THREADS),
      '--y',
      'varpro',
    ],
    { limitS: budgetS + 120, graceS: 10 },
  );
  let j = null;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    /* failure below */
  }
  if (r.status !== 0 || !j)
    return {
      status: r.stop ? 'timeout' : 'failed',
      relLoss: null,
      seconds: null,
      wallS: r.wallS,
      error: tail(r.stderr) || `exit ${r.status}`,
    };
  return {
    status: 'ok',
    relLoss: j.best_rel_loss,
    seconds: j.seconds,
    wallS: r.wallS,
    startsRun: j.starts,
    successes: j.successes,
    evaluations: j.evaluations,
    y: j.y,
  };
}

// ---------------------------------------------------------------------------------------------
// Problems.

const npy = (p) => decodeNpy(readFileSync(p), p);
const e1 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toExponential(1));

/** Mean row maximum and mean row entropy of softmax(A1 X A2ᵀ) (how peaked the attention is). */
function attentionShape(dir) {
  if (!existsSync(join(dir, 'X_true.npy'))) return null;
  const A1 = npy(join(dir, 'A1.npy')),
    A2 = npy(join(dir, 'A2.npy')),
    X = npy(join(dir, 'X_true.npy')).data;
  const [n, d] = A1.shape;
  const T = new Float64Array(d),
    s = new Float64Array(n);
  let maxSum = 0,
    entSum = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      let t = 0;
      for (let k = 0; k < d; k++) t += A1.data[i * d + k] * X[k * d + c];
      T[c] = t;
    }
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      let t = 0;
      for (let c = 0; c < d; c++) t += T[c] * A2.data[j * d + c];
      s[j] = t;
      if (t > mx) mx = t;
    }
    let z = 0,
      zs = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(s[j] - mx);
      z += e;
      zs += e * (s[j] - mx);
    }
    maxSum += 1 / z;
    entSum += Math.log(z) - zs / z;
  }
  return { maxProb: maxSum / n, entropy: entSum / n, uniformEntropy: Math.log(n) };
}

function generate(dir, n, d, seed, scale, warmNoise) {
  const a = [
    'generate',
    '--n',
    String(n),
    '--d',
    String(d),
    '--seed',
    String(seed),
    '--scale',
    String(scale),
    '--out',
    dir,
  ];
  if (warmNoise !== undefined) a.push('--warm-noise', String(warmNoise));
  const r = spawnSync(process.execPath, attnfitArgs(...a), { cwd: repoDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`attnfit generate failed: ${r.stderr}`);
}

/** Self-attention planted problem: A1 = A2 = A3 = A ~ N(0, 1/d), X ~ N(0, scale²), Y ~ N(0, 1). */
function plantSelf(dir, n, d, seed, scale) {
  const base = (0x5e1f0000 + 3 * seed) >>> 0; // bench/lib/common.mjs randn streams, one per matrix
  const A = randn(n * d, base, 1 / Math.sqrt(d)),
    X = randn(d * d, base + 1, scale),
    Y = randn(d * d, base + 2, 1);
  const B = attentionForward({ n, d, A1: A, A2: A, A3: A }, X, Y);
  mkdirSync(dir, { recursive: true });
  for (const k of ['A1', 'A2', 'A3']) writeFileSync(join(dir, `${k}.npy`), encodeNpy(A, [n, d]));
  writeFileSync(join(dir, 'B.npy'), encodeNpy(B, [n, d]));
  writeFileSync(join(dir, 'X_true.npy'), encodeNpy(X, [d, d]));
  writeFileSync(join(dir, 'Y_true.npy'), encodeNpy(Y, [d, d]));
  writeFileSync(
    join(dir, 'problem.json'),
    `${JSON.stringify(
      {
        kind: 'planted-self-attention',
        n,
        d,
        seed,
        scale,
        rng: `bench/lib/common.mjs randn (mulberry32 + Box–Muller), seeds ${base}, ${base + 1}, ${base + 2} for A, X_true, Y_true`,
        B: 'softmax_rows(A X_true Aᵀ) A Y_true (attentionForward)',
      },
      null,
      2,
    )}\n`,
  );
}

const FAMILIES = [
  ...[1, 2, 4].map((s) => ({
    family: `planted-s${s}`,
    exact: true,
    what: `attnfit generate --scale ${s} (cross-attention)`,
    make: (dir, d, seed) => generate(dir, N, d, seed, s),
  })),
  {
    family: 'self-s2',
    exact: true,
    what: 'self-attention A1 = A2 = A3, planted in the bench, scale 2',
    make: (dir, d, seed) => plantSelf(dir, N, d, seed, 2),
  },
  {
    family: 'peaked-s7',
    exact: true,
    what: 'attnfit generate --scale 7 (nearly one-hot rows)',
    make: (dir, d, seed) => generate(dir, N, d, seed, 7),
  },
];
const fixtures = existsSync(fixturesDir)
  ? readdirSync(fixturesDir)
      .filter((f) => existsSync(join(fixturesDir, f, 'B.npy')))
      .sort()
  : [];
for (const name of fixtures) {
  const info = readJson(join(fixturesDir, name, 'problem.json')) ?? {};
  FAMILIES.push({
    family: `trained-${name}`,
    exact: info.exactFit !== false,
    fixture: join(fixturesDir, name),
    n: info.n,
    d: info.d,
    what:
      `bench/fixtures/layers/${name}: trained ${info.heads ?? 1}-head layer` +
      (info.exactFit === false
        ? ` (no exact single-head fit; the better recorded head alone, with its best Y: relative loss ${e1(Math.min(...(info.checks?.heads ?? []).map((h) => h.relLossThisHeadAlone ?? Infinity)))})`
        : ''),
  });
}
const wanted = (f) => FAMILY_FILTER.length === 0 || FAMILY_FILTER.some((x) => f === x || f.startsWith(`${x}-`));
const families = FAMILIES.filter((f) => wanted(f.family));
if (families.length === 0) {
  console.error(
    `coldstart.mjs: no family matches --families ${FAMILY_FILTER.join(',')} (have ${FAMILIES.map((f) => f.family).join(', ')})`,
  );
  process.exit(2);
}

/** Problem instances: planted families × DIMS × seeds; trained fixtures (d in DIMS) × solver seeds. */
const problems = [];
for (const f of families) {
  if (f.fixture) {
    if (!DIMS.includes(f.d)) continue;
    for (let s = 1; s <= SEEDS; s++)
      problems.push({ family: f.family, exact: f.exact, n: f.n, d: f.d, seed: s, dir: f.fixture, fixture: true });
  } else {
    for (const d of DIMS)
      for (let s = 1; s <= SEEDS; s++)
        problems.push({ family: f.family, exact: f.exact, n: N, d, seed: s, make: f.make });
  }
}

// ---------------------------------------------------------------------------------------------
// Budgets: warm-start solve time per size.

const work = mkdtempSync(join(tmpdir(), 'attnfit-coldstart-'));
if (!KEEP) process.on('exit', () => rmSync(work, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130)); // runs the clean-up above
const help = spawnSync(process.execPath, attnfitArgs('solve', '--help'), { cwd: repoDir, encoding: 'utf8' });
const HAS_BUDGET = /--budget\b/.test(help.stdout ?? '');
// Today's multi-start: with the search as default, --no-search asks for plain random starts.
const NO_SEARCH = /--no-search\b/.test(help.stdout ?? '') ? ['--no-search'] : [];
const torch = torchPython();
log(
  `coldstart: ${problems.length} problems in ${families.length} families, ${SEEDS} seeds, d ∈ {${DIMS.join(', ')}}, ${THREADS} threads; ` +
    `attnfit solve ${HAS_BUDGET ? 'has --budget' : 'has no --budget (default run stopped by SIGTERM at the budget)'}; torch ${torch ? `${torch.version} (${torch.py})` : argv.includes('--no-torch') ? 'off (--no-torch)' : 'not found'}; work dir ${work}`,
);

const budgets = new Map();
for (const key of [...new Set(problems.map((p) => `${p.n}x${p.d}`))]) {
  const [n, d] = key.split('x').map(Number);
  const dir = join(work, `warm-${key}`);
  generate(dir, n, d, 0, 2, 0.05);
  const secs = [],
    walls = [];
  for (let r = 0; r < 3; r++) {
    const res = await attnfitSolve(dir, join(dir, 'fit'), ['--x0', join(dir, 'X_warm.npy')], { limitS: 600 });
    if (res.status !== 'ok') {
      console.error(`coldstart.mjs: warm-start solve failed for n=${n} d=${d}: ${res.error}`);
      process.exit(1);
    }
    secs.push(res.seconds);
    walls.push(res.wallS - res.seconds);
  }
  const warm = stats(secs).median,
    startup = stats(walls).median;
  const budgetS = BUDGET_S ?? BUDGET_FACTOR * warm;
  budgets.set(key, { warmS: warm, startupS: startup, budgetS });
  log(
    `budget n=${n} d=${d}: warm-start solve ${fmt(warm, 2)} s (+ ${fmt(startup, 2)} s process start-up) → budget ${fmt(budgetS, 1)} s${BUDGET_S === undefined ? '' : ' (--budget-s)'}`,
  );
}

const perProblem = (b) => b * (2 + (torch ? 2 : 0)) + 8; // upper bound: every run uses B; ~8 s of process start-ups
const estimateS = problems.reduce((t, p) => t + perProblem(budgets.get(`${p.n}x${p.d}`).budgetS), 0);
log(`coldstart: at most ~${fmt(estimateS / 60, 1)} min for the runs (less when fits are found early)`);

// ---------------------------------------------------------------------------------------------
// Runs.

const SOLVER_KEYS = ['default', 'lbfgs', ...(torch ? ['torch-lbfgs', 'torch-adam'] : [])];
const results = [];
const shapes = new Map(); // family|d → attention shapes of the problems
const t0 = performance.now();
for (const [i, p] of problems.entries()) {
  const key = `${p.n}x${p.d}`;
  const { budgetS, startupS } = budgets.get(key);
  const dir = p.fixture ? p.dir : join(work, `${p.family}-d${p.d}-s${p.seed}`);
  const rec = { family: p.family, n: p.n, d: p.d, seed: p.seed, exact: p.exact, budgetS, runs: {} };
  try {
    if (!p.fixture) p.make(dir, p.d, p.seed);
    const sk = `${p.family}|${p.d}`;
    if (!shapes.has(sk)) shapes.set(sk, []);
    if (!p.fixture || shapes.get(sk).length === 0) {
      // a fixture is one problem: its shape once
      const shape = attentionShape(dir);
      if (shape) shapes.get(sk).push(shape);
      else if (p.fixture) {
        const h = readJson(join(dir, 'problem.json'))?.checks?.heads;
        if (h)
          shapes.get(sk).push({
            maxProb: stats(h.map((x) => x.maxProbMean)).median,
            entropy: stats(h.map((x) => x.entropyMean)).median,
          });
      }
    }
  } catch (e) {
    rec.error = `problem: ${e.message}`;
    for (const k of SOLVER_KEYS)
      rec.runs[k] = { status: 'failed', relLoss: null, seconds: null, error: rec.error, success: false };
    results.push(rec);
    log(`[${i + 1}/${problems.length}] ${p.family} d=${p.d} seed ${p.seed}: problem could not be made: ${e.message}`);
    continue;
  }
  const out = join(work, 'out');
  const seed = ['--seed', String(p.seed)];
  // A run still going at 2B + 60 s of wall time (start-up included) is a timeout: a failure.
  const limitS = 2 * budgetS + startupS + 60;
  rec.runs.default = HAS_BUDGET
    ? await attnfitSolve(dir, join(out, 'default'), [...seed, '--budget', String(budgetS)], { limitS })
    : await attnfitSolve(dir, join(out, 'default'), seed, { budgetS, limitS });
  rec.runs.lbfgs = await attnfitSolve(
    dir,
    join(out, 'lbfgs'),
    [
      ...seed,
      ...NO_SEARCH,
      '--method',
      'lbfgs',
      '--starts',
      String(LBFGS_STARTS),
      '--max-iter',
      String(LBFGS_MAX_ITER),
    ],
    { budgetS, limitS },
  );
  if (torch) {
    // Same wall time as the default run took (its solve seconds; torch's import and loading excluded).
    const tb = Math.max(0.5, Math.min(rec.runs.default.seconds ?? budgetS, 2 * budgetS));
    rec.torchBudgetS = tb;
    rec.runs['torch-lbfgs'] = await torchRun(torch.py, dir, 'lbfgs', tb, p.seed);
    rec.runs['torch-adam'] = await torchRun(torch.py, dir, 'adam', tb, p.seed);
  }
  for (const r of Object.values(rec.runs))
    r.success =
      p.exact && (r.status === 'ok' || r.status === 'budget-stop') && r.relLoss !== null && r.relLoss <= SUCCESS;
  results.push(rec);
  if (!p.fixture && !KEEP) rmSync(dir, { recursive: true, force: true });
  const cell = (r) =>
    r.status === 'ok' || r.status === 'budget-stop' ? `${e1(r.relLoss)} ${fmt(r.seconds, 1)} s` : r.status;
  log(
    `[${i + 1}/${problems.length}] ${p.family} d=${p.d} seed ${p.seed} (budget ${fmt(budgetS, 1)} s): ` +
      Object.entries(rec.runs)
        .map(([k, r]) => `${k} ${cell(r)}`)
        .join(', ') +
      `  [${fmt((performance.now() - t0) / 1000, 0)} s]`,
  );
}

// ---------------------------------------------------------------------------------------------
// Summary.

const SOLVERS = [
  ['default', `attnfit solve (default${HAS_BUDGET ? ', --budget B' : ', stopped at B'})`],
  [
    'lbfgs',
    `attnfit ${NO_SEARCH.length ? '--no-search ' : ''}--method lbfgs --starts ${LBFGS_STARTS} --max-iter ${LBFGS_MAX_ITER} (stopped at B)`,
  ],
  ...(torch
    ? [
        ['torch-lbfgs', 'PyTorch L-BFGS multi-start'],
        ['torch-adam', 'PyTorch Adam multi-start'],
      ]
    : []),
];
const groups = [];
for (const r of results) {
  const k = `${r.family}|${r.d}`;
  let g = groups.find((x) => x.key === k);
  if (!g) groups.push((g = { key: k, family: r.family, n: r.n, d: r.d, exact: r.exact, recs: [] }));
  g.recs.push(r);
}
const summary = groups.map((g) => {
  const s = {
    family: g.family,
    n: g.n,
    d: g.d,
    exact: g.exact,
    problems: g.recs.length,
    budgetS: g.recs[0].budgetS,
    attention: null,
    solvers: {},
  };
  const sh = shapes.get(`${g.family}|${g.d}`);
  if (sh?.length)
    s.attention = { maxProb: stats(sh.map((x) => x.maxProb)).median, entropy: stats(sh.map((x) => x.entropy)).median };
  for (const [k] of SOLVERS) {
    const runs = g.recs.map((r) => r.runs[k]).filter(Boolean);
    const ok = runs.filter(
      (r) => r.relLoss !== null && r.relLoss !== undefined && (r.status === 'ok' || r.status === 'budget-stop'),
    );
    s.solvers[k] = {
      runs: runs.length,
      failed: runs.length - ok.length,
      successes: runs.filter((r) => r.success).length,
      medianRelLoss: ok.length ? stats(ok.map((r) => r.relLoss)).median : null,
      bestRelLoss: ok.length ? Math.min(...ok.map((r) => r.relLoss)) : null,
      medianSeconds: ok.length ? stats(ok.map((r) => r.seconds)).median : null,
    };
  }
  return s;
});
const m = machine({
  gemm: gemmBackendDetail(),
  vexp: vexpBackend(),
  torch: torch ? `${torch.version} (${torch.py})` : null,
  threads: THREADS,
});
const cellMd = (s, exact) => {
  const failed = s.failed ? ` (${s.failed} failed)` : '';
  return `${exact ? `${s.successes}/${s.runs}` : '—'} · ${e1(s.medianRelLoss)} · ${s.medianSeconds === null ? '—' : `${fmt(s.medianSeconds, 1)} s`}${failed}`;
};
const md = [
  `### Fit from scratch: success (rel. loss ≤ ${SUCCESS}) · median best relative loss · median solve seconds`,
  '',
  table(
    ['family', 'n', 'd', 'exact fit', 'attention: mean max p / entropy', 'budget B s', ...SOLVERS.map(([, h]) => h)],
    summary.map((s) => [
      s.family,
      String(s.n),
      String(s.d),
      s.exact ? 'yes' : 'no',
      s.attention ? `${fmt(s.attention.maxProb, 2)} / ${fmt(s.attention.entropy, 2)}` : '—',
      fmt(s.budgetS, 1),
      ...SOLVERS.map(([k]) => cellMd(s.solvers[k], s.exact)),
    ]),
  ),
  '',
  ...families.map((f) => `- ${f.family}: ${f.what}`),
  `- ${SEEDS} seeds per row: planted families use problem seed k and solver seed k; trained layers are one problem solved with seeds 1…${SEEDS}.`,
  `- Budget B = ${BUDGET_S === undefined ? `${BUDGET_FACTOR} ×` : `${BUDGET_S} s (--budget-s); for comparison, 20 ×`} the warm-start solve time of that size (median of 3 \`attnfit solve P --x0 X_warm.npy\`, planted scale 2, --warm-noise 0.05): ` +
    [...budgets.entries()]
      .map(
        ([k, b]) =>
          `${k.replace('x', '×')}: ${fmt(b.warmS, 2)} s → ${fmt(BUDGET_S === undefined ? b.budgetS : 20 * b.warmS, 1)} s`,
      )
      .join('; ') +
    '.',
  `- attnfit default: ${HAS_BUDGET ? '`attnfit solve P --seed k --budget B` (no --x0: the global search)' : '`attnfit solve P --seed k` (no --budget option in this build: stopped with SIGTERM after B seconds of solving, best iterate kept)'}; ` +
    `L-BFGS: \`${NO_SEARCH.length ? '--no-search ' : ''}--method lbfgs --starts ${LBFGS_STARTS} --max-iter ${LBFGS_MAX_ITER}\` (today's random multi-start; more iterations per start than the default 50, which rarely reaches 1e-10) stopped with SIGTERM after B seconds of solving (report.json keeps the best start so far). Times are report.json "seconds" (solve time; process start-up excluded).`,
  torch
    ? `- PyTorch ${torch.version}: bench/torch_multistart.py, float64, Y by variable projection, ${TORCH_THREADS} threads, random starts at logit scales 0.5–8, with the solve time the default attnfit run took; stops at relative loss 1e-12.`
    : argv.includes('--no-torch')
      ? '- PyTorch comparison off (--no-torch).'
      : '- PyTorch not importable (tried BENCH_TORCH_PYTHON, /usr/bin/python3, python3): comparison skipped. Debian: apt-get install python3-torch.',
  '- Attention shape: mean over rows of max softmax probability and of entropy (nats; uniform = ln n) at the true X; multi-head: median over heads.',
  '',
  // machineMd's last line describes medians of repeated timings, which this benchmark does not do.
  machineMd(
    m,
    `- attnfit: local engine, default threads (${THREADS}); PyTorch: torch.set_num_threads(${TORCH_THREADS}); one run at a time`,
  )
    .split('\n')
    .filter((l) => !l.startsWith('- medians of'))
    .join('\n'),
  '- Medians over the problems (or solver seeds) of each row; a shared or loaded machine makes times noisy and shifts budgets: re-run on a quiet one.',
].join('\n');
const [jp, mp] = writeResults(
  `coldstart-${new Date().toISOString().replace(/[:.]/g, '-')}`,
  {
    machine: m,
    options: {
      quick,
      seeds: SEEDS,
      dims: DIMS,
      families: families.map((f) => f.family),
      budgetFactor: BUDGET_FACTOR,
      budgetS: BUDGET_S ?? null,
      lbfgsStarts: LBFGS_STARTS,
      lbfgsMaxIter: LBFGS_MAX_ITER,
      hasBudget: HAS_BUDGET,
      threads: THREADS,
      torchThreads: TORCH_THREADS,
    },
    budgets: Object.fromEntries(budgets),
    summary,
    results,
    seconds: (performance.now() - t0) / 1000,
  },
  md,
);
console.log(md);
log(`wrote ${jp} and ${mp} (${fmt((performance.now() - t0) / 1000, 0)} s)`);
