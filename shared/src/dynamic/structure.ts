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
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';
import { dgemmBase, expShiftSum, vexpBase } from '../kernels/index.js';
import { DYNAMIC_DEFAULTS } from './defaults.js';

/** Memory mode: keep the n×n logits snapshot, or only the snapshot keys (O(nd)). */
export type DynamicMode = 'snapshot' | 'keys';

export interface DynamicOptions {
  /** Rebuild threshold exponent τ ∈ [0, 1]: T = ⌈n^τ⌉ pending updates. Default 0.5. */
  tau?: number;
  /** Rebuild threshold T (updates) directly; overrides tau. T = 1 is eager rank-one maintenance. */
  threshold?: number;
  /** 'snapshot' (8n² bytes), 'keys' (O(nd)) or 'auto' (snapshot while 8n² ≤ snapshotMaxBytes). */
  mode?: DynamicMode | 'auto';
  /** Error-estimate tolerance before the exact fallback (relative to the output scale). */
  errTol?: number;
  /** Byte limit for the snapshot in 'auto' mode. */
  snapshotMaxBytes?: number;
  /**
   * De-amortised rebuilds: after T updates the rebuild runs in the background, ⌈n/T⌉
   * rows per later update, so no single update pays the whole O(nTd) rebuild (worst-case
   * update O(nd) instead of O(nTd)). New updates go to a second log meanwhile. Default false.
   */
  deamortize?: boolean;
  /**
   * Allocate the row-indexed state (Q, K, V, K₀, V₀, the logits snapshot, shifts, ell, N, error
   * estimates) in SharedArrayBuffers, so other threads can {@link DynamicAttention.attachShared}
   * to it and run {@link DynamicAttention.rebuildRows} on disjoint row ranges. Default false.
   */
  shared?: boolean;
  /**
   * When false, updates never rebuild by themselves: the owner polls
   * {@link DynamicAttention.rebuildDue} after each update and rebuilds (e.g. sharded across
   * threads). Queries stay exact either way. Default true. Not combinable with deamortize.
   */
  autoRebuild?: boolean;
}

/**
 * The shared state of a structure built with `shared: true`: plain data (Float64Array views on
 * SharedArrayBuffers, posted to other threads without copying). See {@link DynamicAttention.sharedState}.
 */
export interface DynamicSharedState {
  n: number;
  d: number;
  mode: DynamicMode;
  threshold: number;
  errTol: number;
  Q: Float64Array; K: Float64Array; V: Float64Array; K0: Float64Array; V0: Float64Array;
  /** Transposed logits snapshot (n×n) in 'snapshot' mode, else null. */
  ST: Float64Array | null;
  m: Float64Array; ell: Float64Array; amp: Float64Array; N: Float64Array;
}

/** The arrays a structure keeps per row (private or shared). */
interface StateArrays {
  Q: Float64Array; K: Float64Array; V: Float64Array; K0: Float64Array; V0: Float64Array;
  ST: Float64Array | null; m: Float64Array; ell: Float64Array; amp: Float64Array; N: Float64Array;
}

/** Counters and sizes reported by {@link DynamicAttention.stats}. */
export interface DynamicStats {
  n: number;
  d: number;
  mode: DynamicMode;
  /** Rebuild threshold T (updates; a token-row edit counts as one). */
  threshold: number;
  /** Entries in the pending log. */
  pending: number;
  /** Distinct key rows touched by the pending log. */
  touchedKeys: number;
  updates: number;
  queries: number;
  /** Rebuilds (incremental + full). */
  rebuilds: number;
  fullRebuilds: number;
  /** Rows recomputed exactly during rebuilds because their error estimate exceeded errTol. */
  repairs: number;
  /** Queries answered by the exact row computation because the corrected value was not accurate enough. */
  fallbacks: number;
  /** Bytes held by the structure's arrays. */
  bytes: number;
  deamortized: boolean;
  /** Rows still to process by the background rebuild (de-amortised mode; 0 when none is running). */
  backgroundRows: number;
  /** Rebuilds whose rows were sharded across threads (set by sessions that shard; absent otherwise). */
  shardedRebuilds?: number;
  /** Threads a session's rebuilds use (set by sessions; absent for a bare structure). */
  rebuildThreads?: number;
}

/** A rebuild plan: the touched keys and their gathered rows; rows of the structure are independent given a plan. */
export interface RebuildPlan {
  /** Distinct touched key rows. */
  keys: Int32Array;
  /** 1 where the key's K row changed (else only V changed). */
  keyChanged: Uint8Array;
  /** Current K rows of the touched keys (|R|×d). */
  KR: Float64Array;
  /** Snapshot K rows of the touched keys (|R|×d), used in 'keys' mode. */
  K0R: Float64Array;
  /** [V₀[R]; V[R]] stacked (2|R|×d). */
  VR: Float64Array;
  /** True when the rebuild recomputes every row from scratch. */
  full: boolean;
  /**
   * Rows per row block: {@link DynamicAttention.rebuildRows} computes blocks aligned to multiples
   * of this from row 0, so splitting rows at multiples of it (see {@link planRebuildShards})
   * gives bitwise the same state as one call over all rows.
   */
  blockRows: number;
  /** Snapshot K/V after this plan (materialised on demand for exact row repairs). */
  Kref?: Float64Array;
  Vref?: Float64Array;
}

const EPS = 2 ** -52;
const KIND_K = 0;
const KIND_V = 1;

function badOp(field: string, value: unknown, what: string): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OP, `${field}: ${what} (got ${formatValue(value)})`, { details: { field, value: formatValue(value) } });
}

function badOption(field: string, value: unknown, what: string): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OPTION, `${field}: ${what} (got ${formatValue(value)})`, { details: { field, value: formatValue(value) } });
}

/** Resolve the memory mode for an n-row problem ('auto' → snapshot while 8n² ≤ snapshotMaxBytes). */
export function pickDynamicMode(n: number, mode: DynamicMode | 'auto' = 'auto', snapshotMaxBytes: number = DYNAMIC_DEFAULTS.snapshotMaxBytes): DynamicMode {
  if (mode === 'snapshot' || mode === 'keys') return mode;
  return 8 * n * n <= snapshotMaxBytes ? 'snapshot' : 'keys';
}

/** Rebuild threshold T = ⌈n^τ⌉ (at least 1). */
export function dynamicThreshold(n: number, tau: number): number {
  return Math.max(1, Math.ceil(Math.pow(n, tau) - 1e-9));
}

/**
 * Rows per rebuild block: bounded by the scratch budget (blockElems float64 per block; a full
 * rebuild needs n per row, an incremental one 4|R|) and by rebuildBlockRows.
 */
function rebuildBlockRows(n: number, full: boolean, keys: number): number {
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
  if (!Number.isInteger(n) || n < 0) throw badOption('n', n, 'must be an integer >= 0');
  if (!Number.isInteger(blockRows) || blockRows < 1) throw badOption('blockRows', blockRows, 'must be an integer >= 1');
  if (!Number.isInteger(parts) || parts < 1) throw badOption('parts', parts, 'must be an integer >= 1');
  const blocks = Math.ceil(n / blockRows), p = Math.min(parts, blocks);
  const out: Array<[number, number]> = [];
  for (let k = 0; k < p; k++) {
    const b0 = Math.floor((k * blocks) / p), b1 = Math.floor(((k + 1) * blocks) / p);
    out.push([b0 * blockRows, Math.min(n, b1 * blockRows)]);
  }
  return out;
}

function sharedF64(len: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(len * 8));
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

  private readonly Q: Float64Array;
  private readonly K: Float64Array;
  private readonly V: Float64Array;
  private readonly K0: Float64Array;
  private readonly V0: Float64Array;
  /** Snapshot logits stored transposed: ST[r·n + i] = Q[i]·K₀[r], so a key's column is contiguous for rebuilds. */
  private readonly ST: Float64Array | null;
  private readonly m: Float64Array;
  private readonly ell: Float64Array;
  private readonly amp: Float64Array;
  private readonly N: Float64Array;
  private readonly ampLimit: number;

  // pending log
  private logKind: Uint8Array;
  private logRow: Int32Array;
  private logCol: Int32Array;
  private logDelta: Float64Array;
  private logLen = 0;
  /** Update operations (entry or token-row edits) since the last rebuild started: the rebuild trigger. */
  private pendingOps = 0;
  // touched keys
  private readonly slotOf: Int32Array;
  private slotKeys: Int32Array;
  private slotK: Uint8Array;
  private nSlots = 0;
  // scratch
  private acc: Float64Array;
  private s0buf: Float64Array;
  private s1buf: Float64Array;
  private readonly rowBuf: Float64Array;
  /** Rebuild scratch (reused, grows on demand) so steady-state updates allocate nothing big. */
  private work = new Float64Array(0);

  // de-amortised background rebuild: plan, rows done, log entries it covers, key → plan slot
  private bg: RebuildPlan | null = null;
  private bgDone = 0;
  private bgLog = 0;
  private readonly planSlot: Int32Array;
  private readonly rowsPerStep: number;

  private counters = { updates: 0, queries: 0, rebuilds: 0, fullRebuilds: 0, repairs: 0, fallbacks: 0 };

  private constructor(a: StateArrays, n: number, d: number, mode: DynamicMode, threshold: number, errTol: number, deamortize: boolean, shared: boolean, autoRebuild: boolean) {
    this.n = n; this.d = d; this.mode = mode; this.threshold = threshold; this.errTol = errTol;
    this.deamortized = deamortize; this.shared = shared; this.autoRebuild = autoRebuild;
    this.planSlot = new Int32Array(deamortize ? n : 0).fill(-1);
    this.rowsPerStep = Math.ceil(n / threshold);
    this.ampLimit = errTol / EPS;
    this.Q = a.Q; this.K = a.K; this.V = a.V; this.K0 = a.K0; this.V0 = a.V0; this.ST = a.ST;
    this.m = a.m; this.ell = a.ell; this.amp = a.amp; this.N = a.N;
    const cap = Math.max(16, threshold + d);
    this.logKind = new Uint8Array(cap); this.logRow = new Int32Array(cap); this.logCol = new Int32Array(cap); this.logDelta = new Float64Array(cap);
    this.slotOf = new Int32Array(n).fill(-1);
    this.slotKeys = new Int32Array(cap); this.slotK = new Uint8Array(cap);
    this.acc = new Float64Array(cap); this.s0buf = new Float64Array(cap); this.s1buf = new Float64Array(cap);
    this.rowBuf = new Float64Array(Math.max(n, d));
  }

  /**
   * Build the structure from Q, K, V (n×d row-major float64; copied, the caller's arrays are not
   * touched). Cost O(n²d) (one full build). Throws AttnfitError SHAPE_MISMATCH / EMPTY /
   * NON_FINITE / BAD_OPTION naming the argument and the value.
   */
  static init(Q: Float64Array, K: Float64Array, V: Float64Array, n: number, d: number, opts: DynamicOptions = {}): DynamicAttention {
    if (!Number.isInteger(n) || n < 1) throw new AttnfitError(ErrorCodes.EMPTY, `n: must be an integer >= 1 (got ${formatValue(n)})`);
    if (!Number.isInteger(d) || d < 1) throw new AttnfitError(ErrorCodes.EMPTY, `d: must be an integer >= 1 (got ${formatValue(d)})`);
    for (const [name, a] of [['Q', Q], ['K', K], ['V', V]] as const) {
      if (!(a instanceof Float64Array)) throw new AttnfitError(ErrorCodes.BAD_DTYPE, `${name}: must be a Float64Array (got ${Object.prototype.toString.call(a)})`);
      if (a.length !== n * d) throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `${name}: length must be n*d = ${n * d} (got ${a.length})`, { details: { field: name, value: a.length } });
      for (let k = 0; k < a.length; k++) {
        if (!Number.isFinite(a[k]!)) throw new AttnfitError(ErrorCodes.NON_FINITE, `${name}[${Math.floor(k / d)},${k % d}]: must be finite (got ${a[k]})`, { details: { field: name, value: String(a[k]) } });
      }
    }
    const tau = opts.tau ?? DYNAMIC_DEFAULTS.tau;
    if (typeof tau !== 'number' || !Number.isFinite(tau) || tau < 0 || tau > 1) throw badOption('tau', tau, 'must be a number in [0, 1]');
    let threshold = dynamicThreshold(n, tau);
    if (opts.threshold !== undefined) {
      if (!Number.isInteger(opts.threshold) || opts.threshold < 1) throw badOption('threshold', opts.threshold, 'must be an integer >= 1');
      threshold = opts.threshold;
    }
    const errTol = opts.errTol ?? DYNAMIC_DEFAULTS.errTol;
    if (typeof errTol !== 'number' || !(errTol > 0)) throw badOption('errTol', errTol, 'must be a number > 0');
    const modeIn = opts.mode ?? 'auto';
    if (modeIn !== 'auto' && modeIn !== 'snapshot' && modeIn !== 'keys') throw badOption('mode', modeIn, 'must be one of snapshot, keys, auto');
    const mode = pickDynamicMode(n, modeIn, opts.snapshotMaxBytes ?? DYNAMIC_DEFAULTS.snapshotMaxBytes);
    const deamortize = opts.deamortize ?? false;
    if (typeof deamortize !== 'boolean') throw badOption('deamortize', deamortize, 'must be a boolean');
    const shared = opts.shared ?? false;
    if (typeof shared !== 'boolean') throw badOption('shared', shared, 'must be a boolean');
    if (shared && typeof SharedArrayBuffer !== 'function') throw badOption('shared', shared, 'SharedArrayBuffer is not available in this runtime');
    const autoRebuild = opts.autoRebuild ?? true;
    if (typeof autoRebuild !== 'boolean') throw badOption('autoRebuild', autoRebuild, 'must be a boolean');
    if (!autoRebuild && deamortize) throw badOption('autoRebuild', autoRebuild, 'cannot be false with deamortize: true (de-amortised rebuilds advance on updates)');
    const alloc = shared ? sharedF64 : (len: number) => new Float64Array(len);
    const copy = (src: Float64Array) => { const x = alloc(n * d); x.set(src); return x; };
    const arrays: StateArrays = {
      Q: copy(Q), K: copy(K), V: copy(V), K0: copy(K), V0: copy(V),
      ST: mode === 'snapshot' ? alloc(n * n) : null,
      m: alloc(n), ell: alloc(n), amp: alloc(n), N: alloc(n * d),
    };
    const da = new DynamicAttention(arrays, n, d, mode, threshold, errTol, deamortize, shared, autoRebuild);
    da.fullBuild();
    return da;
  }

  /**
   * The shared state of a structure built with `shared: true` (throws AttnfitError BAD_OPTION
   * otherwise): post it to another thread and {@link attachShared} there.
   */
  sharedState(): DynamicSharedState {
    if (!this.shared) throw badOption('shared', false, 'sharedState() needs a structure built with { shared: true }');
    return {
      n: this.n, d: this.d, mode: this.mode, threshold: this.threshold, errTol: this.errTol,
      Q: this.Q, K: this.K, V: this.V, K0: this.K0, V0: this.V0, ST: this.ST, m: this.m, ell: this.ell, amp: this.amp, N: this.N,
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
    if (state === null || typeof state !== 'object') throw badOption('state', state, 'must be a DynamicSharedState object');
    const { n, d, mode, threshold, errTol } = state;
    if (!Number.isInteger(n) || n < 1) throw badOption('state.n', n, 'must be an integer >= 1');
    if (!Number.isInteger(d) || d < 1) throw badOption('state.d', d, 'must be an integer >= 1');
    if (mode !== 'snapshot' && mode !== 'keys') throw badOption('state.mode', mode, 'must be snapshot or keys');
    if (!Number.isInteger(threshold) || threshold < 1) throw badOption('state.threshold', threshold, 'must be an integer >= 1');
    if (typeof errTol !== 'number' || !(errTol > 0)) throw badOption('state.errTol', errTol, 'must be a number > 0');
    const want: Array<[keyof StateArrays, number]> = [
      ['Q', n * d], ['K', n * d], ['V', n * d], ['K0', n * d], ['V0', n * d], ['m', n], ['ell', n], ['amp', n], ['N', n * d],
    ];
    if (mode === 'snapshot') want.push(['ST', n * n]);
    for (const [f, len] of want) {
      const a = state[f];
      if (!(a instanceof Float64Array) || !(a.buffer instanceof SharedArrayBuffer)) throw badOption(`state.${f}`, a === null ? null : Object.prototype.toString.call(a), 'must be a Float64Array on a SharedArrayBuffer');
      if (a.length !== len) throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `state.${f}: length must be ${len} (got ${a.length})`, { details: { field: `state.${f}`, value: a.length } });
    }
    const a: StateArrays = {
      Q: state.Q, K: state.K, V: state.V, K0: state.K0, V0: state.V0, ST: mode === 'snapshot' ? state.ST : null,
      m: state.m, ell: state.ell, amp: state.amp, N: state.N,
    };
    return new DynamicAttention(a, n, d, mode, threshold, errTol, false, true, false);
  }

  /** True when the pending updates reached the threshold T and a rebuild is due (only stays true with autoRebuild: false). */
  get rebuildDue(): boolean {
    return !this.deamortized && this.logLen > 0 && this.pendingOps >= this.threshold;
  }

  // ---------------------------------------------------------------- updates

  private checkKey(r: number): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.n) throw badOp('i', r, `row index must be an integer in [0, ${this.n - 1}]`);
  }
  private checkCol(c: number): void {
    if (!Number.isInteger(c) || c < 0 || c >= this.d) throw badOp('j', c, `column index must be an integer in [0, ${this.d - 1}]`);
  }
  private checkDelta(x: number, field = 'delta'): void {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw badOp(field, x, 'must be a finite number');
  }

  private growLog(): void {
    const cap = this.logKind.length * 2;
    const g8 = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    const g32 = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    const g64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    this.logKind = g8(this.logKind); this.logRow = g32(this.logRow); this.logCol = g32(this.logCol); this.logDelta = g64(this.logDelta);
    this.slotKeys = g32(this.slotKeys); this.slotK = g8(this.slotK);
    this.acc = new Float64Array(cap); this.s0buf = new Float64Array(cap); this.s1buf = new Float64Array(cap);
  }

  private push(kind: number, r: number, c: number, delta: number): void {
    if (this.logLen === this.logKind.length || this.nSlots === this.slotKeys.length) this.growLog();
    const k = this.logLen++;
    this.logKind[k] = kind; this.logRow[k] = r; this.logCol[k] = c; this.logDelta[k] = delta;
    this.touch(kind, r);
  }

  private touch(kind: number, r: number): void {
    let s = this.slotOf[r]!;
    if (s < 0) { s = this.nSlots++; this.slotOf[r] = s; this.slotKeys[s] = r; this.slotK[s] = 0; }
    if (kind === KIND_K) this.slotK[s] = 1;
  }

  /** Drop the first `count` log entries (covered by a finished background rebuild); re-derive the touched keys. */
  private dropLogPrefix(count: number): void {
    const rest = this.logLen - count;
    this.logKind.copyWithin(0, count, this.logLen); this.logRow.copyWithin(0, count, this.logLen);
    this.logCol.copyWithin(0, count, this.logLen); this.logDelta.copyWithin(0, count, this.logLen);
    this.logLen = rest;
    for (let s = 0; s < this.nSlots; s++) this.slotOf[this.slotKeys[s]!] = -1;
    this.nSlots = 0;
    for (let k = 0; k < rest; k++) this.touch(this.logKind[k]!, this.logRow[k]!);
  }

  /** Rebuild policy after an update: synchronous at T, or start/advance the background rebuild. */
  private afterUpdate(): void {
    this.pendingOps++;
    if (!this.deamortized) { if (this.autoRebuild && this.pendingOps >= this.threshold) this.rebuild(); return; }
    if (!this.bg && this.pendingOps >= this.threshold) {
      const plan = this.prepareRebuild({}, false);
      this.bg = plan; this.bgDone = 0; this.bgLog = this.logLen; this.pendingOps = 0;
      for (let s = 0; s < plan.keys.length; s++) this.planSlot[plan.keys[s]!] = s;
    }
    if (this.bg) this.stepBackground(this.rowsPerStep);
  }

  private stepBackground(rows: number): void {
    const plan = this.bg!;
    const r1 = Math.min(this.n, this.bgDone + rows);
    this.rebuildRows(plan, this.bgDone, r1);
    this.bgDone = r1;
    if (r1 < this.n) return;
    for (const r of plan.keys) this.planSlot[r] = -1;
    this.bg = null; this.bgDone = 0;
    this.commitSnapshot(plan);
    this.dropLogPrefix(this.bgLog);
    this.bgLog = 0;
  }

  /** K[r,c] += δ. O(1) amortised; flushes the log (rebuild) after T updates. */
  updateK(r: number, c: number, delta: number): void {
    this.checkKey(r); this.checkCol(c); this.checkDelta(delta);
    this.counters.updates++;
    if (delta === 0) return;
    this.K[r * this.d + c] += delta;
    this.push(KIND_K, r, c, delta);
    this.afterUpdate();
  }

  /** V[r,c] += δ. O(1) amortised. */
  updateV(r: number, c: number, delta: number): void {
    this.checkKey(r); this.checkCol(c); this.checkDelta(delta);
    this.counters.updates++;
    if (delta === 0) return;
    this.V[r * this.d + c] += delta;
    this.push(KIND_V, r, c, delta);
    this.afterUpdate();
  }

  /** K[r,c] = x (an update by x − K[r,c]). */
  setK(r: number, c: number, x: number): void {
    this.checkKey(r); this.checkCol(c); this.checkDelta(x, 'value');
    this.updateK(r, c, x - this.K[r * this.d + c]!);
  }

  /** V[r,c] = x (an update by x − V[r,c]). */
  setV(r: number, c: number, x: number): void {
    this.checkKey(r); this.checkCol(c); this.checkDelta(x, 'value');
    this.updateV(r, c, x - this.V[r * this.d + c]!);
  }

  private rowUpdate(kind: number, r: number, delta: ArrayLike<number>): void {
    this.checkKey(r);
    if (delta == null || typeof delta.length !== 'number' || delta.length !== this.d) throw badOp('delta', delta, `must be an array of d = ${this.d} numbers`);
    for (let c = 0; c < this.d; c++) this.checkDelta(delta[c]!, `delta[${c}]`);
    const M = kind === KIND_K ? this.K : this.V;
    this.counters.updates++;
    for (let c = 0; c < this.d; c++) {
      const x = delta[c]!;
      if (x === 0) continue;
      M[r * this.d + c] += x;
      this.push(kind, r, c, x);
    }
    this.afterUpdate();
  }

  /** K[r,:] += δrow (a token's key edited: d log entries, counted as one update). */
  updateKRow(r: number, deltaRow: ArrayLike<number>): void { this.rowUpdate(KIND_K, r, deltaRow); }

  /** V[r,:] += δrow (a token's value edited). */
  updateVRow(r: number, deltaRow: ArrayLike<number>): void { this.rowUpdate(KIND_V, r, deltaRow); }

  // ---------------------------------------------------------------- queries

  /** True when row i already reflects the running background rebuild (its snapshot is the plan's). */
  private frozenRow(i: number): boolean { return this.bg !== null && i < this.bgDone; }

  /** Snapshot logit of row i, key r (the plan's key rows for rows the background rebuild has passed). */
  private logit0(i: number, r: number, frozen: boolean): number {
    if (this.ST) return this.ST[r * this.n + i]!;
    const d = this.d, Q = this.Q;
    let K0 = this.K0, off = r * d;
    if (frozen) {
      const ps = this.planSlot[r]!;
      if (ps >= 0 && this.bg!.keyChanged[ps]) { K0 = this.bg!.KR; off = ps * d; }
    }
    let s = 0;
    for (let c = 0; c < d; c++) s += Q[i * d + c]! * K0[off + c]!;
    return s;
  }

  /** Snapshot value row of key r for row i's reference: [array, offset]. */
  private v0Ref(r: number, frozen: boolean): [Float64Array, number] {
    if (frozen) {
      const ps = this.planSlot[r]!;
      if (ps >= 0) return [this.bg!.VR, (this.bg!.keys.length + ps) * this.d];
    }
    return [this.V0, r * this.d];
  }

  /** Fill s0buf/s1buf for row i from the pending log; returns the new shift. */
  private correctRow(i: number, frozen: boolean): number {
    const ns = this.nSlots, acc = this.acc, d = this.d, Q = this.Q;
    acc.fill(0, 0, ns);
    for (let k = frozen ? this.bgLog : 0; k < this.logLen; k++) {
      if (this.logKind[k] === KIND_K) acc[this.slotOf[this.logRow[k]!]!] += this.logDelta[k]! * Q[i * d + this.logCol[k]!]!;
    }
    let mNew = this.m[i]!;
    for (let s = 0; s < ns; s++) {
      const s0 = this.logit0(i, this.slotKeys[s]!, frozen);
      const s1 = this.slotK[s] ? s0 + acc[s]! : s0;
      this.s0buf[s] = s0; this.s1buf[s] = s1;
      if (s1 > mNew) mNew = s1;
    }
    return mNew;
  }

  /**
   * Exact entry (softmax(Q Kᵀ) V)[i, j] of the current Q, K, V. O(#pending) in snapshot mode
   * (O(#pending + #touched·d) in keys mode); O(n) / O(nd) exact fallback on cancellation.
   */
  query(i: number, j: number): number {
    this.checkQueryRow(i); this.checkCol(j);
    this.counters.queries++;
    const d = this.d, ns = this.nSlots;
    if (ns === 0) return this.N[i * d + j]! / this.ell[i]!;
    const mi = this.m[i]!, frozen = this.frozenRow(i);
    const mNew = this.correctRow(i, frozen);
    const sc = Math.exp(mi - mNew);
    let L = this.ell[i]! * sc, num = this.N[i * d + j]! * sc;
    let mag = this.amp[i]! * L;
    const V = this.V;
    for (let s = 0; s < ns; s++) {
      const r = this.slotKeys[s]!;
      const a = Math.exp(this.s0buf[s]! - mNew);
      let b = a;
      if (this.slotK[s]) { b = Math.exp(this.s1buf[s]! - mNew); L += b - a; mag += a + b; }
      const [V0, o0] = this.v0Ref(r, frozen);
      num += b * V[r * d + j]! - a * V0[o0 + j]!;
    }
    if (!(L > 0) || !(mag <= L * this.ampLimit)) {
      this.counters.fallbacks++;
      this.exactRow(i, this.rowBuf, j);
      return this.rowBuf[0]!;
    }
    return num / L;
  }

  /** Exact row i of softmax(Q Kᵀ) V (length d). O(#pending + #touched·d); exact fallback on cancellation. */
  queryRow(i: number): Float64Array {
    this.checkQueryRow(i);
    this.counters.queries++;
    const d = this.d, ns = this.nSlots;
    const out = new Float64Array(d);
    if (ns === 0) {
      const L = this.ell[i]!;
      for (let c = 0; c < d; c++) out[c] = this.N[i * d + c]! / L;
      return out;
    }
    const mi = this.m[i]!, frozen = this.frozenRow(i);
    const mNew = this.correctRow(i, frozen);
    const sc = Math.exp(mi - mNew);
    let L = this.ell[i]! * sc;
    let mag = this.amp[i]! * L;
    for (let c = 0; c < d; c++) out[c] = this.N[i * d + c]! * sc;
    const V = this.V;
    for (let s = 0; s < ns; s++) {
      const r = this.slotKeys[s]!;
      const a = Math.exp(this.s0buf[s]! - mNew);
      let b = a;
      if (this.slotK[s]) { b = Math.exp(this.s1buf[s]! - mNew); L += b - a; mag += a + b; }
      const [V0, o0] = this.v0Ref(r, frozen);
      for (let c = 0; c < d; c++) out[c] += b * V[r * d + c]! - a * V0[o0 + c]!;
    }
    if (!(L > 0) || !(mag <= L * this.ampLimit)) {
      this.counters.fallbacks++;
      this.exactRow(i, out, -1);
      return out;
    }
    for (let c = 0; c < d; c++) out[c] /= L;
    return out;
  }

  private checkQueryRow(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) throw badOp('i', i, `query row must be an integer in [0, ${this.n - 1}]`);
  }

  /**
   * Exact softmax row i of the current state: logits Q[i]·K[r] for all r (O(nd)), stable
   * softmax, times V (column j only when j ≥ 0, written to out[0]; else the whole row to out).
   */
  private exactRow(i: number, out: Float64Array, j: number): void {
    const n = this.n, d = this.d, z = new Float64Array(n);
    dgemmBase(false, true, 1, n, d, 1, this.Q, i * d, d, this.K, 0, d, 0, z, 0, n);
    let mx = -Infinity;
    for (let r = 0; r < n; r++) if (z[r]! > mx) mx = z[r]!;
    const L = expShiftSum(n, z, 0, mx, z, 0);
    if (j >= 0) {
      let num = 0;
      for (let r = 0; r < n; r++) num += z[r]! * this.V[r * d + j]!;
      out[0] = num / L;
    } else {
      dgemmBase(false, false, 1, d, n, 1 / L, z, 0, n, this.V, 0, d, 0, out, 0, d);
    }
  }

  // ---------------------------------------------------------------- rebuilds

  /** Flush the pending log: incremental rebuild (or a full one when most keys are touched). */
  rebuild(opts: { full?: boolean } = {}): void {
    if (this.bg) this.stepBackground(this.n);
    if (this.logLen === 0 && !opts.full) return;
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
    if (this.bg) throw new AttnfitError(ErrorCodes.INTERNAL, 'prepareRebuild: a background rebuild is running (call rebuild() to finish it first)');
    const k = this.nSlots, d = this.d;
    const full = !!opts.full || (allowFull && k > DYNAMIC_DEFAULTS.fullRebuildFraction * this.n);
    const keys = this.slotKeys.slice(0, k), keyChanged = this.slotK.slice(0, k);
    const KR = new Float64Array(k * d), K0R = new Float64Array(k * d), VR = new Float64Array(2 * k * d);
    for (let s = 0; s < k; s++) {
      const r = keys[s]!;
      KR.set(this.K.subarray(r * d, r * d + d), s * d);
      K0R.set(this.K0.subarray(r * d, r * d + d), s * d);
      VR.set(this.V0.subarray(r * d, r * d + d), s * d);
      VR.set(this.V.subarray(r * d, r * d + d), (k + s) * d);
    }
    return { keys, keyChanged, KR, K0R, VR, full, blockRows: rebuildBlockRows(this.n, full, k) };
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
    if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 > this.n || r0 > r1) throw new RangeError(`rebuildRows: need 0 <= r0 <= r1 <= ${this.n} (got ${r0}, ${r1})`);
    const k = plan.keys.length;
    const B = Number.isInteger(plan.blockRows) && plan.blockRows >= 1 ? plan.blockRows : rebuildBlockRows(this.n, plan.full, k);
    if (plan.full) { this.buildRows(r0, r1, B); return 0; }
    if (k === 0) return 0;
    const n = this.n, d = this.d, ST = this.ST;
    let repairs = 0;
    const blk = Math.min(B, r1 - r0) * k;
    if (this.work.length < 4 * blk) this.work = new Float64Array(4 * blk);
    const S1 = this.work.subarray(0, blk), S0 = this.work.subarray(blk, 2 * blk), W = this.work.subarray(2 * blk, 4 * blk);
    for (let b0 = r0; b0 < r1;) {
      const b1 = Math.min(r1, (Math.floor(b0 / B) + 1) * B), nb = b1 - b0;
      dgemmBase(false, true, nb, k, d, 1, this.Q, b0 * d, d, plan.KR, 0, d, 0, S1, 0, k);
      if (ST) {
        // gather the old logit columns (contiguous in the transposed snapshot), write the new ones
        for (let s = 0; s < k; s++) {
          const base = plan.keys[s]! * n, changed = plan.keyChanged[s];
          for (let i = b0; i < b1; i++) {
            const o = (i - b0) * k + s;
            S0[o] = ST[base + i]!;
            if (changed) ST[base + i] = S1[o]!;
          }
        }
      } else {
        dgemmBase(false, true, nb, k, d, 1, this.Q, b0 * d, d, plan.K0R, 0, d, 0, S0, 0, k);
      }
      // raise the shifts, then all 2·nb·k exponentials of the block in one vectorised call
      for (let i = b0; i < b1; i++) {
        const o = (i - b0) * k, w = (i - b0) * 2 * k;
        let mNew = this.m[i]!;
        for (let s = 0; s < k; s++) if (plan.keyChanged[s] && S1[o + s]! > mNew) mNew = S1[o + s]!;
        for (let s = 0; s < k; s++) {
          W[w + s] = S0[o + s]! - mNew;
          W[w + k + s] = (plan.keyChanged[s] ? S1[o + s]! : S0[o + s]!) - mNew;
        }
        S1[o] = mNew; // S1 row no longer needed: keep the new shift there
      }
      vexpBase(W, 0, nb * 2 * k, W, 0);
      for (let i = b0; i < b1; i++) {
        const o = (i - b0) * k, w = (i - b0) * 2 * k;
        const mi = this.m[i]!, mNew = S1[o]!;
        const sc = mNew === mi ? 1 : Math.exp(mi - mNew);
        let L = this.ell[i]! * sc;
        let mag = this.amp[i]! * L;
        for (let s = 0; s < k; s++) {
          const a = W[w + s]!;
          if (plan.keyChanged[s]) { const b = W[w + k + s]!; L += b - a; mag += a + b; }
          W[w + s] = -a;
        }
        if (sc !== 1) for (let c = 0; c < d; c++) this.N[i * d + c] *= sc;
        this.m[i] = mNew; this.ell[i] = L; this.amp[i] = mag / L;
      }
      dgemmBase(false, false, nb, d, 2 * k, 1, W, 0, 2 * k, plan.VR, 0, d, 1, this.N, b0 * d, d);
      for (let i = b0; i < b1; i++) {
        const L = this.ell[i]!;
        if (!(L > 0) || !(this.amp[i]! <= this.ampLimit)) {
          this.counters.repairs++; repairs++;
          const ref = this.planRefs(plan);
          this.buildRows(i, i + 1, 1, ref.K, ref.V);
        }
      }
      b0 = b1;
    }
    return repairs;
  }

  /** Snapshot K/V after a plan (K₀/V₀ with the plan's key rows replaced), materialised once per plan. */
  private planRefs(plan: RebuildPlan): { K: Float64Array; V: Float64Array } {
    if (!plan.Kref || !plan.Vref) {
      const d = this.d, k = plan.keys.length;
      const K = this.K0.slice(), V = this.V0.slice();
      for (let s = 0; s < k; s++) {
        const r = plan.keys[s]!;
        K.set(plan.KR.subarray(s * d, s * d + d), r * d);
        V.set(plan.VR.subarray((k + s) * d, (k + s) * d + d), r * d);
      }
      plan.Kref = K; plan.Vref = V;
    }
    return { K: plan.Kref, V: plan.Vref };
  }

  /**
   * Step 3 of a rebuild: the snapshot keys/values catch up, the log is cleared. `done.repairs`:
   * rows repaired by rebuildRows calls on other threads' views (added to this instance's stats).
   */
  commitRebuild(plan: RebuildPlan, done: { repairs?: number } = {}): void {
    if (done.repairs !== undefined && Number.isInteger(done.repairs) && done.repairs > 0) this.counters.repairs += done.repairs;
    this.commitSnapshot(plan);
    for (let s = 0; s < this.nSlots; s++) this.slotOf[this.slotKeys[s]!] = -1;
    this.nSlots = 0; this.logLen = 0; this.pendingOps = 0;
  }

  private commitSnapshot(plan: RebuildPlan): void {
    const d = this.d;
    if (plan.full) { this.K0.set(this.K); this.V0.set(this.V); }
    else {
      const k = plan.keys.length;
      for (let s = 0; s < k; s++) {
        const r = plan.keys[s]!;
        this.K0.set(plan.KR.subarray(s * d, s * d + d), r * d);
        this.V0.set(plan.VR.subarray((k + s) * d, (k + s) * d + d), r * d);
      }
    }
    this.counters.rebuilds++;
    if (plan.full) this.counters.fullRebuilds++;
  }

  private fullBuild(): void {
    this.buildRows(0, this.n, rebuildBlockRows(this.n, true, 0));
  }

  /**
   * Exact (re)computation of rows [r0, r1) from Q and the given K, V (default current):
   * O((r1−r0)·n·d), in blocks aligned to multiples of B rows.
   */
  private buildRows(r0: number, r1: number, B: number, Kref: Float64Array = this.K, Vref: Float64Array = this.V): void {
    const n = this.n, d = this.d;
    if (r1 <= r0) return;
    const E = new Float64Array(Math.min(B, r1 - r0) * n);
    for (let b0 = r0; b0 < r1;) {
      const b1 = Math.min(r1, (Math.floor(b0 / B) + 1) * B), nb = b1 - b0;
      dgemmBase(false, true, nb, n, d, 1, this.Q, b0 * d, d, Kref, 0, d, 0, E, 0, n);
      const ST = this.ST;
      if (ST) for (let r = 0; r < n; r++) for (let i = 0; i < nb; i++) ST[r * n + b0 + i] = E[i * n + r]!;
      for (let i = 0; i < nb; i++) {
        let mx = -Infinity;
        for (let r = 0; r < n; r++) if (E[i * n + r]! > mx) mx = E[i * n + r]!;
        const L = expShiftSum(n, E, i * n, mx, E, i * n);
        this.m[b0 + i] = mx; this.ell[b0 + i] = L; this.amp[b0 + i] = 1;
      }
      dgemmBase(false, false, nb, d, n, 1, E, 0, n, Vref, 0, d, 0, this.N, b0 * d, d);
      b0 = b1;
    }
  }

  // ---------------------------------------------------------------- introspection

  /** Error estimate of stored row i (relative to the output scale): amp·ε. */
  errorEstimate(i: number): number {
    this.checkQueryRow(i);
    return this.amp[i]! * EPS;
  }

  /** Pending log entries. */
  get pending(): number { return this.logLen; }

  /** Rows the running background rebuild still has to process (0 when none runs). */
  get backgroundRows(): number { return this.bg ? this.n - this.bgDone : 0; }

  /** Counters and sizes (a plain object; safe to send over threads and the wire). */
  stats(): DynamicStats {
    const n = this.n, d = this.d;
    const bytes = 8 * (5 * n * d + n * d + 3 * n) + (this.ST ? 8 * n * n : 0) + 4 * n
      + this.logKind.length * (1 + 4 + 4 + 8 + 4 + 1 + 24);
    return {
      n, d, mode: this.mode, threshold: this.threshold, pending: this.logLen, touchedKeys: this.nSlots,
      ...this.counters, bytes, deamortized: this.deamortized, backgroundRows: this.bg ? this.n - this.bgDone : 0,
    };
  }

  /** Copies of the current Q, K, V (n×d each). */
  snapshot(): { Q: Float64Array; K: Float64Array; V: Float64Array } {
    return { Q: this.Q.slice(), K: this.K.slice(), V: this.V.slice() };
  }
}
