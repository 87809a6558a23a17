/**
 * Queries of the dynamic structure: an entry or a row of softmax(Q Kᵀ) V for the current Q, K, V.
 * The stored row (shift m, ell, N from the snapshot) is corrected with the pending log in
 * O(#pending) — O(#pending + #touched·d) in 'keys' mode, where the old logit of a touched key is
 * recomputed as Q[i]·K₀[r]. When cancellation makes the corrected value inaccurate (its error
 * estimate exceeds errTol, e.g. the dominant key pushed down) the row is computed exactly in
 * O(nd) instead (a "fallback"). Rows the background rebuild has passed use the plan's snapshot.
 */
import { dgemmBase, expShiftSum } from '../kernels/index.js';
import { KIND_K, type UpdateLog } from './update-log.js';
import type { Background, RowState } from './types.js';

/** Answers queries over a structure's row state and pending log. */
export class RowQueries {
  /** Per touched key: Σ δ·Q[i, c] of its K updates, old logit, new logit (scratch, grown with the log). */
  private acc = new Float64Array(0);
  private s0buf = new Float64Array(0);
  private s1buf = new Float64Array(0);
  private readonly rowBuf: Float64Array;
  /** Normaliser Σ exp(s − m') of the row being queried, and its error magnitude (set by weigh). */
  private L = 0;
  private mag = 0;

  /** `counters.fallbacks` counts the queries answered by the exact row computation. */
  constructor(
    private readonly s: RowState,
    private readonly log: UpdateLog,
    private readonly bg: Background,
    private readonly counters: { fallbacks: number },
  ) {
    this.rowBuf = new Float64Array(Math.max(s.n, s.d));
  }

  /** Entry (softmax(Q Kᵀ) V)[i, j]; indices already checked. */
  entry(i: number, j: number): number {
    const s = this.s,
      d = s.d,
      ns = this.log.slots;
    if (ns === 0) return s.N[i * d + j]! / s.ell[i]!;
    const frozen = this.frozenRow(i);
    const sc = this.weigh(i, frozen);
    let num = s.N[i * d + j]! * sc;
    const V = s.V,
      slotKeys = this.log.slotKeys;
    for (let t = 0; t < ns; t++) {
      const r = slotKeys[t]!;
      const [V0, o0] = this.v0Ref(r, frozen);
      num += this.s1buf[t]! * V[r * d + j]! - this.s0buf[t]! * V0[o0 + j]!;
    }
    if (!this.accurate()) {
      this.exactRow(i, this.rowBuf, j);
      return this.rowBuf[0]!;
    }
    return num / this.L;
  }

  /** Row i of softmax(Q Kᵀ) V (length d); index already checked. */
  row(i: number): Float64Array {
    const s = this.s,
      d = s.d,
      ns = this.log.slots;
    const out = new Float64Array(d);
    if (ns === 0) {
      const L = s.ell[i]!;
      for (let c = 0; c < d; c++) out[c] = s.N[i * d + c]! / L;
      return out;
    }
    const frozen = this.frozenRow(i);
    const sc = this.weigh(i, frozen);
    for (let c = 0; c < d; c++) out[c] = s.N[i * d + c]! * sc;
    const V = s.V,
      slotKeys = this.log.slotKeys;
    for (let t = 0; t < ns; t++) {
      const r = slotKeys[t]!;
      const a = this.s0buf[t]!,
        b = this.s1buf[t]!;
      const [V0, o0] = this.v0Ref(r, frozen);
      for (let c = 0; c < d; c++) out[c] += b * V[r * d + c]! - a * V0[o0 + c]!;
    }
    if (!this.accurate()) {
      this.exactRow(i, out, -1);
      return out;
    }
    const L = this.L;
    for (let c = 0; c < d; c++) out[c] /= L;
    return out;
  }

  /**
   * Correct row i's normaliser with the pending log: sets {@link L} and {@link mag}, leaves the
   * old / new weights exp(s − m') of each touched key in s0buf / s1buf, and returns the factor
   * e^{m−m'} by which the stored row is rescaled to the new shift m'.
   */
  private weigh(i: number, frozen: boolean): number {
    const s = this.s,
      ns = this.log.slots,
      slotK = this.log.slotK;
    const mNew = this.correctRow(i, frozen);
    const sc = Math.exp(s.m[i]! - mNew);
    let L = s.ell[i]! * sc;
    let mag = s.amp[i]! * L;
    for (let t = 0; t < ns; t++) {
      const a = Math.exp(this.s0buf[t]! - mNew);
      let b = a;
      if (slotK[t]) {
        b = Math.exp(this.s1buf[t]! - mNew);
        L += b - a;
        mag += a + b;
      }
      this.s0buf[t] = a;
      this.s1buf[t] = b;
    }
    this.L = L;
    this.mag = mag;
    return sc;
  }

  /** False (and a fallback counted) when the corrected row is not accurate enough: cancellation. */
  private accurate(): boolean {
    if (this.L > 0 && this.mag <= this.L * this.s.ampLimit) return true;
    this.counters.fallbacks++;
    return false;
  }

  /** True when row i already reflects the running background rebuild (its snapshot is the plan's). */
  private frozenRow(i: number): boolean {
    return this.bg.plan !== null && i < this.bg.done;
  }

  /** Snapshot logit of row i, key r (the plan's key rows for rows the background rebuild has passed). */
  private logit0(i: number, r: number, frozen: boolean): number {
    const s = this.s;
    if (s.ST) return s.ST[r * s.n + i]!;
    const d = s.d,
      Q = s.Q;
    let K0 = s.K0,
      off = r * d;
    if (frozen) {
      const ps = this.bg.planSlot[r]!;
      if (ps >= 0 && this.bg.plan!.keyChanged[ps]) {
        K0 = this.bg.plan!.KR;
        off = ps * d;
      }
    }
    let x = 0;
    for (let c = 0; c < d; c++) x += Q[i * d + c]! * K0[off + c]!;
    return x;
  }

  /** Snapshot value row of key r for row i's reference: [array, offset]. */
  private v0Ref(r: number, frozen: boolean): [Float64Array, number] {
    if (frozen) {
      const ps = this.bg.planSlot[r]!;
      if (ps >= 0) return [this.bg.plan!.VR, (this.bg.plan!.keys.length + ps) * this.s.d];
    }
    return [this.s.V0, r * this.s.d];
  }

  /** Fill s0buf/s1buf for row i from the pending log; returns the new shift. */
  private correctRow(i: number, frozen: boolean): number {
    const log = this.log,
      ns = log.slots,
      d = this.s.d,
      Q = this.s.Q;
    if (this.acc.length < log.capacity) {
      this.acc = new Float64Array(log.capacity);
      this.s0buf = new Float64Array(log.capacity);
      this.s1buf = new Float64Array(log.capacity);
    }
    const acc = this.acc;
    acc.fill(0, 0, ns);
    for (let k = frozen ? this.bg.logStart : 0; k < log.length; k++) {
      if (log.kind[k] === KIND_K) acc[log.slotOf[log.row[k]!]!] += log.delta[k]! * Q[i * d + log.col[k]!]!;
    }
    let mNew = this.s.m[i]!;
    for (let t = 0; t < ns; t++) {
      const s0 = this.logit0(i, log.slotKeys[t]!, frozen);
      const s1 = log.slotK[t] ? s0 + acc[t]! : s0;
      this.s0buf[t] = s0;
      this.s1buf[t] = s1;
      if (s1 > mNew) mNew = s1;
    }
    return mNew;
  }

  /**
   * Exact softmax row i of the current state: logits Q[i]·K[r] for all r (O(nd)), stable
   * softmax, times V (column j only when j ≥ 0, written to out[0]; else the whole row to out).
   */
  private exactRow(i: number, out: Float64Array, j: number): void {
    const s = this.s,
      n = s.n,
      d = s.d,
      z = new Float64Array(n);
    dgemmBase(false, true, 1, n, d, 1, s.Q, i * d, d, s.K, 0, d, 0, z, 0, n);
    let mx = -Infinity;
    for (let r = 0; r < n; r++) if (z[r]! > mx) mx = z[r]!;
    const L = expShiftSum(n, z, 0, mx, z, 0);
    if (j >= 0) {
      let num = 0;
      for (let r = 0; r < n; r++) num += z[r]! * s.V[r * d + j]!;
      out[0] = num / L;
    } else {
      dgemmBase(false, false, 1, d, n, 1 / L, z, 0, n, s.V, 0, d, 0, out, 0, d);
    }
  }
}
