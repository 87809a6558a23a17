/**
 * The oracle: everything the solver may ask of a problem, behind one interface implemented by
 * the local thread pool (embedded default) and by the NATS cluster. The solver never sees
 * threads, workers or transports.
 *
 * Determinism contract: implementations split rows into the fixed two-level plan
 * `planTree(n, d)` — row blocks grouped into shards, independent of thread / worker count — and
 * reduce through its tree (block partials in block order within each shard, shard partials in
 * shard order), so results are bitwise identical for any number of threads or workers.
 */
import type { Partials, Want } from '@attnfit/shared/math';

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface OracleInfo {
  kind: 'local' | 'nats' | 'inline';
  threads?: number;
  workers?: number;
  blockRows: number;
  blocks: number;
  /** Shards of the plan (the unit a cluster worker computes) and blocks per shard. */
  shards: number;
  shardBlocks: number;
  gemm: string;
}

/** Bytes an oracle moved over the network (sent: tasks; received: replies), cumulative. */
export interface Traffic {
  bytesSent: number;
  bytesReceived: number;
}

export interface Oracle {
  readonly n: number;
  readonly d: number;
  /** ‖B‖²_F (for relative loss). */
  readonly bNorm2: number;
  /** Query rows summed by evaluate (n unless this is a row-subset view). */
  readonly rows?: number;
  /** Column means of A2 (the mean key row, d numbers): the search measures logit spread within
   * rows (per-query constants do not change a softmax row). */
  readonly keyMean: Float64Array;
  /** Gram matrices A1ᵀA1 and A2ᵀA2 (d×d), for the paper's regulariser. */
  gram(): Promise<{ G1: Float64Array; G2: Float64Array }>;
  /** Sum of row-block partials of L at (X, Y), in block order. Rejects (never throws). */
  evaluate(X: Float64Array, Y: Float64Array, want: Want, opts?: CallOptions): Promise<Partials>;
  info(): OracleInfo;
  /**
   * Optional: the same problem restricted to the query rows of the plan's row blocks `blocks`
   * (strictly increasing indices into planTree(n, d).blocks; every key kept) — the row-subset
   * problem Σ_{i∈S} ‖softmax(A1_i X A2ᵀ) A3 Y − B_i‖², a cheap estimate of the objective whose
   * exact fit is still the exact fit. Its partials are the selected blocks' partials added in
   * block order (from emptyPartials), bitwise independent of thread count; its bNorm2 and gram()
   * G1 are those of the selected rows. Closing the view does not close this oracle. Oracles
   * without it (the NATS oracle today) make the search screen on full rows.
   */
  rowSubset?(blocks: readonly number[]): Oracle;
  /** Network bytes moved so far (cluster oracles); undefined for oracles that move none. */
  traffic?(): Traffic;
  /** Release threads / connections. Idempotent. */
  close(): Promise<void>;
}
