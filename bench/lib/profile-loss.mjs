#!/usr/bin/env node
// Profiling driver (not a benchmark): repeats one-thread evaluateProblem for loss + ∇X + ∇Y at
// n, d given on the command line, for `node --cpu-prof bench/lib/profile-loss.mjs 4096 64 10`.
// Prints the per-iteration median in ms.
import '@attnfit/shared/native'; // same kernels as the CLI: native BLAS when built, else WebAssembly FMA
import { evaluateProblem } from '@attnfit/shared/math';
import { gemmBackendDetail } from '@attnfit/shared/kernels';
import { randn, timeMs } from './common.mjs';

const n = Number(process.argv[2] ?? 4096),
  d = Number(process.argv[3] ?? 16),
  reps = Number(process.argv[4] ?? 10);
const p = { n, d, A1: randn(n * d, 1), A2: randn(n * d, 2), A3: randn(n * d, 3), B: randn(n * d, 4) };
const X = randn(d * d, 5, 1 / d),
  Y = randn(d * d, 6);
const s = timeMs(() => evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true }), Math.max(5, reps), 2);
const r = evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true });
console.log(
  JSON.stringify({
    n,
    d,
    gemm: gemmBackendDetail(),
    medianMs: +s.median.toFixed(1),
    minMs: +s.min.toFixed(1),
    loss: r.loss,
    gX0: r.gradX[0],
    gY0: r.gradY[0],
  }),
);
