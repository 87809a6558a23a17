/**
 * The reduced (variable-projection) objective over an Oracle:
 *   f(X) = L(X, Y*(X)) + ½γ‖A1 X A2ᵀ‖²_F,   Y*(X) = (MᵀM + λI)⁻¹ MᵀB,  M = F A3,
 * its gradient ∇f = ∇_X L(X, Y*) + γ G1 X G2 (envelope theorem), its Hessian — the Schur
 * complement H_xx − H_xy H_yy⁻¹ H_yx (+ γ G1⊗G2) with H_yy = 2(MᵀM + λI) ⊗ I — and
 * reduced-Hessian-vector products (matrix-free, for newton-cg).
 */
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { dgemmBase } from '@attnfit/shared/kernels';
import { relLoss } from '@attnfit/shared/math';
import type { Oracle } from '../oracle/types.js';
import { RIDGE_REL } from './defaults.js';
import { cholesky, cholSolveInPlace, norm, transpose } from './linalg.js';

/** An evaluated point of the reduced objective. */
export interface Point {
  X: Float64Array;
  Y: Float64Array;
  loss: number;
  relLoss: number;
  objective: number;
  /** Reduced gradient (present when asked for). */
  g?: Float64Array;
  gradNorm: number;
  /** Cholesky factor of MᵀM + λI (d×d). */
  cholG: Float64Array;
}

function missing(what: string): AttnfitError {
  return new AttnfitError(ErrorCodes.INTERNAL, `oracle reply is missing ${what}`);
}

/** The reduced objective of one problem. Create with {@link Reduced.create}. */
export class Reduced {
  readonly d: number;
  readonly dd: number;
  readonly bNorm2: number;
  /** Scale of the gradient test: ‖B‖²_F, or 1 when B = 0. */
  readonly gradScale: number;
  /** Oracle evaluations so far. */
  evaluations = 0;
  private constructor(
    readonly oracle: Oracle,
    readonly gamma: number,
    private readonly signal: AbortSignal | undefined,
    private readonly G1: Float64Array | null,
    private readonly G2: Float64Array | null,
  ) {
    this.d = oracle.d;
    this.dd = oracle.d * oracle.d;
    this.bNorm2 = oracle.bNorm2;
    this.gradScale = oracle.bNorm2 > 0 ? oracle.bNorm2 : 1;
  }

  /** Build (fetches the Gram matrices when γ > 0). */
  static async create(oracle: Oracle, gamma: number, signal?: AbortSignal): Promise<Reduced> {
    if (gamma > 0) {
      const { G1, G2 } = await oracle.gram();
      return new Reduced(oracle, gamma, signal, G1, G2);
    }
    return new Reduced(oracle, gamma, signal, null, null);
  }

  private call(X: Float64Array, Y: Float64Array, want: Parameters<Oracle['evaluate']>[2]) {
    this.evaluations++;
    return this.oracle.evaluate(X, Y, want, this.signal ? { signal: this.signal } : {});
  }

  /** ½γ‖A1XA2ᵀ‖² = ½γ·Σ (G1 X G2)∘X and its gradient γ G1 X G2. */
  private reg(X: Float64Array): { value: number; grad: Float64Array } | null {
    if (!this.G1 || !this.G2) return null;
    const d = this.d;
    const T = new Float64Array(this.dd),
      Gx = new Float64Array(this.dd);
    dgemmBase(false, false, d, d, d, 1, this.G1, 0, d, X, 0, d, 0, T, 0, d);
    dgemmBase(false, false, d, d, d, 1, T, 0, d, this.G2, 0, d, 0, Gx, 0, d);
    let v = 0;
    for (let i = 0; i < this.dd; i++) {
      v += Gx[i]! * X[i]!;
      Gx[i]! *= this.gamma;
    }
    return { value: 0.5 * this.gamma * v, grad: Gx };
  }

  /** The same objective with its own evaluation counter (one per search candidate). */
  fork(): Reduced {
    return new Reduced(this.oracle, this.gamma, this.signal, this.G1, this.G2);
  }

  /** The same objective (γ, signal) over another oracle — the row-subset view for screening — with
   * its own evaluation counter. */
  async over(oracle: Oracle): Promise<Reduced> {
    return Reduced.create(oracle, this.gamma, this.signal);
  }

  /** The same objective without the abort signal (to evaluate the returned point after an interrupt). */
  unsignalled(): Reduced {
    return new Reduced(this.oracle, this.gamma, undefined, this.G1, this.G2);
  }

  /** Y*(X) from the normal equations (tiny relative ridge, raised if MᵀM is numerically singular). */
  async projectY(X: Float64Array): Promise<{ Y: Float64Array; cholG: Float64Array }> {
    const d = this.d;
    const zero = new Float64Array(this.dd);
    const p = await this.call(X, zero, { normal: true });
    if (!p.MtM || !p.MtB) throw missing('MtM/MtB');
    let tr = 0;
    for (let i = 0; i < d; i++) tr += p.MtM[i * d + i]!;
    let lam = RIDGE_REL * Math.max(tr / d, Number.MIN_VALUE);
    let L: Float64Array | null = null;
    for (let k = 0; k < 20 && !(L = cholesky(p.MtM, d, lam)); k++) lam *= 100;
    if (!L)
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        'normal equations MᵀM are not positive semidefinite (non-finite values?)',
      );
    const Y = Float64Array.from(p.MtB);
    cholSolveInPlace(L, d, Y, d);
    return { Y, cholG: L };
  }

  /** Evaluate f (and ∇f when `grad`) at X, with Y = Y*(X) (or a given Y when `fixedY`). */
  async point(X: Float64Array, grad: boolean, fixedY?: Float64Array): Promise<Point> {
    const { Y, cholG } = fixedY ? { Y: fixedY, cholG: new Float64Array(0) } : await this.projectY(X);
    const p = await this.call(X, Y, grad ? { loss: true, gradX: true } : { loss: true });
    if (p.loss === undefined) throw missing('loss');
    const r = this.reg(X);
    const out: Point = {
      X,
      Y,
      loss: p.loss,
      relLoss: relLoss(p.loss, this.bNorm2),
      objective: p.loss + (r ? r.value : 0),
      gradNorm: NaN,
      cholG,
    };
    if (grad) {
      if (!p.gradX) throw missing('gradX');
      const g = Float64Array.from(p.gradX);
      if (r) for (let i = 0; i < this.dd; i++) g[i]! += r.grad[i]!;
      out.g = g;
      out.gradNorm = norm(g);
    }
    return out;
  }

  /** W = H_yy⁻¹ vec(V) = ½ (MᵀM + λI)⁻¹ V  (H_yy = 2(MᵀM+λI) ⊗ I in row-major vec(Y)). */
  private applyHyyInv(pt: Point, V: Float64Array, cols: number): Float64Array {
    const W = Float64Array.from(V);
    cholSolveInPlace(pt.cholG, this.d, W, cols);
    for (let i = 0; i < W.length; i++) W[i]! *= 0.5;
    return W;
  }

  /** The reduced Hessian S (d²×d², symmetric), exact: H_xx − H_xy H_yy⁻¹ H_yx + γ G1⊗G2. */
  async hessian(pt: Point): Promise<Float64Array> {
    const d = this.d,
      N = this.dd;
    const p = await this.call(pt.X, pt.Y, { hessXX: true, hessXY: true });
    if (!p.hessXX || !p.hessXY) throw missing('hessXX/hessXY');
    // Z = H_yx = H_xyᵀ (rows vec(Y) = a·d + b): as a d × (d·N) matrix, row a. K = H_yy⁻¹ Z.
    const K = this.applyHyyInv(pt, transpose(p.hessXY, N, N), d * N);
    const S = Float64Array.from(p.hessXX);
    dgemmBase(false, false, N, N, N, -1, p.hessXY, 0, N, K, 0, N, 1, S, 0, N);
    if (this.G1 && this.G2) {
      const g = this.gamma,
        G1 = this.G1,
        G2 = this.G2;
      for (let a = 0; a < d; a++)
        for (let b = 0; b < d; b++)
          for (let c = 0; c < d; c++)
            for (let e = 0; e < d; e++) {
              S[(a * d + b) * N + c * d + e]! += g * G1[a * d + c]! * G2[b * d + e]!;
            }
    }
    for (let i = 0; i < N; i++)
      for (let j = 0; j < i; j++) {
        // symmetrise
        const m = 0.5 * (S[i * N + j]! + S[j * N + i]!);
        S[i * N + j] = m;
        S[j * N + i] = m;
      }
    return S;
  }

  /** Reduced-Hessian-vector product S·vec(V), matrix-free (two oracle calls). */
  async hvp(pt: Point, V: Float64Array): Promise<Float64Array> {
    const d = this.d;
    const p1 = await this.call(pt.X, pt.Y, { hvpX: V, mixedYX: V });
    if (!p1.hvpX || !p1.mixedYX) throw missing('hvpX/mixedYX');
    const W = this.applyHyyInv(pt, p1.mixedYX, d);
    const p2 = await this.call(pt.X, pt.Y, { mixedXY: W });
    if (!p2.mixedXY) throw missing('mixedXY');
    const out = new Float64Array(this.dd);
    for (let i = 0; i < this.dd; i++) out[i] = p1.hvpX[i]! - p2.mixedXY[i]!;
    if (this.G1 && this.G2) {
      const T = new Float64Array(this.dd);
      dgemmBase(false, false, d, d, d, 1, this.G1, 0, d, V, 0, d, 0, T, 0, d);
      dgemmBase(false, false, d, d, d, this.gamma, T, 0, d, this.G2, 0, d, 1, out, 0, d);
    }
    return out;
  }
}
