/**
 * An independent, deliberately plain reference for the attention-regression math (nested loops,
 * explicit S, F, C and per-row n×n matrices). Shares no code with @attnfit/shared/math; used only
 * as a test oracle on small problems.
 */
import { rng, randMatrix } from '../helpers/rng.js';

export interface NaiveProblem {
  n: number;
  d: number;
  A1: Float64Array;
  A2: Float64Array;
  A3: Float64Array;
  B: Float64Array;
}

/** Stable softmax of one row. */
export function naiveSoftmax(row: number[]): number[] {
  const mx = Math.max(...row);
  const e = row.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export interface NaiveForward {
  S: number[][];
  F: number[][];
  H: number[][];
  FH: number[][];
  C: number[][];
  loss: number;
}

export function naiveForward(p: NaiveProblem, X: ArrayLike<number>, Y: ArrayLike<number>): NaiveForward {
  const { n, d, A1, A2, A3, B } = p;
  const S: number[][] = [],
    F: number[][] = [],
    H: number[][] = [],
    FH: number[][] = [],
    C: number[][] = [];
  for (let j = 0; j < n; j++) {
    const row: number[] = [];
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) s += A1[j * d + a]! * X[a * d + b]! * A2[k * d + b]!;
      row.push(s);
    }
    S.push(row);
    F.push(naiveSoftmax(row));
  }
  for (let k = 0; k < n; k++) {
    const h: number[] = [];
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += A3[k * d + c]! * Y[c * d + e]!;
      h.push(s);
    }
    H.push(h);
  }
  let loss = 0;
  for (let j = 0; j < n; j++) {
    const fh: number[] = [],
      c: number[] = [];
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += F[j]![k]! * H[k]![e]!;
      fh.push(s);
      c.push(s - B[j * d + e]!);
      loss += (s - B[j * d + e]!) ** 2;
    }
    FH.push(fh);
    C.push(c);
  }
  return { S, F, H, FH, C, loss };
}

/** ∇_X L and ∇_Y L, from dL/dS_jk = 2 p_jk with p_j = J_j (H c_j), J_j = diag f − f fᵀ. */
export function naiveGrad(
  p: NaiveProblem,
  X: ArrayLike<number>,
  Y: ArrayLike<number>,
): { gX: Float64Array; gY: Float64Array; P: number[][] } {
  const { n, d, A1, A2, A3 } = p;
  const fw = naiveForward(p, X, Y);
  const P: number[][] = [];
  for (let j = 0; j < n; j++) {
    const f = fw.F[j]!,
      q = fw.H.map((h) => h.reduce((s, v, e) => s + v * fw.C[j]![e]!, 0));
    const row: number[] = [];
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += ((k === l ? f[k]! : 0) - f[k]! * f[l]!) * q[l]!;
      row.push(s);
    }
    P.push(row);
  }
  const gX = new Float64Array(d * d),
    gY = new Float64Array(d * d);
  for (let a = 0; a < d; a++)
    for (let b = 0; b < d; b++) {
      let s = 0;
      for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) s += A1[j * d + a]! * P[j]![k]! * A2[k * d + b]!;
      gX[a * d + b] = 2 * s;
    }
  // ∇_Y L [c,e] = 2 Σ_j Σ_k F_jk A3[k,c] C[j,e]
  for (let c = 0; c < d; c++)
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) s += fw.F[j]![k]! * A3[k * d + c]! * fw.C[j]![e]!;
      gY[c * d + e] = 2 * s;
    }
  return { gX, gY, P };
}

/** MᵀM and MᵀB with M = F A3. */
export function naiveNormal(
  p: NaiveProblem,
  X: ArrayLike<number>,
  Y: ArrayLike<number>,
): { MtM: Float64Array; MtB: Float64Array } {
  const { n, d, A3, B } = p;
  const fw = naiveForward(p, X, Y);
  const M: number[][] = [];
  for (let j = 0; j < n; j++) {
    const r: number[] = [];
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += fw.F[j]![k]! * A3[k * d + c]!;
      r.push(s);
    }
    M.push(r);
  }
  const MtM = new Float64Array(d * d),
    MtB = new Float64Array(d * d);
  for (let a = 0; a < d; a++)
    for (let b = 0; b < d; b++) {
      let s = 0,
        t = 0;
      for (let j = 0; j < n; j++) {
        s += M[j]![a]! * M[j]![b]!;
        t += M[j]![a]! * B[j * d + b]!;
      }
      MtM[a * d + b] = s;
      MtB[a * d + b] = t;
    }
  return { MtM, MtB };
}

/**
 * ∇²_x L by the explicit Kronecker formula with an explicit n×n matrix per row:
 * 2 Σ_j (a_j a_jᵀ) ⊗ (A2ᵀ M_j A2), M_j = W Wᵀ + diag(p) − p fᵀ − f pᵀ, W = J_j H.
 */
export function naiveHessXX(p: NaiveProblem, X: ArrayLike<number>, Y: ArrayLike<number>): Float64Array {
  const { n, d, A1, A2 } = p;
  const fw = naiveForward(p, X, Y);
  const { P } = naiveGrad(p, X, Y);
  const dd = d * d,
    Hs = new Float64Array(dd * dd);
  for (let j = 0; j < n; j++) {
    const f = fw.F[j]!,
      pj = P[j]!;
    const W: number[][] = [];
    for (let k = 0; k < n; k++) {
      const r: number[] = [];
      for (let e = 0; e < d; e++) {
        let s = 0;
        for (let l = 0; l < n; l++) s += ((k === l ? f[k]! : 0) - f[k]! * f[l]!) * fw.H[l]![e]!;
        r.push(s);
      }
      W.push(r);
    }
    const Mj: number[][] = [];
    for (let k = 0; k < n; k++) {
      const r: number[] = [];
      for (let l = 0; l < n; l++) {
        let s = 0;
        for (let e = 0; e < d; e++) s += W[k]![e]! * W[l]![e]!;
        s += (k === l ? pj[k]! : 0) - pj[k]! * f[l]! - f[k]! * pj[l]!;
        r.push(s);
      }
      Mj.push(r);
    }
    // K = A2ᵀ M_j A2
    const K: number[][] = [];
    for (let b = 0; b < d; b++) {
      const r: number[] = [];
      for (let b2 = 0; b2 < d; b2++) {
        let s = 0;
        for (let k = 0; k < n; k++) for (let l = 0; l < n; l++) s += A2[k * d + b]! * Mj[k]![l]! * A2[l * d + b2]!;
        r.push(s);
      }
      K.push(r);
    }
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++)
        for (let a2 = 0; a2 < d; a2++)
          for (let b2 = 0; b2 < d; b2++) {
            Hs[(a * d + b) * dd + a2 * d + b2] += 2 * A1[j * d + a]! * A1[j * d + a2]! * K[b]![b2]!;
          }
  }
  return Hs;
}

/** A random problem; `logitScale` rescales X so that max |A1 X A2ᵀ| equals it. */
export function randomInstance(seed: number, n: number, d: number, opts: { logitScale?: number; tied?: boolean } = {}) {
  const r = rng(seed);
  const A1 = randMatrix(r, n, d);
  const A2 = opts.tied ? A1 : randMatrix(r, n, d);
  const A3 = opts.tied ? A1 : randMatrix(r, n, d);
  const B = randMatrix(r, n, d);
  const X = randMatrix(r, d, d, 0.5);
  const Y = randMatrix(r, d, d);
  if (opts.logitScale !== undefined) {
    let mx = 0;
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++) {
        let s = 0;
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) s += A1[j * d + a]! * X[a * d + b]! * A2[k * d + b]!;
        mx = Math.max(mx, Math.abs(s));
      }
    for (let i = 0; i < X.length; i++) X[i] *= opts.logitScale / mx;
  }
  return { p: { n, d, A1, A2, A3, B }, X, Y, r };
}

/** max |a − b| / max(1e-300, max |b|): purely relative to the reference's scale. */
export function relMax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 1e-300;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** Fourth-order central difference of a vector-valued f along t: (8(f(h)−f(−h)) − (f(2h)−f(−2h))) / 12h. */
export function fd4(f: (t: number) => ArrayLike<number>, h: number): Float64Array {
  const p1 = f(h),
    m1 = f(-h),
    p2 = f(2 * h),
    m2 = f(-2 * h);
  const out = new Float64Array(p1.length);
  for (let i = 0; i < out.length; i++) out[i] = (8 * (p1[i]! - m1[i]!) - (p2[i]! - m2[i]!)) / (12 * h);
  return out;
}
