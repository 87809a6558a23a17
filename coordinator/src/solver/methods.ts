/**
 * One step of each method on the reduced objective f(X) (Y = Y*(X) exact at every point).
 * Every method only accepts points that do not increase f, so histories are monotone.
 * Method state that is not derivable from X lives in a {@link MethodState} (checkpointed).
 */
import { ADAM, ARMIJO_C1, LBFGS_MEMORY, MAX_BACKTRACK, TR_RADIUS0, TR_RADIUS_MAX } from './defaults.js';
import { symEigMin } from '@attnfit/shared/kernels';
import { axpy, cholesky, cholSolveInPlace, dot, meanDiag, norm } from './linalg.js';
import type { Point, Reduced } from './reduced.js';
import type { MethodState, SolveMethod } from './types.js';

/** Outcome of one step. */
export interface StepResult {
  next: Point;
  /** Step length (line search) or step norm (trust region / adam). */
  step: number;
  stalled: boolean;
}

/** A method: steps from a point with a gradient, carrying its own state. */
export interface Method {
  step(pt: Point): Promise<StepResult>;
  state(): MethodState;
}

/** Backtracking Armijo line search along p from pt (gᵀp < 0). Null when no decrease is found. */
async function armijo(red: Reduced, pt: Point, p: Float64Array, t0 = 1): Promise<{ next: Point; t: number } | null> {
  const gp = dot(pt.g!, p);
  let t = t0;
  for (let k = 0; k < MAX_BACKTRACK; k++, t *= 0.5) {
    const next = await red.point(axpy(pt.X, t, p), true);
    if (Number.isFinite(next.objective) && next.objective <= pt.objective + ARMIJO_C1 * t * gp) return { next, t };
  }
  return null;
}

/**
 * Newton on the reduced objective with the exact Schur-complement Hessian S, eigen-shift /
 * Levenberg–Marquardt damping and Armijo backtracking: the step solves (S + τI)p = −∇f with
 * τ = μ when S + μI is positive definite (Cholesky), else τ = −λ_min(S) + max(μ, 1e-8·scale)
 * (scale = mean |diag S|). μ shrinks 10× after a full step (to 0 below 1e-14·scale) and grows
 * to max(10τ, 1e-8·scale) after a shortened one; μ is kept in the record for resume.
 */
export function newton(red: Reduced, init: MethodState = {}): Method {
  let mu = init.damping ?? 0;
  return {
    state: () => ({ damping: mu }),
    async step(pt) {
      const N = red.dd;
      const S = await red.hessian(pt);
      const scale = Math.max(meanDiag(S, N), Number.MIN_VALUE);
      let tau = mu;
      let L = cholesky(S, N, tau);
      if (!L) {
        // Indefinite (or too weakly damped): eigen-shift past the most negative eigenvalue.
        let lmin = NaN;
        try {
          lmin = symEigMin(N, S);
        } catch {
          /* non-finite S: fall through to the 10× ladder */
        }
        if (Number.isFinite(lmin)) {
          tau = Math.max(tau, -lmin + Math.max(mu, 1e-8 * scale));
          L = cholesky(S, N, tau);
        }
      }
      for (let k = 0; !L && k < 60; k++) {
        tau = tau === 0 ? 1e-10 * scale : tau * 10;
        L = cholesky(S, N, tau);
      }
      let p: Float64Array;
      if (L) {
        p = Float64Array.from(pt.g!, (v) => -v);
        cholSolveInPlace(L, N, p, 1);
        if (!(dot(p, pt.g!) < 0)) p = Float64Array.from(pt.g!, (v) => -v / scale);
      } else {
        p = Float64Array.from(pt.g!, (v) => -v / scale);
      }
      const ls = await armijo(red, pt, p);
      if (!ls) {
        mu = Math.max(tau * 10, 1e-8 * scale);
        return { next: pt, step: 0, stalled: true };
      }
      if (ls.t === 1) mu = tau / 10 < 1e-14 * scale ? 0 : tau / 10;
      else mu = Math.max(tau * 10, 1e-8 * scale);
      return { next: ls.next, step: ls.t, stalled: false };
    },
  };
}

/**
 * Truncated Newton (newton-cg): Steihaug–Toint conjugate gradients on the reduced Hessian
 * (matrix-free products: two oracle calls each) inside a trust region; negative curvature goes
 * to the boundary. A step is accepted only when it decreases f.
 */
export function newtonCg(red: Reduced, init: MethodState = {}): Method {
  let radius = init.radius ?? TR_RADIUS0;
  const maxCg = Math.min(red.dd + 5, 250);
  return {
    state: () => ({ radius }),
    async step(pt) {
      const g = pt.g!,
        N = red.dd;
      const gn = norm(g);
      const eta = Math.min(0.5, Math.sqrt(gn / red.gradScale));
      const xs = Math.max(1, norm(pt.X));
      for (let attempt = 0; attempt < MAX_BACKTRACK; attempt++) {
        if (radius < 1e-14 * xs) break;
        const z = new Float64Array(N),
          Sz = new Float64Array(N),
          r = Float64Array.from(g);
        let dvec = Float64Array.from(g, (v) => -v);
        let rr = dot(r, r);
        for (let j = 0; j < maxCg; j++) {
          const Sd = await red.hvp(pt, dvec);
          const dSd = dot(dvec, Sd);
          const toBoundary = (): void => {
            const a = dot(dvec, dvec),
              b = 2 * dot(z, dvec),
              c = dot(z, z) - radius * radius;
            const t = (-b + Math.sqrt(Math.max(0, b * b - 4 * a * c))) / (2 * a);
            for (let i = 0; i < N; i++) {
              z[i]! += t * dvec[i]!;
              Sz[i]! += t * Sd[i]!;
            }
          };
          if (!(dSd > 0)) {
            toBoundary();
            break;
          }
          const alpha = rr / dSd;
          const zn = axpy(z, alpha, dvec);
          if (norm(zn) >= radius) {
            toBoundary();
            break;
          }
          for (let i = 0; i < N; i++) {
            z[i] = zn[i]!;
            Sz[i]! += alpha * Sd[i]!;
            r[i]! += alpha * Sd[i]!;
          }
          const rr1 = dot(r, r);
          if (Math.sqrt(rr1) <= eta * gn) break;
          const beta = rr1 / rr;
          rr = rr1;
          dvec = Float64Array.from(dvec, (v, i) => -r[i]! + beta * v);
        }
        const pred = -(dot(g, z) + 0.5 * dot(z, Sz));
        const zn = norm(z);
        const next = await red.point(axpy(pt.X, 1, z), true);
        const ared = pt.objective - next.objective;
        const rho = pred > 0 ? ared / pred : -1;
        if (rho < 0.25) radius = 0.25 * zn;
        else if (rho > 0.75 && zn >= 0.99 * radius) radius = Math.min(2 * radius, TR_RADIUS_MAX);
        if (Number.isFinite(next.objective) && ared >= 0 && (rho > 1e-4 || ared > 0))
          return { next, step: zn, stalled: false };
      }
      return { next: pt, step: 0, stalled: true };
    },
  };
}

/** L-BFGS (two-loop recursion, memory LBFGS_MEMORY) with Armijo backtracking. */
export function lbfgs(red: Reduced, init: MethodState = {}): Method {
  let S = (init.lbfgs?.s ?? []).map((a) => Float64Array.from(a));
  let Yk = (init.lbfgs?.y ?? []).map((a) => Float64Array.from(a));
  const direction = (g: Float64Array, X: Float64Array): Float64Array => {
    if (S.length === 0) {
      const s = (0.1 * Math.max(1, norm(X))) / Math.max(norm(g), Number.MIN_VALUE);
      return Float64Array.from(g, (v) => -s * v);
    }
    const q = Float64Array.from(g);
    const k = S.length,
      al = new Array<number>(k),
      rho = new Array<number>(k);
    for (let i = k - 1; i >= 0; i--) {
      rho[i] = 1 / dot(Yk[i]!, S[i]!);
      al[i] = rho[i]! * dot(S[i]!, q);
      for (let j = 0; j < q.length; j++) q[j]! -= al[i]! * Yk[i]![j]!;
    }
    const h0 = dot(S[k - 1]!, Yk[k - 1]!) / dot(Yk[k - 1]!, Yk[k - 1]!);
    for (let j = 0; j < q.length; j++) q[j]! *= h0;
    for (let i = 0; i < k; i++) {
      const b = rho[i]! * dot(Yk[i]!, q);
      for (let j = 0; j < q.length; j++) q[j]! += (al[i]! - b) * S[i]![j]!;
    }
    for (let j = 0; j < q.length; j++) q[j] = -q[j]!;
    return q;
  };
  return {
    state: () => ({ lbfgs: { s: S.map((a) => Array.from(a)), y: Yk.map((a) => Array.from(a)) } }),
    async step(pt) {
      let p = direction(pt.g!, pt.X);
      if (!(dot(p, pt.g!) < 0)) {
        S = [];
        Yk = [];
        p = direction(pt.g!, pt.X);
      }
      let ls = await armijo(red, pt, p);
      if (!ls && S.length > 0) {
        S = [];
        Yk = [];
        ls = await armijo(red, pt, direction(pt.g!, pt.X));
      }
      if (!ls) return { next: pt, step: 0, stalled: true };
      const s = Float64Array.from(ls.next.X, (v, i) => v - pt.X[i]!);
      const y = Float64Array.from(ls.next.g!, (v, i) => v - pt.g![i]!);
      if (dot(s, y) > 1e-12 * norm(s) * norm(y)) {
        S.push(s);
        Yk.push(y);
        if (S.length > LBFGS_MEMORY) {
          S.shift();
          Yk.shift();
        }
      }
      return { next: ls.next, step: ls.t, stalled: false };
    },
  };
}

/**
 * Adam on the reduced objective, made monotone: a step that increases f is rejected and the
 * learning rate halved (moments are those of the current point, so the retry is deterministic).
 */
export function adam(red: Reduced, init: MethodState = {}): Method {
  const N = red.dd;
  let m = Float64Array.from(init.adam?.m ?? new Array<number>(N).fill(0));
  let v = Float64Array.from(init.adam?.v ?? new Array<number>(N).fill(0));
  let t = init.adam?.t ?? 0;
  let lr = init.adam?.lr ?? ADAM.lr;
  return {
    state: () => ({ adam: { m: Array.from(m), v: Array.from(v), t, lr } }),
    async step(pt) {
      const g = pt.g!,
        t1 = t + 1;
      const m1 = Float64Array.from(m, (mi, i) => ADAM.beta1 * mi + (1 - ADAM.beta1) * g[i]!);
      const v1 = Float64Array.from(v, (vi, i) => ADAM.beta2 * vi + (1 - ADAM.beta2) * g[i]! * g[i]!);
      const c1 = 1 - ADAM.beta1 ** t1,
        c2 = 1 - ADAM.beta2 ** t1;
      const dir = Float64Array.from(m1, (mi, i) => -(mi / c1) / (Math.sqrt(v1[i]! / c2) + ADAM.eps));
      for (let k = 0; k < MAX_BACKTRACK; k++) {
        const next = await red.point(axpy(pt.X, lr, dir), true);
        if (Number.isFinite(next.objective) && next.objective <= pt.objective) {
          m = m1;
          v = v1;
          t = t1;
          return { next, step: lr * norm(dir), stalled: false };
        }
        lr *= 0.5;
      }
      return { next: pt, step: 0, stalled: true };
    },
  };
}

/** Factory per method name. */
export const METHODS: Readonly<Record<SolveMethod, (red: Reduced, init?: MethodState) => Method>> = Object.freeze({
  newton,
  'newton-cg': newtonCg,
  lbfgs,
  adam,
});
