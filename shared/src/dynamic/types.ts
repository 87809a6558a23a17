/**
 * Types of the dynamic attention structure (options, shared state, stats, rebuild plans) and of
 * its internal row state, shared by its parts: structure.ts (the public class: validation,
 * updates, rebuild policy), update-log.ts, query.ts and rebuild.ts.
 */
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
  Q: Float64Array;
  K: Float64Array;
  V: Float64Array;
  K0: Float64Array;
  V0: Float64Array;
  /** Transposed logits snapshot (n×n) in 'snapshot' mode, else null. */
  ST: Float64Array | null;
  m: Float64Array;
  ell: Float64Array;
  amp: Float64Array;
  N: Float64Array;
}

/** The arrays a structure keeps per row (private or shared). */
export interface StateArrays {
  Q: Float64Array;
  K: Float64Array;
  V: Float64Array;
  K0: Float64Array;
  V0: Float64Array;
  /** Snapshot logits stored transposed: ST[r·n + i] = Q[i]·K₀[r], so a key's column is contiguous for rebuilds. */
  ST: Float64Array | null;
  m: Float64Array;
  ell: Float64Array;
  amp: Float64Array;
  N: Float64Array;
}

/**
 * What the row computations (queries, rebuilds) read and write: the sizes, the per-row arrays
 * and the amplification limit errTol/ε beyond which a row is recomputed exactly.
 */
export interface RowState extends StateArrays {
  readonly n: number;
  readonly d: number;
  readonly ampLimit: number;
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

/**
 * The de-amortised background rebuild in progress, as the structure and its queries see it:
 * the plan (null when none runs), rows [0, done) already rebuilt, the log entries [0, logStart)
 * it covers, and each key's slot in the plan (−1: not in it).
 */
export interface Background {
  plan: RebuildPlan | null;
  done: number;
  logStart: number;
  readonly planSlot: Int32Array;
}
