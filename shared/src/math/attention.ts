/**
 * Row-block partials of the attention-regression loss L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F
 * and its derivatives (docs/design.md §1). Notation for a block of query rows J = [r0, r1), m = r1 − r0:
 *   S = A1_J X A2ᵀ (m×n), F = softmax_rows(S), H = A3 Y (n×d), M = F A3 (m×d), FH = F H = M Y,
 *   C = FH − B_J, Q = C Hᵀ, P = Jrow(F, Q) = F∘Q − ρ·F with ρ_j = C_j·FH_j, U = F A2 (m×d).
 * Memory is O(m·n + n·d + m·d²); no n×n matrix unless the block holds every row.
 */
import { dgemmBase, softmaxRowsBase, softmaxExpRowsBase, jrowBase, wasmArray } from '../kernels/index.js';
import { AttnfitError, ErrorCodes } from '../core/index.js';
import type { Partials, Problem, Want } from './types.js';
import { planBlocks, defaultBlockRows } from './blocks.js';
import { combinePartials, emptyPartials } from './partials.js';
import { TreeReducer, planTree } from './shards.js';

/** Elements of one n × (g·d) key slab in the Hessian assembly (16 MiB): sets how many columns of A2 share a GEMM. */
let HESS_SLAB_ELEMENTS = 1 << 21;
/** The per-thread cache of a problem's whole key slabs may hold this many slab budgets (64 MiB by default). */
const KEY_CACHE_SLABS = 4;

/**
 * Sets the Hessian assembly's key-slab budget in elements (≥ 1; default 2²¹ = 16 MiB) and returns
 * the previous value. It trades memory against GEMM width only: the Hessian is the same to
 * rounding (bitwise with the mul+add kernels). A problem's whole slabs are cached per thread
 * when they fit 4 budgets, else built per block in groups of columns that fit one. Example:
 * `setHessianSlabElements(1)` (one column of A2 per GEMM, no cache).
 */
export function setHessianSlabElements(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `hessian slab: elements must be an integer >= 1 (got ${elements})`, {
      details: { field: 'elements', value: elements },
    });
  const prev = HESS_SLAB_ELEMENTS;
  HESS_SLAB_ELEMENTS = elements;
  return prev;
}

function shapeError(field: string, got: number, need: number): AttnfitError {
  return new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `${field}: length must be ${need} (got ${got})`, {
    details: { field, value: got, expected: need },
  });
}

function checkProblemShape(
  p: Pick<Problem, 'n' | 'd' | 'A1' | 'A2' | 'A3'> & { B?: Float64Array },
  withB: boolean,
): void {
  const { n, d } = p;
  if (!Number.isInteger(n) || n < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `n: must be an integer >= 0 (got ${n})`, {
      details: { field: 'n', value: n },
    });
  if (d === 0)
    throw new AttnfitError(ErrorCodes.EMPTY, `d: must be >= 1 (got 0)`, { details: { field: 'd', value: d } });
  if (!Number.isInteger(d) || d < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `d: must be an integer >= 1 (got ${d})`, {
      details: { field: 'd', value: d },
    });
  const nd = n * d;
  if (p.A1.length < nd) throw shapeError('A1', p.A1.length, nd);
  if (p.A2.length < nd) throw shapeError('A2', p.A2.length, nd);
  if (p.A3.length < nd) throw shapeError('A3', p.A3.length, nd);
  if (withB && (p.B === undefined || p.B.length < nd)) throw shapeError('B', p.B?.length ?? 0, nd);
}

function checkDD(field: string, a: Float64Array | undefined, d: number): void {
  if (a === undefined) return;
  if (!(a instanceof Float64Array))
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${field}: must be a Float64Array (got ${typeof a})`, {
      details: { field },
    });
  if (a.length !== d * d) throw shapeError(field, a.length, d * d);
}

const gemm = dgemmBase;

/**
 * Reusable m×n scratch (fresh 8 MiB arrays cost ~4 ms each to allocate and fault in). One pool
 * per module instance, i.e. per thread; blockPartials is synchronous, so there is no reentrancy.
 * Every user overwrites the whole view before reading it. Slots: 0 F, 1 P, 2 dS/dQ, 3 W, 4 the Hessian's key slab.
 * The buffers live in the WebAssembly kernels' memory (wasmArray; plain arrays without
 * WebAssembly): the GEMMs that produce or consume them and the softmax exp then work on them in
 * place instead of copying m×n blocks in and out — same arithmetic, bitwise the same results.
 */
const scratchPool: Float64Array[] = [];
function scratch(slot: number, len: number): Float64Array {
  let b = scratchPool[slot];
  // Regions in the kernels' memory are never freed: grow by at least 1.5× so that a long-lived
  // worker seeing ever larger problems abandons a geometric series, not one region per size.
  if (b === undefined || b.length < len) {
    b = wasmArray(Math.max(len, Math.ceil((b?.length ?? 0) * 1.5)));
    scratchPool[slot] = b;
  }
  return b.length === len ? b : b.subarray(0, len);
}

/**
 * Reusable per-thread temporaries of the Hessian assembly (plain arrays: m×d² panels, d²×d²
 * products — ~10 MiB per block at d = 16, which fresh allocations turn into garbage-collector
 * work). Same contract as {@link scratch}: every user overwrites the whole view before reading it.
 * Slots: 0 G', 1 U, 2 and 3 Kronecker panels, 4 and 5 d²×d² products, 6 packed G, 7 packed A1∘A1,
 * 8 packed product.
 */
const workPool: Float64Array[] = [];
function work(slot: number, len: number): Float64Array {
  let b = workPool[slot];
  if (b === undefined || b.length < len) {
    b = new Float64Array(len);
    workPool[slot] = b;
  }
  return b.length === len ? b : b.subarray(0, len);
}

/**
 * Partials for query rows [r0, r1) of problem p at (X, Y) (d×d row-major each). Returns only the
 * fields asked for in `want` (plus `rows`); every field is a plain sum over the block's rows, so
 * blocks combine with {@link combinePartials}. Derivatives are of L (no ½):
 * gradX = 2 A1ᵀ P A2; gradY = 2 Mᵀ C; hessXX exact ∇²ₓL (d²×d², row-major vec(X));
 * hessXY[(a,b),(c,e)] = ∂²L/∂X_ab∂Y_ce; MtM = MᵀM, MtB = MᵀB; hvpX = ∇²ₓL·vec(V);
 * mixedXY = H_xy vec(Vy); mixedYX = H_yx vec(Vx). Cost O(m·n·d) for loss/gradients/products,
 * O(m·n·d² + m·d⁴) for hessXX and hessXY.
 * Example: `blockPartials(p, 0, p.n, X, Y, { loss: true, gradX: true })`.
 *
 * Long on purpose (> 80 lines): one sweep over the block's m×n buffers (logits, unnormalised
 * softmax, Jrow) serves every requested quantity; split into functions, each would re-read or
 * re-allocate the m×n buffers that dominate its cost (docs/performance.md).
 */
export function blockPartials(
  p: Problem,
  r0: number,
  r1: number,
  X: Float64Array,
  Y: Float64Array,
  want: Want,
): Partials {
  checkProblemShape(p, true);
  const { n, d, A1, A2, A3, B } = p;
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 < r0 || r1 > n) {
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `rows: need integers 0 <= r0 <= r1 <= n = ${n} (got [${r0}, ${r1}))`,
      { details: { field: 'rows', value: [r0, r1] } },
    );
  }
  checkDD('X', X, d);
  checkDD('Y', Y, d);
  checkDD('want.hvpX', want.hvpX, d);
  checkDD('want.mixedXY', want.mixedXY, d);
  checkDD('want.mixedYX', want.mixedYX, d);

  const m = r1 - r0,
    dd = d * d;
  const out: Partials = { rows: m };
  const needC = !!(
    want.loss ||
    want.gradX ||
    want.gradY ||
    want.hessXX ||
    want.hessXY ||
    want.hvpX ||
    want.mixedXY ||
    want.mixedYX
  );
  if (m === 0) {
    if (want.loss) out.loss = 0;
    if (want.gradX) out.gradX = new Float64Array(dd);
    if (want.gradY) out.gradY = new Float64Array(dd);
    if (want.hessXX) out.hessXX = new Float64Array(dd * dd);
    if (want.hessXY) out.hessXY = new Float64Array(dd * dd);
    if (want.normal) {
      out.MtM = new Float64Array(dd);
      out.MtB = new Float64Array(dd);
    }
    if (want.hvpX) out.hvpX = new Float64Array(dd);
    if (want.mixedXY) out.mixedXY = new Float64Array(dd);
    if (want.mixedYX) out.mixedYX = new Float64Array(dd);
    return out;
  }
  const offA1 = r0 * d,
    offB = r0 * d;

  // Forward: F = softmax(A1_J X A2ᵀ), M = F A3. The block holds E = exp(S − rowmax) and
  // sc = 1/rowsum (F = diag(sc) E): the scale goes into M's rows and into the fused Jrow pass
  // below, which saves a sweep over the m×n block; F itself is normalised in place only when a
  // second-order quantity needs it.
  const T = new Float64Array(m * d);
  gemm(false, false, m, d, d, 1, A1, offA1, d, X, 0, d, 0, T, 0, d);
  const F = scratch(0, m * n);
  gemm(false, true, m, n, d, 1, T, 0, d, A2, 0, d, 0, F, 0, n);
  const sc = new Float64Array(m);
  softmaxExpRowsBase(m, n, F, 0, n, F, 0, n, sc, 0);
  const M = new Float64Array(m * d);
  gemm(false, false, m, d, n, 1, F, 0, n, A3, 0, d, 0, M, 0, d);
  scaleRows(m, d, M, sc);
  const wantP = !!(want.gradX || want.hessXX || want.hvpX);
  // The HVP and mixed products read F itself; the Hessian assembly only multiplies it, so it
  // takes E and scales the rows of its m×d and m×d² products instead (fewer writes than F).
  const needF = !!(want.hvpX || want.mixedXY || want.mixedYX);
  if (needF && !wantP) scaleRows(m, n, F, sc);

  if (want.normal) {
    const MtM = new Float64Array(dd),
      MtB = new Float64Array(dd);
    gemm(true, false, d, d, m, 1, M, 0, d, M, 0, d, 0, MtM, 0, d);
    gemm(true, false, d, d, m, 1, M, 0, d, B, offB, d, 0, MtB, 0, d);
    out.MtM = MtM;
    out.MtB = MtB;
  }
  if (!needC) return out;

  // H = A3 Y (all keys; only the HVP and mixed XY products need it), FH = M Y, C = FH − B_J.
  let H: Float64Array | undefined;
  if (want.hvpX || want.mixedXY) {
    H = new Float64Array(n * d);
    gemm(false, false, n, d, d, 1, A3, 0, d, Y, 0, d, 0, H, 0, d);
  }
  const FH = new Float64Array(m * d);
  gemm(false, false, m, d, d, 1, M, 0, d, Y, 0, d, 0, FH, 0, d);
  const C = new Float64Array(m * d);
  let loss = 0;
  for (let i = 0; i < m * d; i++) {
    const c = FH[i]! - B[offB + i]!;
    C[i] = c;
    loss += c * c;
  }
  if (want.loss) out.loss = loss;

  if (want.gradY) {
    const gY = new Float64Array(dd);
    gemm(true, false, d, d, m, 2, M, 0, d, C, 0, d, 0, gY, 0, d);
    out.gradY = gY;
  }

  // P = Jrow(F, Q), Q = C Hᵀ = (C Yᵀ) A3ᵀ (no n×d H needed), ρ_j = C_j·FH_j; PA2 = P A2.
  // One fused sweep: f = sc_j E_jk; P_jk = f (Q_jk − ρ_j); and E_jk ← f when F is needed later.
  let P: Float64Array | undefined, PA2: Float64Array | undefined;
  if (wantP) {
    P = scratch(1, m * n);
    const CYt = new Float64Array(m * d);
    gemm(false, true, m, d, d, 1, C, 0, d, Y, 0, d, 0, CYt, 0, d);
    gemm(false, true, m, n, d, 1, CYt, 0, d, A3, 0, d, 0, P, 0, n);
    const rho = rowDots(m, d, C, FH);
    jrowScaled(m, n, F, P, sc, rho, needF);
    if (want.gradX || want.hessXX) {
      // (an HVP needs P, not P A2)
      PA2 = new Float64Array(m * d);
      gemm(false, false, m, d, n, 1, P, 0, n, A2, 0, d, 0, PA2, 0, d);
    }
    if (want.gradX) {
      const gX = new Float64Array(dd);
      gemm(true, false, d, d, m, 2, A1, offA1, d, PA2!, 0, d, 0, gX, 0, d);
      out.gradX = gX;
    }
  }

  // dS = A1_J V A2ᵀ is shared when hvpX and mixedYX ask for the same direction (the reduced
  // Newton–CG product asks for both): hvpX only reads it, mixedYX then turns it into dF in place.
  // mixedXY runs last because it reuses dS's scratch slot.
  let dS: Float64Array | undefined;
  if (want.hvpX) {
    dS = logitDirection(m, n, d, A1, offA1, A2, want.hvpX);
    out.hvpX = hvpXBlock(m, n, d, A1, offA1, A2, F, H!, FH, P!, dS);
  }
  if (want.mixedYX) {
    const shared = dS !== undefined && sameValues(want.mixedYX, want.hvpX!);
    out.mixedYX = mixedYXBlock(
      m,
      n,
      d,
      A1,
      offA1,
      A3,
      F,
      Y,
      M,
      C,
      shared ? dS! : logitDirection(m, n, d, A1, offA1, A2, want.mixedYX),
    );
  }
  if (want.mixedXY) out.mixedXY = mixedXYBlock(m, n, d, A1, offA1, A2, A3, F, H!, FH, M, C, want.mixedXY);
  if (want.hessXX || want.hessXY) {
    const rowScale = needF ? undefined : sc; // F holds E = diag(sc)⁻¹ F unless normalised above
    hessBlocks(m, n, d, A1, offA1, A2, A3, F, rowScale, Y, M, C, P, PA2, !!want.hessXX, !!want.hessXY, out);
  }
  return out;
}

/** A[j, :] *= s[j] for the rows of an m×c matrix (rows with s[j] = 1 are left alone). */
function scaleRows(m: number, c: number, A: Float64Array, s: Float64Array): void {
  for (let j = 0; j < m; j++) {
    const f = s[j]!;
    if (f === 1) continue;
    const o = j * c;
    for (let k = 0; k < c; k++) A[o + k] *= f;
  }
}

/**
 * Fused softmax scale + backward on an m×n block: with f = sc_j·E_jk (= F_jk),
 * P_jk = f·(P_jk − ρ_j) (P holds Q on entry), and E_jk ← f when `writeF`. Same values as
 * scaling E to F and then jrowBase(F, Q, ρ), in one sweep.
 */
function jrowScaled(
  m: number,
  n: number,
  E: Float64Array,
  P: Float64Array,
  sc: Float64Array,
  rho: Float64Array,
  writeF: boolean,
): void {
  for (let j = 0; j < m; j++) {
    const s = sc[j]!,
      r = rho[j]!,
      o = j * n;
    if (writeF) {
      for (let k = o; k < o + n; k++) {
        const f = E[k]! * s;
        E[k] = f;
        P[k] = f * (P[k]! - r);
      }
    } else {
      for (let k = o; k < o + n; k++) P[k] = E[k]! * s * (P[k]! - r);
    }
  }
}

/** r[j] = a_j · b_j for the rows of two m×d matrices. */
function rowDots(m: number, d: number, a: Float64Array, b: Float64Array): Float64Array {
  const r = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += a[j * d + c]! * b[j * d + c]!;
    r[j] = s;
  }
  return r;
}

/** True when two d×d directions hold the same values (the same object, or equal copies after a wire trip). */
function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** dS = A1_J V A2ᵀ (m×n). */
function logitDirection(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A2: Float64Array,
  V: Float64Array,
): Float64Array {
  const TV = new Float64Array(m * d);
  gemm(false, false, m, d, d, 1, A1, offA1, d, V, 0, d, 0, TV, 0, d);
  const dS = scratch(2, m * n);
  gemm(false, true, m, n, d, 1, TV, 0, d, A2, 0, d, 0, dS, 0, n);
  return dS;
}

/**
 * HVP, given dS = A1 V A2ᵀ (logitDirection; only read here): dF = Jrow(F, dS); dQ = (dF H) Hᵀ;
 * dP = Jrow(F, dQ) + P∘dS − rowsum(F∘dS)·P − rowsum(P∘dS)·F; result 2 A1ᵀ dP A2.
 */
function hvpXBlock(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A2: Float64Array,
  F: Float64Array,
  H: Float64Array,
  FH: Float64Array,
  P: Float64Array,
  dS: Float64Array,
): Float64Array {
  const rs = new Float64Array(m),
    rp = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0,
      t = 0;
    const o = j * n;
    for (let k = 0; k < n; k++) {
      const ds = dS[o + k]!;
      s += F[o + k]! * ds;
      t += P[o + k]! * ds;
    }
    rs[j] = s;
    rp[j] = t;
  }
  const W = scratch(3, m * n); // dF, then dQ, then dP
  jrowBase(m, n, F, 0, n, dS, 0, n, W, 0, n, rs, 0);
  const dFH = new Float64Array(m * d);
  gemm(false, false, m, d, n, 1, W, 0, n, H, 0, d, 0, dFH, 0, d);
  gemm(false, true, m, n, d, 1, dFH, 0, d, H, 0, d, 0, W, 0, n);
  const rq = rowDots(m, d, dFH, FH); // rowsum(F∘dQ)_j = dFH_j · FH_j
  for (let j = 0; j < m; j++) {
    const o = j * n,
      q = rq[j]!,
      s = rs[j]!,
      t = rp[j]!;
    for (let k = 0; k < n; k++) {
      const f = F[o + k]!;
      W[o + k] = f * (W[o + k]! - q) + P[o + k]! * (dS[o + k]! - s) - t * f;
    }
  }
  return projectBack(m, n, d, A1, offA1, A2, W);
}

/** 2 A1_Jᵀ (W A2) for an m×n W. */
function projectBack(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A2: Float64Array,
  W: Float64Array,
): Float64Array {
  const WA2 = new Float64Array(m * d);
  gemm(false, false, m, d, n, 1, W, 0, n, A2, 0, d, 0, WA2, 0, d);
  const r = new Float64Array(d * d);
  gemm(true, false, d, d, m, 2, A1, offA1, d, WA2, 0, d, 0, r, 0, d);
  return r;
}

/** Mixed XY: dH = A3 Vy, dC = F dH = M Vy, dQ = dC Hᵀ + C dHᵀ; result 2 A1ᵀ Jrow(F, dQ) A2. */
function mixedXYBlock(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A2: Float64Array,
  A3: Float64Array,
  F: Float64Array,
  H: Float64Array,
  FH: Float64Array,
  M: Float64Array,
  C: Float64Array,
  Vy: Float64Array,
): Float64Array {
  const dH = new Float64Array(n * d);
  gemm(false, false, n, d, d, 1, A3, 0, d, Vy, 0, d, 0, dH, 0, d);
  const dC = new Float64Array(m * d);
  gemm(false, false, m, d, d, 1, M, 0, d, Vy, 0, d, 0, dC, 0, d);
  const dQ = scratch(2, m * n);
  gemm(false, true, m, n, d, 1, dC, 0, d, H, 0, d, 0, dQ, 0, n);
  gemm(false, true, m, n, d, 1, C, 0, d, dH, 0, d, 1, dQ, 0, n);
  // rowsum(F∘dQ)_j = dC_j·FH_j + C_j·dC_j
  const r = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) {
      const i = j * d + c;
      s += dC[i]! * (FH[i]! + C[i]!);
    }
    r[j] = s;
  }
  jrowBase(m, n, F, 0, n, dQ, 0, n, dQ, 0, n, r, 0);
  return projectBack(m, n, d, A1, offA1, A2, dQ);
}

/** Mixed YX, given dS = A1 Vx A2ᵀ (overwritten): dF = Jrow(F, dS), dM = dF A3; result 2 (dMᵀ C + Mᵀ dM Y). */
function mixedYXBlock(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A3: Float64Array,
  F: Float64Array,
  Y: Float64Array,
  M: Float64Array,
  C: Float64Array,
  dS: Float64Array,
): Float64Array {
  jrowBase(m, n, F, 0, n, dS, 0, n, dS, 0, n, null, 0); // dS (= A1_J Vx A2ᵀ) becomes dF in place
  const dM = new Float64Array(m * d);
  gemm(false, false, m, d, n, 1, dS, 0, n, A3, 0, d, 0, dM, 0, d);
  const dC = new Float64Array(m * d);
  gemm(false, false, m, d, d, 1, dM, 0, d, Y, 0, d, 0, dC, 0, d);
  const r = new Float64Array(d * d);
  gemm(true, false, d, d, m, 2, dM, 0, d, C, 0, d, 0, r, 0, d);
  gemm(true, false, d, d, m, 2, M, 0, d, dC, 0, d, 1, r, 0, d);
  return r;
}

/**
 * Exact Hessian blocks, batched (no per-row n×n matrix); docs/design.md §1 and
 * docs/performance.md#hessian-assembly. Per query row j (f = F_j, p = P_j, u_j = (F A2)_j,
 * v_j = (P A2)_j, a_j = A1_j):
 *   G'_j = A2ᵀ J_j A3 = Σ_k F_jk A2[k,:]ᵀ A3[k,:] − u_j M_jᵀ        (d×d; J_j = diag f − f fᵀ)
 *   U_j  = A2ᵀ J_j H  = G'_j Y                                       (H = A3 Y)
 *   D_j  = A2ᵀ diag(p) A2 = Σ_k P_jk A2[k,:]ᵀ A2[k,:]                (symmetric)
 *   G_j  = U_j U_jᵀ + D_j − v_j u_jᵀ − u_j v_jᵀ                      (= A2ᵀ M_j A2, symmetric)
 *   hessXX[(a,b),(a',b')] = 2 Σ_j a_j[a] a_j[a'] G_j[b,b']
 *   hessXY[(a,b),(c,e)]   = 2 Σ_j a_j[a] (G'_j[b,c] C[j,e] + U_j[b,e] M[j,c]).
 * GEMMs: FK = F·(A2∘A3) (m × d², the "key slab" A2∘A3 is n × d², built in column groups of at
 * most HESS_SLAB_ELEMENTS) and DP = P·(A2∘A2) over the d(d+1)/2 columns b ≤ b' only — these two
 * stream the m×n blocks and are ≈ all the flops; U = G'·Y as one (m·d)×d×d product; hessXY as
 * two d²×d²×m products (rows (a,e) and (a,c), permuted into place); hessXX as ONE product of the
 * packed triangles, (d(d+1)/2)² × m, which makes it exactly symmetric. Per-row work is O(d³)
 * (U_j U_jᵀ); the whole assembly is 2m·n·(d² + d(d+1)/2) + O(m·d⁴) flops. With `rowScale`, the
 * m×n block holds the unnormalised E (F = diag(rowScale)·E) and FK's rows are scaled instead.
 *
 * Long on purpose (> 80 lines): the pieces share FK, U and the packed index tables; split, each
 * would re-derive them.
 */
function hessBlocks(
  m: number,
  n: number,
  d: number,
  A1: Float64Array,
  offA1: number,
  A2: Float64Array,
  A3: Float64Array,
  F: Float64Array,
  rowScale: Float64Array | undefined,
  Y: Float64Array,
  M: Float64Array,
  C: Float64Array,
  P: Float64Array | undefined,
  PA2: Float64Array | undefined,
  wantXX: boolean,
  wantXY: boolean,
  out: Partials,
): void {
  const dd = d * d,
    tri = (d * (d + 1)) / 2;
  // Packed upper-triangle index: tIdx[b·d + b'] = position of (min, max) in row-major b ≤ b' order.
  const tIdx = new Int32Array(dd);
  for (let b = 0, t = 0; b < d; b++) for (let b2 = b; b2 < d; b2++, t++) tIdx[b * d + b2] = tIdx[b2 * d + b] = t;
  const keys = keySlabs(n, d, A2, A3);
  const K = keys ? undefined : scratch(4, Math.min(n * dd, Math.max(n * d, HESS_SLAB_ELEMENTS)));

  // FK[j, (b,c)] = Σ_k F_jk A2[k,b] A3[k,c] and u_j = (F A2)_j: one wide GEMM over the cached key
  // slab [A2∘A3 | A2] (n × (d² + d)), or a few over column groups b ∈ [b0, b0+gb) plus F·A2 when
  // the slab exceeds the budget.
  const G1 = work(0, m * dd),
    U = new Float64Array(m * d);
  let FK = G1,
    ld = dd;
  if (keys) {
    ld = dd + d;
    FK = work(9, m * ld);
    gemm(false, false, m, ld, n, 1, F, 0, n, keys.ka, 0, ld, 0, FK, 0, ld);
    for (let j = 0; j < m; j++) for (let b = 0; b < d; b++) U[j * d + b] = FK[j * ld + dd + b]!;
  } else {
    const g = Math.max(1, Math.min(d, Math.floor(HESS_SLAB_ELEMENTS / (n * d))));
    for (let b0 = 0; b0 < d; b0 += g) {
      const gb = Math.min(g, d - b0),
        w = gb * d;
      fillKa(n, d, A2, A3, b0, gb, K!);
      gemm(false, false, m, w, n, 1, F, 0, n, K!, 0, w, 0, G1, b0 * d, dd);
    }
    gemm(false, false, m, d, n, 1, F, 0, n, A2, 0, d, 0, U, 0, d);
  }
  if (rowScale) scaleRows(m, d, U, rowScale);
  // G'_j = FK_j − u_j M_jᵀ (FK's rows scaled by rowScale first); U_j = G'_j Y for every row at once.
  for (let j = 0; j < m; j++) {
    const sj = rowScale ? rowScale[j]! : 1;
    for (let b = 0; b < d; b++) {
      const u = U[j * d + b]!,
        o = j * dd + b * d,
        src = j * ld + b * d,
        mo = j * d;
      for (let c = 0; c < d; c++) G1[o + c] = sj * FK[src + c]! - u * M[mo + c]!;
    }
  }
  const Uj = work(1, m * dd);
  gemm(false, false, m * d, d, d, 1, G1, 0, d, Y, 0, d, 0, Uj, 0, d);

  if (wantXY) {
    // R1[(a,e),(b,c)] = Σ_j A1[j,a] C[j,e] G'_j[b,c];  R2[(a,c),(b,e)] = Σ_j A1[j,a] M[j,c] U_j[b,e].
    const R1 = work(4, dd * dd),
      R2 = work(5, dd * dd);
    gemm(true, false, dd, dd, m, 2, kronRows(m, d, A1, offA1, C, work(2, m * dd)), 0, dd, G1, 0, dd, 0, R1, 0, dd);
    gemm(true, false, dd, dd, m, 2, kronRows(m, d, A1, offA1, M, work(3, m * dd)), 0, dd, Uj, 0, dd, 0, R2, 0, dd);
    const hXY = new Float64Array(dd * dd);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        const row = (a * d + b) * dd;
        for (let c = 0; c < d; c++) {
          const r2 = (a * d + c) * dd + b * d,
            o = row + c * d;
          for (let e = 0; e < d; e++) hXY[o + e] = R1[(a * d + e) * dd + b * d + c]! + R2[r2 + e]!;
        }
      }
    out.hessXY = hXY;
  }

  if (wantXX) {
    // DP[j, t(b,b')] = Σ_k P_jk A2[k,b] A2[k,b'] (b ≤ b'): the cached slab, or column groups of
    // whole triangle rows b.
    const Gp = work(6, m * tri);
    if (keys) gemm(false, false, m, tri, n, 1, P!, 0, n, keys.kp, 0, tri, 0, Gp, 0, tri);
    for (let b0 = 0, t0 = 0; K && b0 < d;) {
      let b1 = b0 + 1,
        w = d - b0;
      while (b1 < d && n * (w + d - b1) <= HESS_SLAB_ELEMENTS) w += d - b1++;
      fillKp(n, d, A2, b0, b1, w, K);
      gemm(false, false, m, w, n, 1, P!, 0, n, K, 0, w, 0, Gp, t0, tri);
      b0 = b1;
      t0 += w;
    }
    // G_j = D_j + U_j U_jᵀ − v_j u_jᵀ − u_j v_jᵀ (packed), with v = P A2.
    for (let j = 0; j < m; j++) {
      const uo = j * dd,
        go = j * tri,
        vo = j * d;
      for (let b = 0, t = 0; b < d; b++) {
        const ub = U[vo + b]!,
          vb = PA2![vo + b]!,
          ro = uo + b * d;
        for (let b2 = b; b2 < d; b2++, t++) {
          const r2 = uo + b2 * d;
          let s = 0;
          for (let e = 0; e < d; e++) s += Uj[ro + e]! * Uj[r2 + e]!;
          Gp[go + t] += s - vb * U[vo + b2]! - ub * PA2![vo + b2]!;
        }
      }
    }
    // R[t(a,a'), t(b,b')] = 2 Σ_j A1[j,a] A1[j,a'] G_j[b,b'] — one GEMM of the packed triangles.
    const Z = work(7, m * tri);
    for (let j = 0; j < m; j++) {
      const r = offA1 + j * d;
      for (let a = 0, t = j * tri; a < d; a++) {
        const s = A1[r + a]!;
        for (let a2 = a; a2 < d; a2++) Z[t++] = s * A1[r + a2]!;
      }
    }
    const R = work(8, tri * tri);
    gemm(true, false, tri, tri, m, 2, Z, 0, tri, Gp, 0, tri, 0, R, 0, tri);
    const hXX = new Float64Array(dd * dd);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        const row = (a * d + b) * dd,
          tb = b * d;
        for (let a2 = 0; a2 < d; a2++) {
          const ra = tIdx[a * d + a2]! * tri,
            o = row + a2 * d;
          for (let b2 = 0; b2 < d; b2++) hXX[o + b2] = R[ra + tIdx[tb + b2]!]!;
        }
      }
    out.hessXX = hXX;
  }
}

/**
 * K[k, bb·d + c] = A2[k, b0+bb]·A3[k, c] for bb < gb (an n × gb·d slab of A2∘A3); with `withA2`
 * each row continues with A2[k, :] (an n × (gb·d + d) slab).
 */
function fillKa(
  n: number,
  d: number,
  A2: Float64Array,
  A3: Float64Array,
  b0: number,
  gb: number,
  K: Float64Array,
  withA2 = false,
): void {
  const w = gb * d + (withA2 ? d : 0);
  for (let k = 0; k < n; k++) {
    const o = k * w,
      r = k * d;
    for (let bb = 0; bb < gb; bb++) {
      const s = A2[r + b0 + bb]!,
        ob = o + bb * d;
      for (let c = 0; c < d; c++) K[ob + c] = s * A3[r + c]!;
    }
    if (withA2) for (let c = 0; c < d; c++) K[o + gb * d + c] = A2[r + c]!;
  }
}

/** K[k, ·] = A2[k,b]·A2[k,b'] for b0 ≤ b < b1, b ≤ b' < d in row-major triangle order (an n × w slab). */
function fillKp(n: number, d: number, A2: Float64Array, b0: number, b1: number, w: number, K: Float64Array): void {
  for (let k = 0; k < n; k++) {
    const r = k * d;
    let o = k * w;
    for (let b = b0; b < b1; b++) {
      const s = A2[r + b]!;
      for (let b2 = b; b2 < d; b2++) K[o++] = s * A2[r + b2]!;
    }
  }
}

/**
 * The Hessian's key slabs depend only on the problem (A2, A3), not on X, Y or the row block: each
 * thread keeps the last problem's ka = [A2∘A3 | A2] (n × (d² + d)) and kp = A2∘A2 on b ≤ b'
 * (n × d(d+1)/2) while together they fit {@link KEY_CACHE_SLABS} slab budgets (64 MiB by
 * default: n ≤ 16384 at d = 16), so the blocks of one evaluation (and the next evaluations) build
 * them once instead of once per block. The entry is reused only when A2 and A3 hold the same
 * values as when it was built (checked against copies: 2·n·d compares, against n·(1.5d² + 1.5d)
 * products to rebuild), so an array changed in place is never served stale; it keeps no
 * reference to the problem's arrays (a released problem's memory is not held). Same products as
 * the uncached path: bitwise the same slab entries.
 */
let keyCache:
  | {
      n: number;
      d: number;
      c2: Float64Array;
      c3: Float64Array;
      ka: Float64Array;
      kp: Float64Array;
    }
  | undefined;
function keySlabs(
  n: number,
  d: number,
  A2: Float64Array,
  A3: Float64Array,
): { ka: Float64Array; kp: Float64Array } | undefined {
  const dd = d * d,
    tri = (d * (d + 1)) / 2,
    nd = n * d;
  if (n * (dd + d + tri) > KEY_CACHE_SLABS * HESS_SLAB_ELEMENTS) return undefined;
  const c = keyCache;
  if (c && c.n === n && c.d === d && sameHead(c.c2, A2, nd) && sameHead(c.c3, A3, nd)) return c;
  keyCache = undefined; // drop the old slabs before allocating new ones
  const ka = new Float64Array(n * (dd + d)),
    kp = new Float64Array(n * tri);
  fillKa(n, d, A2, A3, 0, d, ka, true);
  fillKp(n, d, A2, 0, d, tri, kp);
  keyCache = { n, d, c2: A2.slice(0, nd), c3: A3.slice(0, nd), ka, kp };
  return keyCache;
}

/** True when a[0, len) and b[0, len) hold the same values (as Object.is, except that any NaN equals any NaN). */
function sameHead(a: Float64Array, b: Float64Array, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (x === y) {
      if (x === 0 && 1 / x !== 1 / y) return false;
    } else if (x === x || y === y) return false;
  }
  return true;
}

/** Row-wise Kronecker panel (m × d²) into Z (returned): Z[j, (a,b)] = L[offL + j·d + a] · R[j·d + b]. */
function kronRows(m: number, d: number, L: Float64Array, offL: number, R: Float64Array, Z: Float64Array): Float64Array {
  const dd = d * d;
  for (let j = 0; j < m; j++)
    for (let a = 0; a < d; a++) {
      const l = L[offL + j * d + a]!,
        o = j * dd + a * d;
      for (let b = 0; b < d; b++) Z[o + b] = l * R[j * d + b]!;
    }
  return Z;
}

/**
 * The single-thread reference path: blockPartials over the plan planTree(n, d, { blockRows,
 * shardBlocks }), reduced through its shard tree (blocks in block order within a shard, shards in
 * shard order) — bitwise equal to every scheduler, which reduces through the same tree.
 * Example: `evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true })`.
 */
export function evaluateProblem(
  p: Problem,
  X: Float64Array,
  Y: Float64Array,
  want: Want,
  blockRows?: number,
  shardBlocks?: number,
): Partials {
  checkProblemShape(p, true);
  if (p.n === 0) return combinePartials(emptyPartials(), blockPartials(p, 0, 0, X, Y, want));
  const o: { blockRows?: number; shardBlocks?: number } = {};
  if (blockRows !== undefined) o.blockRows = blockRows;
  if (shardBlocks !== undefined) o.shardBlocks = shardBlocks;
  const plan = planTree(p.n, p.d, o);
  const tree = new TreeReducer(plan);
  for (const [r0, r1] of plan.blocks) tree.add(blockPartials(p, r0, r1, X, Y, want));
  return tree.result();
}

/**
 * Attention output softmax_rows(A1 X A2ᵀ) A3 Y (n×d row-major), computed in row blocks (memory
 * O(blockRows·n)). Used by `attnfit generate` to plant B. Example: `attentionForward(p, X, Y)`.
 */
export function attentionForward(
  p: Pick<Problem, 'n' | 'd' | 'A1' | 'A2' | 'A3'>,
  X: Float64Array,
  Y: Float64Array,
): Float64Array {
  checkProblemShape(p, false);
  const { n, d, A1, A2, A3 } = p;
  checkDD('X', X, d);
  checkDD('Y', Y, d);
  const H = new Float64Array(n * d);
  gemm(false, false, n, d, d, 1, A3, 0, d, Y, 0, d, 0, H, 0, d);
  const out = new Float64Array(n * d);
  const br = defaultBlockRows(n, d);
  const T = new Float64Array(br * d),
    F = new Float64Array(br * n);
  for (const [r0, r1] of planBlocks(n, br)) {
    const m = r1 - r0;
    gemm(false, false, m, d, d, 1, A1, r0 * d, d, X, 0, d, 0, T, 0, d);
    gemm(false, true, m, n, d, 1, T, 0, d, A2, 0, d, 0, F, 0, n);
    softmaxRowsBase(m, n, F, 0, n, F, 0, n);
    gemm(false, false, m, d, n, 1, F, 0, n, H, 0, d, 0, out, r0 * d, d);
  }
  return out;
}
