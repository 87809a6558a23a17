/**
 * Message format of the piscina thread entry (`@attnfit/worker/thread`, compiled from
 * `worker/src/thread.ts`). Users: the thread entry itself, and {@link BlockPool} (shared runtime
 * layer) used by the coordinator's local engine and the worker's NATS service.
 *
 * Protocol:
 * - A task names its problem by `problemId`. Threads cache problem tensors by id (small LRU).
 * - A task without `tensors` for a problem the thread does not hold gets the reply
 *   `{ ok: false, miss: true }`; the caller resends the task once with `tensors`. With
 *   SharedArrayBuffer-backed tensors that send is a handle (no copy); without SAB it is one copy
 *   per thread per problem.
 * - `abort` (optional, Int32Array over a SharedArrayBuffer, length ≥ 1): when element 0 is
 *   non-zero the thread rejects remaining work with code CANCELLED (checked between blocks).
 * - Replies never throw: every outcome is a {@link ThreadReply}; errors travel as WireError.
 */
import type { Partials, Problem, Want, WireError } from '../core/index.js';

/** Evaluate the summable partials of rows [r0, r1) at (X, Y). */
export interface BlockMsg {
  r0: number;
  r1: number;
  X: Float64Array;
  Y: Float64Array;
  want: Want;
}

/** Evaluate several row blocks in the given order (abort checked between blocks). */
export interface BlocksMsg {
  ranges: Array<[number, number]>;
  X: Float64Array;
  Y: Float64Array;
  want: Want;
}

/** Gram matrices A1ᵀA1, A2ᵀA2 (d×d). */
export type GramMsg = Record<string, never>;

/** Message per kind. */
export interface ThreadMsgByKind {
  block: BlockMsg;
  blocks: BlocksMsg;
  gram: GramMsg;
}
/** Reply value per kind. */
export interface ThreadValueByKind {
  block: Partials;
  blocks: Partials[];
  gram: { G1: Float64Array; G2: Float64Array };
}
export type ThreadKind = keyof ThreadMsgByKind;

/** One task posted to the thread entry. */
export interface ThreadTask<K extends ThreadKind = ThreadKind> {
  kind: K;
  problemId: string;
  msg: ThreadMsgByKind[K];
  /** The problem's tensors as Float64Array views (SharedArrayBuffer-backed, or plain copies). */
  tensors?: Problem;
  abort?: Int32Array;
}

/** The thread entry's reply. */
export type ThreadReply<K extends ThreadKind = ThreadKind> =
  { ok: true; value: ThreadValueByKind[K] } | { ok: false; miss: true } | { ok: false; miss?: false; error: WireError };
