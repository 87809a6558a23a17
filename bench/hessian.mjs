#!/usr/bin/env node
// Hessian cost profile: where one exact-Newton iteration spends its time, and how close the
// Hessian assembly comes to the time its GEMM flops need.
//
//  1. Newton iteration through the local engine (createOracle(problem, { threads }): piscina
//     pool, block tasks, block-order reduce) on a planted problem (attnfit generate's
//     distribution, scale 2, warm start X_true + 0.05·N(0, 4)): one `newton` step from the same
//     point, repeated; each oracle call is timed and classified — Hessian evaluation
//     (hessXX + hessXY), projectY (normal equations), loss + ∇X; the rest of the step is the
//     coordinator's Schur complement and d²×d² solve (Cholesky, eigen-shift if indefinite).
//  2. One row block in this thread, per GEMM backend present: blockPartials with
//     { hessXX, hessXY } against { loss, gradX } (the same forward pass, P and P·A2); the
//     difference is the assembly (it also holds H = A3·Y, n·d² multiply-adds).
//  3. The assembly's GEMMs, recorded from the code (a recording GEMM backend during one block of
//     each kind; assembly = Hessian-call GEMMs minus gradient-call GEMMs), their flop count, and
//     each distinct shape timed on its own per backend → the "GEMM-only" time of the assembly and
//     the ratio assembly / GEMM-only (target ≤ 1.5).
//
//  4. With --rows-sweep 16,32,…: the Hessian block (hessXX + hessXY) timed at each block height m
//     (rows in the middle of the problem, default backend), ns per attention element (m·n), with
//     the key slabs as the plan has them (rebuilt per block when they exceed the per-thread cache)
//     and once with the cache forced on (setHessianSlabElements(2²³)): which of the two — thin
//     GEMMs or slab rebuilds — costs the large-n Hessian its speed.
//
// Usage: node bench/hessian.mjs [--n 8192] [--d 8,16] [--threads T] [--quick] [--no-engine] [--no-blocks]
//          [--rows-sweep 16,32,64,128]
//   (env BENCH_RUNS=N, ≥ 5; ATTNFIT_GEMM=wasm runs the engine part on WebAssembly).
// Prints markdown; writes bench/results/hessian-<backend>-t<T>.{json,md}.
import { availableParallelism } from 'node:os';
import '@attnfit/shared/native'; // same GEMM as the CLI and the engine's threads
import {
  dgemmBase,
  gemmBackend,
  gemmBackendDetail,
  gemmBackends,
  setGemmBackend,
  vexpBackend,
  wasmArray,
} from '@attnfit/shared/kernels';
import { blockPartials, defaultBlockRows, planBlocks, setHessianSlabElements } from '@attnfit/shared/math';
import { createOracle, shutdownEngine } from '@attnfit/coordinator';
import { Reduced } from '@attnfit/coordinator/internal';
import { newton } from '../coordinator/dist/solver/methods.js';
import { plantedProblem } from '../coordinator/dist/cli/commands/generate.js';
import { RUNS, fmt, machine, machineMd, stats, table, writeResults } from './lib/common.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : def;
};
const quick = argv.includes('--quick');
const N = Number(opt('--n', quick ? 2048 : 8192));
const DS = opt('--d', '8,16').split(',').map(Number);
const THREADS = Number(opt('--threads', availableParallelism()));
const noEngine = argv.includes('--no-engine');
const noBlocks = argv.includes('--no-blocks');
const ROWS_SWEEP = opt('--rows-sweep', '').split(',').filter(Boolean).map(Number);
const DEFAULT = gemmBackend();
const BACKENDS = ['native-blas', 'wasm-simd'].filter((b) => gemmBackends().includes(b));

const m0 = machine({ gemm: gemmBackendDetail(), vexp: vexpBackend(), numpy: 'not used' });
console.error(
  `hessian bench: ${m0.cpu}, ${m0.cores} cores, node ${m0.node}, gemm ${m0.gemm}, engine threads ${THREADS}, load ${m0.loadavg}`,
);
const loadNow = () => machine().loadavg;
/** Process CPU time in ms (user + system, every thread): unlike wall time, not inflated by other processes' load. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---------------------------------------------------------------------------------------------
// 1. Newton iteration through the engine
// ---------------------------------------------------------------------------------------------

const kindOf = (w) => (w.hessXX || w.hessXY ? 'hessian' : w.normal ? 'projectY' : w.gradX ? 'grad' : 'other');

/** The oracle with every evaluate() timed into `log`. */
function timedOracle(o, log) {
  return {
    n: o.n,
    d: o.d,
    bNorm2: o.bNorm2,
    keyMean: o.keyMean,
    gram: () => o.gram(),
    info: () => o.info(),
    close: () => o.close(),
    async evaluate(X, Y, want, opts) {
      const t0 = performance.now(),
        c0 = cpuMs();
      const r = await o.evaluate(X, Y, want, opts);
      log.push({ kind: kindOf(want), ms: performance.now() - t0, cpu: cpuMs() - c0 });
      return r;
    },
  };
}

async function newtonProfile(d) {
  const pp = plantedProblem(N, d, 7, 2, 0.05);
  const p = { n: N, d, A1: pp.A1, A2: pp.A2, A3: pp.A3, B: pp.B };
  const o = await createOracle(p, { threads: THREADS });
  const log = [];
  const red = await Reduced.create(timedOracle(o, log), 0);
  try {
    const pt = await red.point(pp.Xwarm, true);
    await newton(red).step(pt); // warm: tensors to threads, JIT, scratch
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      log.length = 0;
      const t0 = performance.now(),
        c0 = cpuMs();
      const r = await newton(red).step(pt);
      const total = performance.now() - t0,
        totalCpu = cpuMs() - c0;
      const sum = (k, f = 'ms') => log.filter((e) => e.kind === k).reduce((s, e) => s + e[f], 0);
      const count = (k) => log.filter((e) => e.kind === k).length;
      runs.push({
        total,
        totalCpu,
        hessian: sum('hessian'),
        hessianCpu: sum('hessian', 'cpu'),
        projectY: sum('projectY'),
        grad: sum('grad'),
        lsCpu: sum('grad', 'cpu') + sum('projectY', 'cpu'),
        lsEvals: count('grad'),
        solve: total - log.reduce((s, e) => s + e.ms, 0),
        solveCpu: totalCpu - log.reduce((s, e) => s + e.cpu, 0),
        step: r.step,
        relLoss: r.next.relLoss,
      });
    }
    const col = (k) => stats(runs.map((r) => r[k]));
    return {
      d,
      info: o.info(),
      relLoss0: pt.relLoss,
      relLoss1: runs[0].relLoss,
      step: runs[0].step,
      lsEvals: runs[0].lsEvals,
      total: col('total'),
      totalCpu: col('totalCpu'),
      hessian: col('hessian'),
      hessianCpu: col('hessianCpu'),
      lsCpu: col('lsCpu'),
      solveCpu: col('solveCpu'),
      projectY: col('projectY'),
      grad: col('grad'),
      solve: col('solve'),
      gradOne: stats(runs.map((r) => r.grad / r.lsEvals)),
    };
  } finally {
    await o.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2–3. One block in this thread; the assembly's GEMMs
// ---------------------------------------------------------------------------------------------

const HESS = { hessXX: true, hessXY: true };
const GRAD = { loss: true, gradX: true };

/** GEMM calls of one blockPartials call: the recording backend only records (shapes do not depend on values). */
function recordGemms(p, r0, r1, X, Y, want) {
  const calls = [];
  const resident = (a) => a.buffer instanceof SharedArrayBuffer;
  setGemmBackend('record', (tA, tB, M, Nn, K, alpha, A, oA, lda, B, oB, ldb, beta, C, oC, ldc) => {
    calls.push({ tA, tB, M, N: Nn, K, lda, ldb, ldc, beta, wA: resident(A), wB: resident(B), wC: resident(C) });
  });
  try {
    blockPartials(p, r0, r1, X, Y, want);
  } finally {
    setGemmBackend(DEFAULT);
  }
  return calls;
}

const sig = (c) =>
  `${c.tA ? 'T' : 'N'}${c.tB ? 'T' : 'N'} ${c.M}×${c.N}×${c.K} ld ${c.lda},${c.ldb},${c.ldc} β${c.beta ? 1 : 0} ${c.wA ? 'w' : '-'}${c.wB ? 'w' : '-'}${c.wC ? 'w' : '-'}`;

/** Multiset difference a − b of GEMM calls, grouped by signature: [{ call, count }]. */
function gemmDiff(a, b) {
  const cnt = new Map();
  for (const c of a) cnt.set(sig(c), { call: c, count: (cnt.get(sig(c))?.count ?? 0) + 1 });
  for (const c of b) {
    const e = cnt.get(sig(c));
    if (e) e.count--;
  }
  return [...cnt.values()].filter((e) => e.count > 0);
}

const flops = (c) => 2 * c.M * c.N * c.K;

const operands = new Map();
/** Median ms of one GEMM of the given shape on the active backend (operands resident where the code's were). */
function timeShape(c) {
  const rowsA = c.tA ? c.K : c.M,
    rowsB = c.tB ? c.N : c.K;
  const mk = (len, w) => {
    const key = `${len}:${w}`;
    let a = operands.get(key);
    if (!a) {
      a = w ? wasmArray(len) : new Float64Array(len); // regions in WebAssembly memory are never freed: reuse
      for (let i = 0; i < len; i++) a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
      operands.set(key, a);
    }
    return a;
  };
  const A = mk(rowsA * c.lda, c.wA),
    B = mk(rowsB * c.ldb, c.wB),
    C = mk(c.M * c.ldc, c.wC);
  const f = flops(c);
  const reps = Math.max(1, Math.min(200, Math.round(2e8 / Math.max(1, f)))); // ≥ ~0.2 GFLOP per sample
  const run = () => {
    for (let r = 0; r < reps; r++)
      dgemmBase(c.tA, c.tB, c.M, c.N, c.K, 1, A, 0, c.lda, B, 0, c.ldb, c.beta, C, 0, c.ldc);
  };
  run();
  const t = [],
    cs = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now(),
      c0 = cpuMs();
    run();
    t.push((performance.now() - t0) / reps);
    cs.push((cpuMs() - c0) / reps);
  }
  return { ms: stats(t).median, cpu: stats(cs).median };
}

function timeBlock(p, r0, r1, X, Y, want) {
  blockPartials(p, r0, r1, X, Y, want);
  const t = [],
    c = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now(),
      c0 = cpuMs();
    blockPartials(p, r0, r1, X, Y, want);
    t.push(performance.now() - t0);
    c.push(cpuMs() - c0);
  }
  return { ...stats(t), cpu: stats(c) };
}

function blockProfile(d) {
  const pp = plantedProblem(N, d, 7, 2, 0.05);
  const p = { n: N, d, A1: pp.A1, A2: pp.A2, A3: pp.A3, B: pp.B };
  const X = pp.Xwarm,
    Y = pp.Ytrue;
  const br = defaultBlockRows(N, d);
  const blocks = planBlocks(N, br);
  const [r0, r1] = blocks[blocks.length >> 1];
  const asm = gemmDiff(recordGemms(p, r0, r1, X, Y, HESS), recordGemms(p, r0, r1, X, Y, GRAD));
  const asmFlops = asm.reduce((s, e) => s + e.count * flops(e.call), 0);
  const perBackend = [];
  for (const b of BACKENDS) {
    setGemmBackend(b);
    try {
      const hess = timeBlock(p, r0, r1, X, Y, HESS),
        grad = timeBlock(p, r0, r1, X, Y, GRAD);
      // interleave once more and keep the lower median of each: a shared machine drifts
      const hess2 = timeBlock(p, r0, r1, X, Y, HESS),
        grad2 = timeBlock(p, r0, r1, X, Y, GRAD);
      const h = hess.cpu.median <= hess2.cpu.median ? hess : hess2,
        g = grad.cpu.median <= grad2.cpu.median ? grad : grad2;
      const shapes = asm.map((e) => ({ sig: sig(e.call), count: e.count, flops: flops(e.call), ...timeShape(e.call) }));
      const gemmOnly = shapes.reduce((s, e) => s + e.count * e.ms, 0),
        gemmOnlyCpu = shapes.reduce((s, e) => s + e.count * e.cpu, 0);
      const assembly = h.median - g.median,
        assemblyCpu = h.cpu.median - g.cpu.median;
      perBackend.push({
        backend: b === DEFAULT ? gemmBackendDetail() : b,
        hess: h,
        grad: g,
        assembly,
        assemblyCpu,
        gemmOnly,
        gemmOnlyCpu,
        gemmRate: asmFlops / gemmOnlyCpu / 1e6,
        ratio: assembly / gemmOnly,
        ratioCpu: assemblyCpu / gemmOnlyCpu,
        shapes,
      });
    } finally {
      setGemmBackend(DEFAULT);
    }
  }
  return { d, blockRows: br, blocks: blocks.length, m: r1 - r0, asmFlops, asm, perBackend };
}

// ---------------------------------------------------------------------------------------------

const engineRows = [],
  blockRows = [];
if (!noEngine) {
  for (const d of DS) {
    const r = await newtonProfile(d);
    engineRows.push({ ...r, load: loadNow() });
    console.error(
      `  engine d=${d}: step ${fmt(r.total.median)} ms wall / ${fmt(r.totalCpu.median)} ms cpu (Hessian ${fmt(r.hessian.median)} / ${fmt(r.hessianCpu.median)}; ${r.lsEvals} × (projectY + loss·∇X) ${fmt(r.projectY.median + r.grad.median)} / ${fmt(r.lsCpu.median)}; solve ${fmt(r.solve.median)} / ${fmt(r.solveCpu.median)})`,
    );
  }
  await shutdownEngine();
}
for (const d of noBlocks ? [] : DS) {
  const r = blockProfile(d);
  blockRows.push({ ...r, load: loadNow() });
  for (const b of r.perBackend)
    console.error(
      `  block d=${d} ${b.backend}: Hessian ${fmt(b.hess.cpu.median)} ms cpu, loss·∇X ${fmt(b.grad.cpu.median)}, assembly ${fmt(b.assemblyCpu)}, GEMM-only ${fmt(b.gemmOnlyCpu)} (${fmt(b.ratioCpu, 2)}×; wall ${fmt(b.ratio, 2)}×)`,
    );
}

const cell = (s) => `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
const wc = (w, c) => `${fmt(w)} / ${fmt(c)}`;
const md = [
  `## Hessian cost: one exact-Newton iteration at n = ${N} (engine threads ${THREADS}, gemm ${m0.gemm})`,
  '',
  machineMd(m0, `- engine threads ${THREADS} (one OpenBLAS thread per call); block profile in the main thread`),
  '- "wall / cpu": wall-clock ms and the process CPU ms (all threads) of the same runs; CPU time is not inflated by other processes on a shared machine.',
  '',
  ...(engineRows.length
    ? [
        '### Newton step through the engine (ms, median; step total with [min–max])',
        '',
        table(
          [
            'd',
            'blocks × rows',
            'step total wall',
            'step wall / cpu',
            'Hessian evaluation',
            'line search: evals × (projectY + loss·∇X)',
            'Schur + d²×d² solve',
            'relLoss before → after',
            'load after',
          ],
          engineRows.map((r) => [
            r.d,
            `${r.info.blocks} × ${r.info.blockRows}`,
            cell(r.total),
            wc(r.total.median, r.totalCpu.median),
            wc(r.hessian.median, r.hessianCpu.median),
            `${r.lsEvals} × → ${wc(r.projectY.median + r.grad.median, r.lsCpu.median)}`,
            wc(r.solve.median, r.solveCpu.median),
            `${r.relLoss0.toExponential(1)} → ${r.relLoss1.toExponential(1)}`,
            r.load,
          ]),
        ),
        '',
      ]
    : []),
  '### One row block in this thread (ms wall / cpu, medians); assembly = Hessian block − loss·∇X block',
  '',
  table(
    [
      'd',
      'rows',
      'backend',
      'Hessian block',
      'loss·∇X block',
      'assembly',
      'assembly GEMM GFLOP',
      'GEMM-only',
      'GEMM rate GFLOP/s (cpu)',
      'assembly / GEMM-only (wall, cpu)',
      'load after',
    ],
    blockRows.flatMap((r) =>
      r.perBackend.map((b) => [
        r.d,
        r.m,
        b.backend,
        wc(b.hess.median, b.hess.cpu.median),
        wc(b.grad.median, b.grad.cpu.median),
        wc(b.assembly, b.assemblyCpu),
        fmt(r.asmFlops / 1e9, 3),
        wc(b.gemmOnly, b.gemmOnlyCpu),
        fmt(b.gemmRate),
        `${fmt(b.ratio, 2)}×, ${fmt(b.ratioCpu, 2)}×`,
        r.load,
      ]),
    ),
  ),
  '',
  '### The assembly GEMMs per block (recorded; flops = 2·M·N·K; w = operand in WebAssembly memory; ms cpu each)',
  '',
  ...blockRows.flatMap((r) => [
    table(
      ['d', 'op M×N×K ld β', 'calls', 'MFLOP each', ...r.perBackend.map((b) => `${b.backend}`)],
      r.asm.map((e, i) => [
        r.d,
        sig(e.call),
        e.count,
        fmt(flops(e.call) / 1e6, 2),
        ...r.perBackend.map((b) => fmt(b.shapes[i].cpu, 3)),
      ]),
    ),
    '',
  ]),
].join('\n');

// ---------------------------------------------------------------------------------------------
// 4. Block-height sweep (--rows-sweep)
// ---------------------------------------------------------------------------------------------

const sweepRows = [];
/** Block time (ms) → ns per attention element of an m-row block. */
const nsPerElement = (ms, m) => fmt((ms * 1e6) / (m * N), 1);
for (const d of ROWS_SWEEP.length ? DS : []) {
  const pp = plantedProblem(N, d, 7, 2, 0.05);
  const p = { n: N, d, A1: pp.A1, A2: pp.A2, A3: pp.A3, B: pp.B };
  for (const m of ROWS_SWEEP) {
    const r0 = Math.max(0, Math.min(N - m, (N >> 1) - (m >> 1)));
    const plain = timeBlock(p, r0, r0 + m, pp.Xwarm, pp.Ytrue, HESS);
    const prev = setHessianSlabElements(1 << 23);
    let cached;
    try {
      cached = timeBlock(p, r0, r0 + m, pp.Xwarm, pp.Ytrue, HESS);
    } finally {
      setHessianSlabElements(prev);
    }
    sweepRows.push({ d, m, plain: plain.cpu.median, cached: cached.cpu.median, load: loadNow() });
    console.error(
      `rows sweep d=${d} m=${m}: ${nsPerElement(plain.cpu.median, m)} ns/element, slabs cached ${nsPerElement(cached.cpu.median, m)}`,
    );
  }
}
const sweepMd = sweepRows.length
  ? [
      '',
      `### Hessian block vs block height (n = ${N}, backend ${gemmBackend()}; cpu ms median, ns per attention element m·n)`,
      '',
      table(
        ['d', 'rows m', 'slabs as planned', 'slabs cached (2²³ budget)', 'load after'],
        sweepRows.map((r) => [
          r.d,
          r.m,
          `${fmt(r.plain, 1)} ms · ${nsPerElement(r.plain, r.m)} ns`,
          `${fmt(r.cached, 1)} ms · ${nsPerElement(r.cached, r.m)} ns`,
          r.load,
        ]),
      ),
      `(default block height at this n: ${DS.map((d) => `d = ${d}: ${defaultBlockRows(N, d)}`).join(', ')})`,
    ].join('\n')
  : '';
console.log(md + sweepMd);
const [jf, mf] = writeResults(
  `hessian-${gemmBackend()}-t${THREADS}`,
  { machine: m0, engineRows, blockRows, sweepRows },
  md + sweepMd,
);
console.error(`wrote ${jf} and ${mf}`);
