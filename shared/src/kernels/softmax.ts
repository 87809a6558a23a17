/**
 * Row softmax and its backward (Jrow) over row-major float64 blocks.
 *
 * softmax: O[i,:] = exp(S[i,:] − max S[i,:]) / Σ exp(S[i,:] − max S[i,:])   (stable: the row
 * max is subtracted first, so logits of ±1e3 are fine). Special rows:
 *   - every entry −Inf (a fully masked row) → all zeros (no attention mass; documented choice);
 *   - some entries +Inf → those entries share the mass equally, the others get 0;
 *   - any NaN → NaN propagates to that row.
 * Jrow: O = F∘G − rowsum(F∘G)·F, the softmax backward (Jacobian-transpose product per row).
 */
import { checkInt, checkMatrix } from './checks.js';
import { expShiftSum } from './vexp.js';

/** Row maximum of S[s0 : s0 + cols] ignoring NaN (four independent lanes; −Inf for an empty row). */
function rowMaxNoNaN(S: Float64Array, s0: number, cols: number): number {
  let m0 = -Infinity,
    m1 = -Infinity,
    m2 = -Infinity,
    m3 = -Infinity;
  let j = 0;
  for (; j + 3 < cols; j += 4) {
    const a = S[s0 + j]!,
      b = S[s0 + j + 1]!,
      c = S[s0 + j + 2]!,
      e = S[s0 + j + 3]!;
    if (a > m0) m0 = a;
    if (b > m1) m1 = b;
    if (c > m2) m2 = c;
    if (e > m3) m3 = e;
  }
  for (; j < cols; j++) {
    const a = S[s0 + j]!;
    if (a > m0) m0 = a;
  }
  if (m1 > m0) m0 = m1;
  if (m3 > m2) m2 = m3;
  return m2 > m0 ? m2 : m0;
}

/**
 * One special row (NaN present, or a non-finite maximum), normalised, exactly as documented in
 * the module comment. Returns the row's log-sum-exp.
 */
function specialRow(S: Float64Array, s0: number, cols: number, O: Float64Array, o0: number, mx: number): number {
  for (let j = 0; j < cols; j++) {
    if (S[s0 + j] !== S[s0 + j]) {
      O.fill(NaN, o0, o0 + cols);
      return NaN;
    }
  }
  if (mx === -Infinity) {
    O.fill(0, o0, o0 + cols);
    return -Infinity;
  }
  // mx === +Infinity: the +Inf entries share the mass equally.
  let count = 0;
  for (let j = 0; j < cols; j++) if (S[s0 + j] === Infinity) count++;
  const share = 1 / count;
  for (let j = 0; j < cols; j++) O[o0 + j] = S[s0 + j] === Infinity ? share : 0;
  return Infinity;
}

/**
 * Unchecked unnormalised row softmax: O[i,j] = exp(S[i,j] − max S[i,:]) and
 * scale[offScale + i] = 1 / Σ_j O[i,j], so softmax = scale_i · O[i,:] (the caller folds the scale
 * into a later pass, saving one sweep over the block). Special rows (NaN, all −Inf, some +Inf)
 * are written already normalised with scale 1 (see the module comment). O may alias S (same
 * offset and ld). `lse`, when given, receives each row's log-sum-exp. {@link softmaxRowsBase}
 * is this plus the scaling, with bitwise the same result.
 */
export function softmaxExpRowsBase(
  rows: number,
  cols: number,
  S: Float64Array,
  offS: number,
  ldS: number,
  O: Float64Array,
  offO: number,
  ldO: number,
  scale: Float64Array,
  offScale: number,
  lse?: Float64Array,
  offLse = 0,
): void {
  for (let i = 0; i < rows; i++) {
    const s0 = offS + i * ldS,
      o0 = offO + i * ldO;
    const mx = rowMaxNoNaN(S, s0, cols);
    if (mx === Infinity || mx === -Infinity) {
      const l = specialRow(S, s0, cols, O, o0, mx);
      scale[offScale + i] = 1;
      if (lse) lse[offLse + i] = l;
      continue;
    }
    // O[i,j] = exp(S[i,j] − mx) and their sum, vectorised (vexp.ts: < 1 ulp, fixed summation
    // order). A NaN entry makes the sum NaN (finite mx): that row becomes NaN.
    const sum = expShiftSum(cols, S, s0, mx, O, o0);
    if (sum !== sum) {
      O.fill(NaN, o0, o0 + cols);
      scale[offScale + i] = 1;
      if (lse) lse[offLse + i] = NaN;
      continue;
    }
    scale[offScale + i] = 1 / sum;
    if (lse) lse[offLse + i] = mx + Math.log(sum);
  }
}

let rowScale = new Float64Array(0);

/**
 * Unchecked row softmax of a rows×cols block. In place when O === S with the same offset and
 * leading dimension; otherwise the views must not overlap. If `lse` is given, lse[offLse + i]
 * receives the row's log-sum-exp log Σ_j exp(S[i,j]) (−Inf for a fully masked row).
 */
export function softmaxRowsBase(
  rows: number,
  cols: number,
  S: Float64Array,
  offS: number,
  ldS: number,
  O: Float64Array,
  offO: number,
  ldO: number,
  lse?: Float64Array,
  offLse = 0,
): void {
  if (rowScale.length < rows) rowScale = new Float64Array(rows);
  const sc = rowScale;
  softmaxExpRowsBase(rows, cols, S, offS, ldS, O, offO, ldO, sc, 0, lse, offLse);
  for (let i = 0; i < rows; i++) {
    const inv = sc[i]!;
    if (inv === 1) continue;
    const o0 = offO + i * ldO;
    for (let j = 0; j < cols; j++) O[o0 + j] *= inv;
  }
}

/**
 * Checked row softmax (see {@link softmaxRowsBase}). Example, in place on a 2×3 block:
 * `softmaxRows(2, 3, S, 0, 3, S, 0, 3)`.
 */
export function softmaxRows(
  rows: number,
  cols: number,
  S: Float64Array,
  offS: number,
  ldS: number,
  O: Float64Array,
  offO: number,
  ldO: number,
  lse?: Float64Array,
  offLse = 0,
): void {
  checkInt('softmaxRows', 'rows', rows, 0);
  checkInt('softmaxRows', 'cols', cols, 0);
  checkMatrix('softmaxRows', 'S', S, rows, cols, offS, ldS);
  checkMatrix('softmaxRows', 'O', O, rows, cols, offO, ldO);
  if (lse) checkMatrix('softmaxRows', 'lse', lse, rows, 1, offLse, 1);
  if (O === S && (offO !== offS || ldO !== ldS)) {
    const a0 = offS,
      a1 = offS + Math.max(0, rows - 1) * ldS + cols,
      b0 = offO,
      b1 = offO + Math.max(0, rows - 1) * ldO + cols;
    if (rows > 0 && cols > 0 && a0 < b1 && b0 < a1)
      throw new RangeError(`softmaxRows: O overlaps S with a different offset/ld (offS ${offS}, offO ${offO})`);
  }
  softmaxRowsBase(rows, cols, S, offS, ldS, O, offO, ldO, lse, offLse);
}

/**
 * Unchecked softmax backward on a row block: O = F∘G − r·F with r[i] = Σ_j F[i,j] G[i,j], or
 * r[i] = rowDot[offRowDot + i] when `rowDot` is given (e.g. from the identity
 * rowsum(F∘(C Hᵀ))_i = C_i·(F H)_i). O may alias F or G (same offset and ld).
 */
export function jrowBase(
  rows: number,
  cols: number,
  F: Float64Array,
  offF: number,
  ldF: number,
  G: Float64Array,
  offG: number,
  ldG: number,
  O: Float64Array,
  offO: number,
  ldO: number,
  rowDot?: Float64Array | null,
  offRowDot = 0,
): void {
  for (let i = 0; i < rows; i++) {
    const f0 = offF + i * ldF,
      g0 = offG + i * ldG,
      o0 = offO + i * ldO;
    let r: number;
    if (rowDot) r = rowDot[offRowDot + i]!;
    else {
      r = 0;
      for (let j = 0; j < cols; j++) r += F[f0 + j]! * G[g0 + j]!;
    }
    for (let j = 0; j < cols; j++) {
      const f = F[f0 + j]!;
      O[o0 + j] = f * (G[g0 + j]! - r);
    }
  }
}

/**
 * Checked softmax backward (see {@link jrowBase}). Example: P = Jrow(F, Q) for an m×n block,
 * `jrow(m, n, F, 0, n, Q, 0, n, P, 0, n)`.
 */
export function jrow(
  rows: number,
  cols: number,
  F: Float64Array,
  offF: number,
  ldF: number,
  G: Float64Array,
  offG: number,
  ldG: number,
  O: Float64Array,
  offO: number,
  ldO: number,
  rowDot?: Float64Array | null,
  offRowDot = 0,
): void {
  checkInt('jrow', 'rows', rows, 0);
  checkInt('jrow', 'cols', cols, 0);
  checkMatrix('jrow', 'F', F, rows, cols, offF, ldF);
  checkMatrix('jrow', 'G', G, rows, cols, offG, ldG);
  checkMatrix('jrow', 'O', O, rows, cols, offO, ldO);
  if (rowDot) checkMatrix('jrow', 'rowDot', rowDot, rows, 1, offRowDot, 1);
  jrowBase(rows, cols, F, offF, ldF, G, offG, ldG, O, offO, ldO, rowDot, offRowDot);
}
