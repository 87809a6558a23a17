/**
 * Dynamic attention maintenance (van den Brand, Song, Zhou, arXiv 2304.02207; docs/design.md §2):
 * keep softmax(Q Kᵀ) V exactly queryable while single entries of K and V change.
 *
 * State: current Q, K, V; snapshot keys/values K₀, V₀ from the last rebuild; in 'snapshot' mode
 * the logits S = Q K₀ᵀ (n×n, 8n² bytes); per row a shift m ≥ row max, ell = Σ_r exp(S − m),
 * N = exp(S − m)·V₀ (n×d) and an amplification factor `amp` (error estimate = amp·ε relative
 * to the output scale); a pending log of (kind, key row, column, δ) and the distinct keys it
 * touches. Updates are O(1); the log is flushed by an incremental rebuild when it reaches
 * T = ⌈n^τ⌉ updates (an entry or a token-row edit each). A query corrects the stored row with the pending log in O(#pending)
 * (snapshot mode) and falls back to an exact O(n) / O(nd) row computation when cancellation
 * (e.g. the dominant key pushed down) makes the corrected value inaccurate.
 *
 * 'keys' mode stores no n×n matrix: the old logit of a touched key is recomputed as Q[i]·K₀[r]
 * (O(d) per touched key per query) and rebuilds recompute Q·K₀[R]ᵀ as well.
 *
 * This file holds the public class (validation, updates, the rebuild policy, stats); its parts:
 * update-log.ts (the pending log), query.ts (corrected and exact row queries), rebuild.ts (plan,
 * row updates, commit), types.ts.
 */
import { AttnfitError, ErrorCodes, formatValue, inputError } from '../core/index.js';
import { DYNAMIC_DEFAULTS } from './defaults.js';
import { RowQueries } from './query.js';
import { RowRebuilder, commitSnapshot, gatherPlan, rebuildBlockRows } from './rebuild.js';
import { KIND_K, KIND_V, LOG_BYTES_PER_ENTRY, UpdateLog } from './update-log.js';
import type {
  Background,
  DynamicMode,
  DynamicOptions,
  DynamicSharedState,
  DynamicStats,
  RebuildPlan,
  RowState,
  StateArrays,
} from './types.js';

const EPS = 2 ** -52;

const badOp = (field: string, value: unknown, what: string): AttnfitError =>
  inputError(ErrorCodes.BAD_OP, field, value, what);
const badOption = (field: string, value: unknown, what: string): AttnfitError =>
  inputError(ErrorCodes.BAD_OPTION, field, value, what);

/** Resolve the memory mode for an n-row problem ('auto' → snapshot while 8n² ≤ snapshotMaxBytes). */
export function pickDynamicMode(
  n: number,
  mode: DynamicMode | 'auto' = 'auto',
  snapshotMaxBytes: number = DYNAMIC_DEFAULTS.snapshotMaxBytes,
): DynamicMode {
  if (mode === 'snapshot' || mode === 'keys') return mode;
  return 8 * n * n <= snapshotMaxBytes ? 'snapshot' : 'keys';
}

/** Rebuild threshold T = ⌈n^τ⌉ (at least 1). */
export function dynamicThreshold(n: number, tau: number): number {
  return Math.max(1, Math.ceil(Math.pow(n, tau) - 1e-9));
}

function sharedF64(len: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(len * 8));
}

/** Validated options of {@link DynamicAttention.init}. */
interface ResolvedOptions {
  mode: DynamicMode;
  threshold: number;
  errTol: number;
  deamortize: boolean;
  shared: boolean;
  autoRebuild: boolean;
}

/** Check Q, K, V (n×d finite Float64Arrays); EMPTY / BAD_DTYPE / SHAPE_MISMATCH / NON_FINITE naming the argument. */
function checkInputs(Q: Float64Array, K: Float64Array, V: Float64Array, n: number, d: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new AttnfitError(ErrorCodes.EMPTY, `n: must be an integer >= 1 (got ${formatValue(n)})`);
  if (!Number.isInteger(d) || d < 1)
    throw new AttnfitError(ErrorCodes.EMPTY, `d: must be an integer >= 1 (got ${formatValue(d)})`);
  for (const [name, a] of [
    ['Q', Q],
    ['K', K],
    ['V', V],
  ] as const) {
    if (!(a instanceof Float64Array))
      throw new AttnfitError(
        ErrorCodes.BAD_DTYPE,
        `${name}: must be a Float64Array (got ${Object.prototype.toString.call(a)})`,
      );
    if (a.length !== n * d)
      throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `${name}: length must be n*d = ${n * d} (got ${a.length})`, {
        details: { field: name, value: a.length },
      });
    for (let k = 0; k < a.length; k++) {
      if (!Number.isFinite(a[k]!))
        throw new AttnfitError(
          ErrorCodes.NON_FINITE,
          `${name}[${Math.floor(k / d)},${k % d}]: must be finite (got ${a[k]})`,
          { details: { field: name, value: String(a[k]) } },
        );
    }
  }
}

/** Validate the options (BAD_OPTION naming the field) and fill in the defaults. */
function resolveOptions(n: number, opts: DynamicOptions): ResolvedOptions {
  const tau = opts.tau ?? DYNAMIC_DEFAULTS.tau;
  if (typeof tau !== 'number' || !Number.isFinite(tau) || tau < 0 || tau > 1)
    throw badOption('tau', tau, 'must be a number in [0, 1]');
  let threshold = dynamicThreshold(n, tau);
  if (opts.threshold !== undefined) {
    if (!Number.isInteger(opts.threshold) || opts.threshold < 1)
      throw badOption('threshold', opts.threshold, 'must be an integer >= 1');
    threshold = opts.threshold;
  }
  const errTol = opts.errTol ?? DYNAMIC_DEFAULTS.errTol;
  if (typeof errTol !== 'number' || !(errTol > 0)) throw badOption('errTol', errTol, 'must be a number > 0');
  const modeIn = opts.mode ?? 'auto';
  if (modeIn !== 'auto' && modeIn !== 'snapshot' && modeIn !== 'keys')
    throw badOption('mode', modeIn, 'must be one of snapshot, keys, auto');
  const mode = pickDynamicMode(n, modeIn, opts.snapshotMaxBytes ?? DYNAMIC_DEFAULTS.snapshotMaxBytes);
  const deamortize = opts.deamortize ?? false;
  if (typeof deamortize !== 'boolean') throw badOption('deamortize', deamortize, 'must be a boolean');
  const shared = opts.shared ?? false;
  if (typeof shared !== 'boolean') throw badOption('shared', shared, 'must be a boolean');
  if (shared && typeof SharedArrayBuffer !== 'function')
    throw badOption('shared', shared, 'SharedArrayBuffer is not available in this runtime');
  const autoRebuild = opts.autoRebuild ?? true;
  if (typeof autoRebuild !== 'boolean') throw badOption('autoRebuild', autoRebuild, 'must be a boolean');
  if (!autoRebuild && deamortize)
    throw badOption(
      'autoRebuild',
      autoRebuild,
      'cannot be false with deamortize: true (de-amortised rebuilds advance on updates)',
    );
  return { mode, threshold, errTol, deamortize, shared, autoRebuild };
}

/** Check a posted shared state (BAD_OPTION / SHAPE_MISMATCH naming the field) and take its arrays. */
function sharedArrays(state: DynamicSharedState): StateArrays {
  if (state === null || typeof state !== 'object')
    throw badOption('state', state, 'must be a DynamicSharedState object');
  const { n, d, mode, threshold, errTol } = state;
  if (!Number.isInteger(n) || n < 1) throw badOption('state.n', n, 'must be an integer >= 1');
  if (!Number.isInteger(d) || d < 1) throw badOption('state.d', d, 'must be an integer >= 1');
  if (mode !== 'snapshot' && mode !== 'keys') throw badOption('state.mode', mode, 'must be snapshot or keys');
  if (!Number.isInteger(threshold) || threshold < 1)
    throw badOption('state.threshold', threshold, 'must be an integer >= 1');
  if (typeof errTol !== 'number' || !(errTol > 0)) throw badOption('state.errTol', errTol, 'must be a number > 0');
  const want: Array<[keyof StateArrays, number]> = [
    ['Q', n * d],
    ['K', n * d],
    ['V', n * d],
    ['K0', n * d],
    ['V0', n * d],
    ['m', n],
    ['ell', n],
    ['amp', n],
    ['N', n * d],
  ];
  if (mode === 'snapshot') want.push(['ST', n * n]);
  for (const [f, len] of want) {
    const a = state[f];
    if (!(a instanceof Float64Array) || !(a.buffer instanceof SharedArrayBuffer))
      throw badOption(
        `state.${f}`,
        a === null ? null : Object.prototype.toString.call(a),
        'must be a Float64Array on a SharedArrayBuffer',
      );
    if (a.length !== len)
      throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `state.${f}: length must be ${len} (got ${a.length})`, {
        details: { field: `state.${f}`, value: a.length },
      });
  }
  return {
    Q: state.Q,
    K: state.K,
    V: state.V,
    K0: state.K0,
    V0: state.V0,
    ST: mode === 'snapshot' ? state.ST : null,
    m: state.m,
    ell: state.ell,
    amp: state.amp,
    N: state.N,
  };
}

/**
 * The lazy dynamic attention structure. Example:
 * ```ts
 * const da = DynamicAttention.init(Q, K, V, n, d, { tau: 0.5 });
 * da.updateK(3, 1, 0.25);          // K[3,1] += 0.25, O(1)
 * const y = da.query(0, 2);        // (softmax(Q Kᵀ) V)[0,2], exact
 * ```
 */
export class DynamicAttention {
  readonly n: number;
  readonly d: number;
  readonly mode: DynamicMode;
  /** Rebuild threshold T (updates; a token-row edit counts as one). */
  readonly threshold: number;
  readonly errTol: number;
  /** True when rebuilds are de-amortised (see {@link DynamicOptions.deamortize}). */
  readonly deamortized: boolean;

  /** True when the row-indexed state lives in SharedArrayBuffers (see {@link DynamicOptions.shared}). */
  readonly shared: boolean;
  /** False when the owner triggers rebuilds itself (see {@link DynamicOptions.autoRebuild}). */
  readonly autoRebuild: boolean;

  /** Sizes and the row-indexed arrays (private, or views of shared memory). */
  private readonly s: RowState;
  private readonly log: UpdateLog;
  /** Update operations (entry or token-row edits) since the last rebuild started: the rebuild trigger. */
  private pendingOps = 0;
  /** De-amortised background rebuild: plan, rows done, log entries it covers, key → plan slot. */
  private readonly bg: Background;
  private readonly rowsPerStep: number;
  private readonly queries: RowQueries;
  private readonly rebuilder: RowRebuilder;

  private readonly counters = { updates: 0, queries: 0, rebuilds: 0, fullRebuilds: 0, repairs: 0, fallbacks: 0 };

  private constructor(a: StateArrays, n: number, d: number, o: ResolvedOptions) {
    this.n = n;
    this.d = d;
    this.mode = o.mode;
    this.threshold = o.threshold;
    this.errTol = o.errTol;
    this.deamortized = o.deamortize;
    this.shared = o.shared;
    this.autoRebuild = o.autoRebuild;
    this.bg = { plan: null, done: 0, logStart: 0, planSlot: new Int32Array(o.deamortize ? n : 0).fill(-1) };
    this.rowsPerStep = Math.ceil(n / o.threshold);
    this.s = { ...a, n, d, ampLimit: o.errTol / EPS };
    this.log = new UpdateLog(n, Math.max(16, o.threshold + d));
    this.queries = new RowQueries(this.s, this.log, this.bg, this.counters);
    this.rebuilder = new RowRebuilder(this.s);
  }

  /**
   * Build the structure from Q, K, V (n×d row-major float64; copied, the caller's arrays are not
   * touched). Cost O(n²d) (one full build). Throws AttnfitError SHAPE_MISMATCH / EMPTY /
   * NON_FINITE / BAD_OPTION naming the argument and the value.
   */
  static init(
    Q: Float64Array,
    K: Float64Array,
    V: Float64Array,
    n: number,
    d: number,
    opts: DynamicOptions = {},
  ): DynamicAttention {
    checkInputs(Q, K, V, n, d);
    const o = resolveOptions(n, opts);
    const alloc = o.shared ? sharedF64 : (len: number) => new Float64Array(len);
    const copy = (src: Float64Array) => {
      const x = alloc(n * d);
      x.set(src);
      return x;
    };
    const arrays: StateArrays = {
      Q: copy(Q),
      K: copy(K),
      V: copy(V),
      K0: copy(K),
      V0: copy(V),
      ST: o.mode === 'snapshot' ? alloc(n * n) : null,
      m: alloc(n),
      ell: alloc(n),
      amp: alloc(n),
      N: alloc(n * d),
    };
    const da = new DynamicAttention(arrays, n, d, o);
    da.rebuilder.build(0, n, rebuildBlockRows(n, true, 0));
    return da;
  }

  /**
   * The shared state of a structure built with `shared: true` (throws AttnfitError BAD_OPTION
   * otherwise): post it to another thread and {@link attachShared} there.
   */
  sharedState(): DynamicSharedState {
    if (!this.shared) throw badOption('shared', false, 'sharedState() needs a structure built with { shared: true }');
    const s = this.s;
    return {
      n: this.n,
      d: this.d,
      mode: this.mode,
      threshold: this.threshold,
      errTol: this.errTol,
      Q: s.Q,
      K: s.K,
      V: s.V,
      K0: s.K0,
      V0: s.V0,
      ST: s.ST,
      m: s.m,
      ell: s.ell,
      amp: s.amp,
      N: s.N,
    };
  }

  /**
   * A view of another thread's shared structure (no copy, no build), for running
   * {@link rebuildRows} on a row range of the owner's plan. The view has its own (empty) update
   * log: use it only for rebuildRows while the owner waits between prepareRebuild and
   * commitRebuild. Throws AttnfitError BAD_OPTION / SHAPE_MISMATCH naming the field.
   * Example (helper thread): `DynamicAttention.attachShared(state).rebuildRows(plan, r0, r1)`.
   */
  static attachShared(state: DynamicSharedState): DynamicAttention {
    const a = sharedArrays(state);
    const { n, d, mode, threshold, errTol } = state;
    return new DynamicAttention(a, n, d, {
      mode,
      threshold,
      errTol,
      deamortize: false,
      shared: true,
      autoRebuild: false,
    });
  }

  /** True when the pending updates reached the threshold T and a rebuild is due (only stays true with autoRebuild: false). */
  get rebuildDue(): boolean {
    return !this.deamortized && this.log.length > 0 && this.pendingOps >= this.threshold;
  }

  // ---------------------------------------------------------------- updates

  private checkKey(r: number): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.n)
      throw badOp('i', r, `row index must be an integer in [0, ${this.n - 1}]`);
  }
  private checkCol(c: number): void {
    if (!Number.isInteger(c) || c < 0 || c >= this.d)
      throw badOp('j', c, `column index must be an integer in [0, ${this.d - 1}]`);
  }
  private checkDelta(x: number, field = 'delta'): void {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw badOp(field, x, 'must be a finite number');
  }

  /** Rebuild policy after an update: synchronous at T, or start/advance the background rebuild. */
  private afterUpdate(): void {
    this.pendingOps++;
    if (!this.deamortized) {
      if (this.autoRebuild && this.pendingOps >= this.threshold) this.rebuild();
      return;
    }
    const bg = this.bg;
    if (!bg.plan && this.pendingOps >= this.threshold) {
      const plan = this.prepareRebuild({}, false);
      bg.plan = plan;
      bg.done = 0;
      bg.logStart = this.log.length;
      this.pendingOps = 0;
      for (let t = 0; t < plan.keys.length; t++) bg.planSlot[plan.keys[t]!] = t;
    }
    if (bg.plan) this.stepBackground(this.rowsPerStep);
  }

  private stepBackground(rows: number): void {
    const bg = this.bg,
      plan = bg.plan!;
    const r1 = Math.min(this.n, bg.done + rows);
    this.rebuildRows(plan, bg.done, r1);
    bg.done = r1;
    if (r1 < this.n) return;
    for (const r of plan.keys) bg.planSlot[r] = -1;
    bg.plan = null;
    bg.done = 0;
    this.commitSnapshot(plan);
    this.log.dropPrefix(bg.logStart);
    bg.logStart = 0;
  }

  /** K[r,c] += δ. O(1) amortised; flushes the log (rebuild) after T updates. */
  updateK(r: number, c: number, delta: number): void {
    this.entryUpdate(KIND_K, r, c, delta);
  }

  /** V[r,c] += δ. O(1) amortised. */
  updateV(r: number, c: number, delta: number): void {
    this.entryUpdate(KIND_V, r, c, delta);
  }

  private entryUpdate(kind: number, r: number, c: number, delta: number): void {
    this.checkKey(r);
    this.checkCol(c);
    this.checkDelta(delta);
    this.counters.updates++;
    if (delta === 0) return;
    (kind === KIND_K ? this.s.K : this.s.V)[r * this.d + c] += delta;
    this.log.push(kind, r, c, delta);
    this.afterUpdate();
  }

  /** K[r,c] = x (an update by x − K[r,c]). */
  setK(r: number, c: number, x: number): void {
    this.checkKey(r);
    this.checkCol(c);
    this.checkDelta(x, 'value');
    this.updateK(r, c, x - this.s.K[r * this.d + c]!);
  }

  /** V[r,c] = x (an update by x − V[r,c]). */
  setV(r: number, c: number, x: number): void {
    this.checkKey(r);
    this.checkCol(c);
    this.checkDelta(x, 'value');
    this.updateV(r, c, x - this.s.V[r * this.d + c]!);
  }

  private rowUpdate(kind: number, r: number, delta: ArrayLike<number>): void {
    this.checkKey(r);
    if (delta == null || typeof delta.length !== 'number' || delta.length !== this.d)
      throw badOp('delta', delta, `must be an array of d = ${this.d} numbers`);
    for (let c = 0; c < this.d; c++) this.checkDelta(delta[c]!, `delta[${c}]`);
    const M = kind === KIND_K ? this.s.K : this.s.V;
    this.counters.updates++;
    for (let c = 0; c < this.d; c++) {
      const x = delta[c]!;
      if (x === 0) continue;
      M[r * this.d + c] += x;
      this.log.push(kind, r, c, x);
    }
    this.afterUpdate();
  }

  /** K[r,:] += δrow (a token's key edited: d log entries, counted as one update). */
  updateKRow(r: number, deltaRow: ArrayLike<number>): void {
    this.rowUpdate(KIND_K, r, deltaRow);
  }

  /** V[r,:] += δrow (a token's value edited). */
  updateVRow(r: number, deltaRow: ArrayLike<number>): void {
    this.rowUpdate(KIND_V, r, deltaRow);
  }

  // ---------------------------------------------------------------- queries

  /**
   * Exact entry (softmax(Q Kᵀ) V)[i, j] of the current Q, K, V. O(#pending) in snapshot mode
   * (O(#pending + #touched·d) in keys mode); O(n) / O(nd) exact fallback on cancellation.
   */
  query(i: number, j: number): number {
    this.checkQueryRow(i);
    this.checkCol(j);
    this.counters.queries++;
    return this.queries.entry(i, j);
  }

  /** Exact row i of softmax(Q Kᵀ) V (length d). O(#pending + #touched·d); exact fallback on cancellation. */
  queryRow(i: number): Float64Array {
    this.checkQueryRow(i);
    this.counters.queries++;
    return this.queries.row(i);
  }

  private checkQueryRow(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.n)
      throw badOp('i', i, `query row must be an integer in [0, ${this.n - 1}]`);
  }

  // ---------------------------------------------------------------- rebuilds

  /** Flush the pending log: incremental rebuild (or a full one when most keys are touched). */
  rebuild(opts: { full?: boolean } = {}): void {
    if (this.bg.plan) this.stepBackground(this.n);
    if (this.log.length === 0 && !opts.full) return;
    const plan = this.prepareRebuild(opts);
    this.rebuildRows(plan, 0, this.n);
    this.commitRebuild(plan);
  }

  /**
   * Step 1 of a rebuild: gather the touched keys (O(|R|d)). The rows [r0, r1) can then be
   * processed independently by {@link rebuildRows} (e.g. sharded across threads when the
   * arrays are shared), and {@link commitRebuild} finishes.
   */
  prepareRebuild(opts: { full?: boolean } = {}, allowFull = true): RebuildPlan {
    if (this.bg.plan)
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        'prepareRebuild: a background rebuild is running (call rebuild() to finish it first)',
      );
    const full = !!opts.full || (allowFull && this.log.slots > DYNAMIC_DEFAULTS.fullRebuildFraction * this.n);
    return gatherPlan(this.s, this.log, full);
  }

  /**
   * Step 2 of a rebuild: update rows [r0, r1) of the shifts, ell, N (and the snapshot columns
   * of the touched keys). Incremental: S1 = Q[rows]·K[R]ᵀ exactly, raise shifts, then
   * N ← N·e^{m−m'} + [−A | B]·[V₀[R]; V[R]] as one rectangular product; rows whose error
   * estimate exceeds errTol are recomputed exactly (O(nd) each). Rows are processed in blocks
   * aligned to multiples of plan.blockRows, so calls on disjoint ranges split at such multiples
   * (possibly on different threads over shared state) give bitwise the state of one call.
   * Returns the number of rows repaired exactly (also added to this instance's stats).
   */
  rebuildRows(plan: RebuildPlan, r0: number, r1: number): number {
    if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 > this.n || r0 > r1)
      throw new RangeError(`rebuildRows: need 0 <= r0 <= r1 <= ${this.n} (got ${r0}, ${r1})`);
    const B =
      Number.isInteger(plan.blockRows) && plan.blockRows >= 1
        ? plan.blockRows
        : rebuildBlockRows(this.n, plan.full, plan.keys.length);
    const repairs = this.rebuilder.rows(plan, r0, r1, B);
    this.counters.repairs += repairs;
    return repairs;
  }

  /**
   * Step 3 of a rebuild: the snapshot keys/values catch up, the log is cleared. `done.repairs`:
   * rows repaired by rebuildRows calls on other threads' views (added to this instance's stats).
   */
  commitRebuild(plan: RebuildPlan, done: { repairs?: number } = {}): void {
    if (done.repairs !== undefined && Number.isInteger(done.repairs) && done.repairs > 0)
      this.counters.repairs += done.repairs;
    this.commitSnapshot(plan);
    this.log.clear();
    this.pendingOps = 0;
  }

  private commitSnapshot(plan: RebuildPlan): void {
    commitSnapshot(this.s, plan);
    this.counters.rebuilds++;
    if (plan.full) this.counters.fullRebuilds++;
  }

  // ---------------------------------------------------------------- introspection

  /** Error estimate of stored row i (relative to the output scale): amp·ε. */
  errorEstimate(i: number): number {
    this.checkQueryRow(i);
    return this.s.amp[i]! * EPS;
  }

  /** Pending log entries. */
  get pending(): number {
    return this.log.length;
  }

  /** Rows the running background rebuild still has to process (0 when none runs). */
  get backgroundRows(): number {
    return this.bg.plan ? this.n - this.bg.done : 0;
  }

  /** Counters and sizes (a plain object; safe to send over threads and the wire). */
  stats(): DynamicStats {
    const n = this.n,
      d = this.d;
    const bytes =
      8 * (5 * n * d + n * d + 3 * n) + (this.s.ST ? 8 * n * n : 0) + 4 * n + this.log.capacity * LOG_BYTES_PER_ENTRY;
    return {
      n,
      d,
      mode: this.mode,
      threshold: this.threshold,
      pending: this.log.length,
      touchedKeys: this.log.slots,
      ...this.counters,
      bytes,
      deamortized: this.deamortized,
      backgroundRows: this.backgroundRows,
    };
  }

  /** Copies of the current Q, K, V (n×d each). */
  snapshot(): { Q: Float64Array; K: Float64Array; V: Float64Array } {
    return { Q: this.s.Q.slice(), K: this.s.K.slice(), V: this.s.V.slice() };
  }
}
