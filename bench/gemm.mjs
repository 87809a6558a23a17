#!/usr/bin/env node
// GEMM benchmark: GFLOP/s (2·M·N·K / time) per shape for attnfit's backends (wasm-simd, packed
// ts, reference ts-ref on small shapes, native-blas when built) and numpy (when python3 + numpy are present), one
// thread. Prints a markdown table (median of ≥ 5 runs, min–max) and writes
// bench/results/gemm.{json,md}.  Usage: node bench/gemm.mjs   (env BENCH_RUNS=N)
import {
  dgemmBase,
  gemmBackend,
  gemmBackends,
  setGemmBackend,
  vexp,
  vexpBackend,
  wasmGemmVariants,
  setWasmGemmVariant,
  wasmGemmVariant,
  gemmBackendDetail,
  wasmArray,
  setExpKernel,
} from '@attnfit/shared/kernels';
import { nativeBlasStatus } from '@attnfit/shared/native';
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
} from './lib/common.mjs';

const n = 4096;
/** [label, M, N, K, transA, transB] — squares, then the products of one loss+gradient evaluation. */
const SHAPES = [
  ['square 256³', 256, 256, 256, false, false],
  ['square 512³', 512, 512, 512, false, false],
  ['square 1024³', 1024, 1024, 1024, false, false],
  ...[16, 64].flatMap((d) => [
    [`S = T·A2ᵀ  n×n×d, d=${d}`, n, n, d, false, true],
    [`F·H  n×d×n, d=${d}`, n, d, n, false, false],
    [`A1ᵀ·(P·A2)  d×d×n, d=${d}`, d, d, n, true, false],
  ]),
];
const REF_MAX_MNK = 512 ** 3;

const nat = nativeBlasStatus();
const defaultBackend = gemmBackend();
// Columns: each WebAssembly variant (relaxed-SIMD FMA, plain mul+add), the FMA variant again with A
// and C allocated in the kernels' memory (wasmArray: read and written in place, as the loss's block
// buffers are), the packed TS kernel, the reference, native BLAS when built.
// A column is [label, backend, wasm variant, operands in wasm memory].
const defaultVariant = wasmGemmVariant();
const defaultDetail = gemmBackendDetail();
const columns = [
  ...wasmGemmVariants().map((v) => [`wasm-simd ${v === 'fma' ? 'FMA' : 'mul+add'}`, 'wasm-simd', v, false]),
  ...wasmGemmVariants()
    .slice(0, 1)
    .map((v) => [`wasm-simd ${v === 'fma' ? 'FMA' : 'mul+add'}, in wasm memory`, 'wasm-simd', v, true]),
  ...['ts', 'ts-ref', 'native-blas'].filter((b) => gemmBackends().includes(b)).map((b) => [b, b, null, false]),
];
const backends = columns.map(([label]) => label);
const np = numpyInfo();
const m = machine({
  gemm: `${backends.join(', ')} (default here: ${defaultDetail})`,
  vexp: vexpBackend(),
  numpy: np?.numpy ?? null,
  nativeBlas: nat.loaded ? nat.config : `absent: ${nat.reason}`,
});
console.error(
  `gemm bench: ${m.cpu}, ${m.cores} cores, node ${m.node}, backend ${m.gemm}, numpy ${m.numpy ?? 'absent'}`,
);

const results = [];
for (const [label, M, N, K, tA, tB] of SHAPES) {
  const A = randn(M * K, 1),
    B = randn(K * N, 2),
    C = new Float64Array(M * N);
  const Ar = wasmArray(A.length),
    Cr = wasmArray(C.length);
  Ar.set(A);
  const lda = tA ? M : K,
    ldb = tB ? K : N,
    flops = 2 * M * N * K;
  const row = { label, M, N, K, transA: tA, transB: tB, gflops: {} };
  for (const [name, backend, variant, inMem] of columns) {
    if (backend === 'ts-ref' && M * N * K > REF_MAX_MNK) continue;
    setGemmBackend(backend);
    if (variant) setWasmGemmVariant(variant);
    // small products: several calls per timed sample (≥ ~5·10⁷ multiply-adds) and more warm-up,
    // so JIT tier-up and timer resolution do not dominate; times are per call
    const inner = Math.max(1, Math.round(5e7 / (M * N * K)));
    const [a, c] = inMem ? [Ar, Cr] : [A, C];
    const s0 = timeMs(
      () => {
        for (let i = 0; i < inner; i++) dgemmBase(tA, tB, M, N, K, 1, a, 0, lda, B, 0, ldb, 0, c, 0, N);
      },
      RUNS,
      inner > 1 ? 3 : 1,
    );
    const s = { median: s0.median / inner, min: s0.min / inner, max: s0.max / inner, runs: s0.runs };
    row.gflops[name] = { median: flops / s.median / 1e6, min: flops / s.max / 1e6, max: flops / s.min / 1e6, ms: s };
    console.error(`  ${label.padEnd(28)} ${name.padEnd(9)} ${fmt(row.gflops[name].median, 2)} GFLOP/s`);
  }
  results.push(row);
}
// exp throughput (G exp/s) on softmax-range inputs x ∈ [−30, 0]
const EXP_N = 1 << 20;
const xs = randn(EXP_N, 3).map((v) => -Math.abs(v) * 10),
  ys = new Float64Array(EXP_N);
const expRows = [];
if (vexpBackend() === 'native') {
  // the addon's exp (native backend active), then the WebAssembly one
  expRows.push(['attnfit exp, native addon', timeMs(() => vexp(xs, 0, EXP_N, ys, 0), RUNS, 3)]);
  setExpKernel(null);
}
const xr = wasmArray(EXP_N),
  yr = wasmArray(EXP_N);
xr.set(xs);
expRows.push(
  ['attnfit vexp, WebAssembly', timeMs(() => vexp(xs, 0, EXP_N, ys, 0), RUNS, 3)],
  ['attnfit vexp, WebAssembly, in wasm memory', timeMs(() => vexp(xr, 0, EXP_N, yr, 0), RUNS, 3)],
  [
    'Math.exp loop',
    timeMs(
      () => {
        for (let i = 0; i < EXP_N; i++) ys[i] = Math.exp(xs[i]);
      },
      RUNS,
      3,
    ),
  ],
);
if (np) expRows.push(['numpy exp', stats(runPython('numpy_gemm.py', [String(RUNS), '', String(EXP_N)]).exp_ms)]);
const gexp = (s) => ({ median: EXP_N / s.median / 1e6, min: EXP_N / s.max / 1e6, max: EXP_N / s.min / 1e6 });
if (np) {
  const spec = SHAPES.map(([, M, N, K, tA, tB]) => [M, N, K, +tA, +tB].join(',')).join(';');
  const py = runPython('numpy_gemm.py', [String(RUNS), spec]);
  py.results.forEach((r, i) => {
    const s = stats(r.ms),
      flops = 2 * SHAPES[i][1] * SHAPES[i][2] * SHAPES[i][3];
    results[i].gflops.numpy = {
      median: flops / s.median / 1e6,
      min: flops / s.max / 1e6,
      max: flops / s.min / 1e6,
      ms: s,
    };
  });
}

setGemmBackend(defaultBackend);
if (defaultVariant) setWasmGemmVariant(defaultVariant);
const cols = [...backends, ...(np ? ['numpy'] : [])];
const cell = (g) => (g ? `${fmt(g.median, 2)} (${fmt(g.min, 1)}–${fmt(g.max, 1)})` : '—');
const md = [
  '## GEMM, GFLOP/s (float64, one thread)',
  '',
  machineMd(m),
  '',
  table(
    ['shape (M×N×K)', ...cols],
    results.map((r) => [
      `${r.label} (${r.M}×${r.N}×${r.K}${r.transA ? ' Aᵀ' : ''}${r.transB ? ' Bᵀ' : ''})`,
      ...cols.map((c) => cell(r.gflops[c])),
    ]),
  ),
  '',
  `ts-ref (the reference kernel / test oracle) is timed only up to ${REF_MAX_MNK} multiply-adds.`,
  `native-blas: ${nat.loaded ? `${nat.config} (OPENBLAS_CORETYPE as in this environment${process.env.OPENBLAS_CORETYPE ? `: ${process.env.OPENBLAS_CORETYPE}` : ''})` : `not measured (${nat.reason})`}.`,
  '',
  `## exp, G exp/s (${EXP_N} values in [−30, 0], one thread)`,
  '',
  table(
    ['kernel', 'G exp/s'],
    expRows.map(([name, s]) => [name, `${fmt(gexp(s).median, 3)} (${fmt(gexp(s).min, 3)}–${fmt(gexp(s).max, 3)})`]),
  ),
].join('\n');
console.log(md);
const [j] = writeResults(
  'gemm',
  { machine: m, runs: RUNS, results, exp: expRows.map(([name, s]) => ({ name, ms: s, gexps: gexp(s) })) },
  md,
);
console.error(`wrote ${j} (+ .md)`);
