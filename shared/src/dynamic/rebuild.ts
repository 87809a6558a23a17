/**
 * Rebuilds of the dynamic structure, in three steps: gather a plan from the pending log (the
 * touched keys and their rows), update rows [r0, r1) against it — rows are independent given a
 * plan, so ranges may run on different threads over shared state — and commit the snapshot
 * (K₀, V₀ catch up). Also the exact (re)build of rows from scratch, and the pure split of a
 * rebuild's rows into shards.
 */
import { ErrorCodes, inputError } from '../core/index.js';
import { dgemmBase, expShiftSum, vexpBase } from '../kernels/index.js';
import { DYNAMIC_DEFAULTS } from './defaults.js';
import type { UpdateLog } from './update-log.js';
import type { RebuildPlan, RowState } from './types.js';

/**
 * Rows per rebuild block: bounded by the scratch budget (blockElems float64 per block; a full
 * rebuild needs n per row, an incremental one 4|R|) and by rebuildBlockRows.
 */
export function rebuildBlockRows(n: number, full: boolean, keys: number): number {
  const perRow = full ? n : 4 * Math.max(1, keys);
  return Math.max(1, Math.min(DYNAMIC_DEFAULTS.rebuildBlockRows, Math.floor(DYNAMIC_DEFAULTS.blockElems / perRow)));
}

/**
 * Split rows [0, n) into at most `parts` contiguous ranges whose inner boundaries are multiples
 * of `blockRows` (whole row blocks, balanced to within one block), in row order. Pure; the
 * split of a rebuild across threads. Example: `planRebuildShards(512, 128, 2)` → [[0,256],[256,512]].
 * Throws AttnfitError BAD_OPTION naming the argument for non-integers or values < 1 (n ≥ 0).
 */
export function planRebuildShards(n: number, blockRows: number, parts: number): Array<[number, number]> {
  if (!Number.isInteger(n) || n < 0) throw inputError(ErrorCodes.BAD_OPTION, 'n', n, 'must be an integer >= 0');
  if (!Number.isInteger(blockRows) || blockRows < 1)
    throw inputError(ErrorCodes.BAD_OPTION, 'blockRows', blockRows, 'must be an integer >= 1');
  if (!Number.isInteger(parts) || parts < 1)
    throw inputError(ErrorCodes.BAD_OPTION, 'parts', parts, 'must be an integer >= 1');
  const blocks = Math.ceil(n / blockRows),
    p = Math.min(parts, blocks);
  const out: Array<[number, number]> = [];
  for (let k = 0; k < p; k++) {
    const b0 = Math.floor((k * blocks) / p),
      b1 = Math.floor(((k + 1) * blocks) / p);
    out.push([b0 * blockRows, Math.min(n, b1 * blockRows)]);
  }
  return out;
}

/** Step 1: the plan of the pending log's touched keys (O(|R|d)). */
export function gatherPlan(s: RowState, log: UpdateLog, full: boolean): RebuildPlan {
  const k = log.slots,
    d = s.d;
  const keys = log.slotKeys.slice(0, k),
    keyChanged = log.slotK.slice(0, k);
  const KR = new Float64Array(k * d),
    K0R = new Float64Array(k * d),
    VR = new Float64Array(2 * k * d);
  for (let t = 0; t < k; t++) {
    const r = keys[t]!;
    KR.set(s.K.subarray(r * d, r * d + d), t * d);
    K0R.set(s.K0.subarray(r * d, r * d + d), t * d);
    VR.set(s.V0.subarray(r * d, r * d + d), t * d);
    VR.set(s.V.subarray(r * d, r * d + d), (k + t) * d);
  }
  return { keys, keyChanged, KR, K0R, VR, full, blockRows: rebuildBlockRows(s.n, full, k) };
}

/** Step 3: the snapshot keys/values K₀, V₀ catch up with a plan. */
export function commitSnapshot(s: RowState, plan: RebuildPlan): void {
  const d = s.d;
  if (plan.full) {
    s.K0.set(s.K);
    s.V0.set(s.V);
    return;
  }
  const k = plan.keys.length;
  for (let t = 0; t < k; t++) {
    const r = plan.keys[t]!;
    s.K0.set(plan.KR.subarray(t * d, t * d + d), r * d);
    s.V0.set(plan.VR.subarray((k + t) * d, (k + t) * d + d), r * d);
  }
}

/** Step 2 and exact builds of rows, with reusable scratch. */
export class RowRebuilder {
  /** Rebuild scratch (reused, grows on demand) so steady-state updates allocate nothing big. */
  private work = new Float64Array(0);

  constructor(private readonly s: RowState) {}

  /**
   * Update rows [r0, r1) of the shifts, ell, N (and the snapshot columns of the touched keys).
   * Incremental: S1 = Q[rows]·K[R]ᵀ exactly, raise shifts, then N ← N·e^{m−m'} + [−A | B]·[V₀[R]; V[R]]
   * as one rectangular product; rows whose error estimate exceeds errTol are recomputed exactly
   * (O(nd) each). Rows are processed in blocks aligned to multiples of `B`, so calls on disjoint
   * ranges split at such multiples give bitwise the state of one call. Returns the rows repaired.
   * (One loop over blocks with four phases that share the block's scratch: kept together.)
   */
  rows(plan: RebuildPlan, r0: number, r1: number, B: number): number {
    const k = plan.keys.length;
    if (plan.full) {
      this.build(r0, r1, B);
      return 0;
    }
    if (k === 0) return 0;
    const s = this.s,
      n = s.n,
      d = s.d,
      ST = s.ST;
    let repairs = 0;
    const blk = Math.min(B, r1 - r0) * k;
    if (this.work.length < 4 * blk) this.work = new Float64Array(4 * blk);
    const S1 = this.work.subarray(0, blk),
      S0 = this.work.subarray(blk, 2 * blk),
      W = this.work.subarray(2 * blk, 4 * blk);
    for (let b0 = r0; b0 < r1;) {
      const b1 = Math.min(r1, (Math.floor(b0 / B) + 1) * B),
        nb = b1 - b0;
      dgemmBase(false, true, nb, k, d, 1, s.Q, b0 * d, d, plan.KR, 0, d, 0, S1, 0, k);
      if (ST) {
        // gather the old logit columns (contiguous in the transposed snapshot), write the new ones
        for (let t = 0; t < k; t++) {
          const base = plan.keys[t]! * n,
            changed = plan.keyChanged[t];
          for (let i = b0; i < b1; i++) {
            const o = (i - b0) * k + t;
            S0[o] = ST[base + i]!;
            if (changed) ST[base + i] = S1[o]!;
          }
        }
      } else {
        dgemmBase(false, true, nb, k, d, 1, s.Q, b0 * d, d, plan.K0R, 0, d, 0, S0, 0, k);
      }
      // raise the shifts, then all 2·nb·k exponentials of the block in one vectorised call
      for (let i = b0; i < b1; i++) {
        const o = (i - b0) * k,
          w = (i - b0) * 2 * k;
        let mNew = s.m[i]!;
        for (let t = 0; t < k; t++) if (plan.keyChanged[t] && S1[o + t]! > mNew) mNew = S1[o + t]!;
        for (let t = 0; t < k; t++) {
          W[w + t] = S0[o + t]! - mNew;
          W[w + k + t] = (plan.keyChanged[t] ? S1[o + t]! : S0[o + t]!) - mNew;
        }
        S1[o] = mNew; // S1 row no longer needed: keep the new shift there
      }
      vexpBase(W, 0, nb * 2 * k, W, 0);
      for (let i = b0; i < b1; i++) {
        const o = (i - b0) * k,
          w = (i - b0) * 2 * k;
        const mi = s.m[i]!,
          mNew = S1[o]!;
        const sc = mNew === mi ? 1 : Math.exp(mi - mNew);
        let L = s.ell[i]! * sc;
        let mag = s.amp[i]! * L;
        for (let t = 0; t < k; t++) {
          const a = W[w + t]!;
          if (plan.keyChanged[t]) {
            const b = W[w + k + t]!;
            L += b - a;
            mag += a + b;
          }
          W[w + t] = -a;
        }
        if (sc !== 1) for (let c = 0; c < d; c++) s.N[i * d + c] *= sc;
        s.m[i] = mNew;
        s.ell[i] = L;
        s.amp[i] = mag / L;
      }
      dgemmBase(false, false, nb, d, 2 * k, 1, W, 0, 2 * k, plan.VR, 0, d, 1, s.N, b0 * d, d);
      for (let i = b0; i < b1; i++) {
        const L = s.ell[i]!;
        if (!(L > 0) || !(s.amp[i]! <= s.ampLimit)) {
          repairs++;
          const ref = this.planRefs(plan);
          this.build(i, i + 1, 1, ref.K, ref.V);
        }
      }
      b0 = b1;
    }
    return repairs;
  }

  /**
   * Exact (re)computation of rows [r0, r1) from Q and the given K, V (default current):
   * O((r1−r0)·n·d), in blocks aligned to multiples of B rows.
   */
  build(r0: number, r1: number, B: number, Kref: Float64Array = this.s.K, Vref: Float64Array = this.s.V): void {
    const s = this.s,
      n = s.n,
      d = s.d;
    if (r1 <= r0) return;
    const E = new Float64Array(Math.min(B, r1 - r0) * n);
    for (let b0 = r0; b0 < r1;) {
      const b1 = Math.min(r1, (Math.floor(b0 / B) + 1) * B),
        nb = b1 - b0;
      dgemmBase(false, true, nb, n, d, 1, s.Q, b0 * d, d, Kref, 0, d, 0, E, 0, n);
      const ST = s.ST;
      if (ST) for (let r = 0; r < n; r++) for (let i = 0; i < nb; i++) ST[r * n + b0 + i] = E[i * n + r]!;
      for (let i = 0; i < nb; i++) {
        let mx = -Infinity;
        for (let r = 0; r < n; r++) if (E[i * n + r]! > mx) mx = E[i * n + r]!;
        const L = expShiftSum(n, E, i * n, mx, E, i * n);
        s.m[b0 + i] = mx;
        s.ell[b0 + i] = L;
        s.amp[b0 + i] = 1;
      }
      dgemmBase(false, false, nb, d, n, 1, E, 0, n, Vref, 0, d, 0, s.N, b0 * d, d);
      b0 = b1;
    }
  }

  /** Snapshot K/V after a plan (K₀/V₀ with the plan's key rows replaced), materialised once per plan. */
  private planRefs(plan: RebuildPlan): { K: Float64Array; V: Float64Array } {
    if (!plan.Kref || !plan.Vref) {
      const d = this.s.d,
        k = plan.keys.length;
      const K = this.s.K0.slice(),
        V = this.s.V0.slice();
      for (let t = 0; t < k; t++) {
        const r = plan.keys[t]!;
        K.set(plan.KR.subarray(t * d, t * d + d), r * d);
        V.set(plan.VR.subarray((k + t) * d, (k + t) * d + d), r * d);
      }
      plan.Kref = K;
      plan.Vref = V;
    }
    return { K: plan.Kref, V: plan.Vref };
  }
}
