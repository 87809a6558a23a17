/**
 * The async face of a dynamic attention session, shared by the worker-thread session and the
 * NATS session: the same methods as the in-process `DynamicAttention`, each returning a promise.
 */
import type { DynamicOp, DynamicStats } from '@attnfit/shared/dynamic';
import type { WireError } from '@attnfit/shared/core';

export interface DynamicSession {
  /** K[r,c] += δ. */
  updateK(r: number, c: number, delta: number): Promise<void>;
  /** V[r,c] += δ. */
  updateV(r: number, c: number, delta: number): Promise<void>;
  /** K[r,c] = x. */
  setK(r: number, c: number, x: number): Promise<void>;
  /** V[r,c] = x. */
  setV(r: number, c: number, x: number): Promise<void>;
  /** K[r,:] += δrow (d numbers). */
  updateKRow(r: number, deltaRow: ArrayLike<number>): Promise<void>;
  /** V[r,:] += δrow (d numbers). */
  updateVRow(r: number, deltaRow: ArrayLike<number>): Promise<void>;
  /** (softmax(QKᵀ)V)[i,j], exact. */
  query(i: number, j: number): Promise<number>;
  /** (softmax(QKᵀ)V)[i,:], exact (length d). */
  queryRow(i: number): Promise<Float64Array>;
  /** Flush the pending log now (full: recompute everything). */
  rebuild(opts?: { full?: boolean }): Promise<void>;
  /** Counters and sizes. */
  stats(): Promise<DynamicStats>;
  /**
   * Apply a batch of ops in order (validated as a whole first; one round trip); resolves to
   * the query results in order (number per 'query', Float64Array per 'queryRow').
   */
  apply(ops: readonly DynamicOp[]): Promise<Array<number | Float64Array>>;
  /** Release the session (terminates its thread / remote state). Idempotent. */
  close(): Promise<void>;
}

/** Reply of a host call (thread or wire): a value or a wire error. */
export type DynamicReply = { ok: true; value: unknown } | { ok: false; error: WireError };
