/**
 * Test fixtures for the solver: planted problems built with plain loops (independent of the
 * library's math), and a naive loss for independent checks of returned X, Y.
 */
import { randMatrix, randn, rng } from '../helpers/rng.js';

export interface Planted {
  n: number;
  d: number;
  A1: Float64Array;
  A2: Float64Array;
  A3: Float64Array;
  B: Float64Array;
  Xtrue: Float64Array;
  Ytrue: Float64Array;
}

/** softmax_rows(A1 X A2ᵀ) A3 Y with plain loops (row max subtracted). */
export function naiveForward(
  n: number,
  d: number,
  A1: Float64Array,
  A2: Float64Array,
  A3: Float64Array,
  X: Float64Array,
  Y: Float64Array,
): Float64Array {
  const K = new Float64Array(n * d); // A2 Xᵀ: K[j, a] = Σ_b A2[j,b] X[a,b]
  for (let j = 0; j < n; j++)
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += A2[j * d + b]! * X[a * d + b]!;
      K[j * d + a] = s;
    }
  const H = new Float64Array(n * d); // A3 Y
  for (let j = 0; j < n; j++)
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += A3[j * d + b]! * Y[b * d + c]!;
      H[j * d + c] = s;
    }
  const out = new Float64Array(n * d),
    row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += A1[i * d + a]! * K[j * d + a]!;
      row[j] = s;
      if (s > mx) mx = s;
    }
    let z = 0;
    for (let j = 0; j < n; j++) {
      row[j] = Math.exp(row[j]! - mx);
      z += row[j]!;
    }
    for (let j = 0; j < n; j++) {
      const f = row[j]! / z;
      for (let c = 0; c < d; c++) out[i * d + c]! += f * H[j * d + c]!;
    }
  }
  return out;
}

/** L(X, Y) = ‖softmax(A1 X A2ᵀ) A3 Y − B‖²_F with plain loops. */
export function naiveLoss(p: Planted, X: Float64Array, Y: Float64Array): number {
  const F = naiveForward(p.n, p.d, p.A1, p.A2, p.A3, X, Y);
  let s = 0;
  for (let i = 0; i < F.length; i++) {
    const r = F[i]! - p.B[i]!;
    s += r * r;
  }
  return s;
}

/** ‖B‖²_F. */
export function norm2(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
}

/** A planted problem: A ~ N(0, 1/d), X* ~ N(0, scale²), Y* ~ N(0, 1), B = forward(X*, Y*). */
export function planted(n: number, d: number, seed: number, scale = 1): Planted {
  const r = rng(seed);
  const sa = 1 / Math.sqrt(d);
  const A1 = randMatrix(r, n, d, sa),
    A2 = randMatrix(r, n, d, sa),
    A3 = randMatrix(r, n, d, sa);
  const Xtrue = randMatrix(r, d, d, scale),
    Ytrue = randMatrix(r, d, d, 1);
  const B = naiveForward(n, d, A1, A2, A3, Xtrue, Ytrue);
  return { n, d, A1, A2, A3, B, Xtrue, Ytrue };
}

/** X* + eps·N(0, 1) noise (seeded). */
export function perturbed(X: Float64Array, eps: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from(X, (v) => v + eps * randn(r));
}

/** A planted self-attention problem: A1 = A2 = A3 = A ~ N(0, 1/d), the given X*, Y* ~ N(0, 1). */
export function plantedSelf(n: number, d: number, seed: number, Xtrue: Float64Array): Planted {
  const r = rng(seed);
  const A = randMatrix(r, n, d, 1 / Math.sqrt(d));
  const Ytrue = randMatrix(r, d, d, 1);
  return { n, d, A1: A, A2: A, A3: A, B: naiveForward(n, d, A, A, A, Xtrue, Ytrue), Xtrue, Ytrue };
}
