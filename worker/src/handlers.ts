/**
 * The worker's handler table: one pure function per task kind, operating on a problem given as
 * Float64Array views. Served by the piscina thread entry (./thread.ts) and by the NATS worker
 * service, so both compute exactly the same partials.
 *
 * Handlers may throw AttnfitError; the transports (thread entry, NATS service) turn every
 * outcome into a reply via errorToWire.
 */
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { dgemmBase } from '@attnfit/shared/kernels';
import { blockPartials } from '@attnfit/shared/math';
import type { Partials, Problem } from '@attnfit/shared/math';
import type {
  BlockMsg,
  BlocksMsg,
  GramMsg,
  ThreadKind,
  ThreadMsgByKind,
  ThreadValueByKind,
} from '@attnfit/shared/runtime';

/** What a handler sees besides its message. */
export interface HandlerContext {
  problem: Problem;
  /** Shared abort flag: element 0 non-zero ⇒ stop with CANCELLED (checked between blocks). */
  abort?: Int32Array;
}

/** Throw CANCELLED when the shared abort flag is set. */
export function checkAbort(abort: Int32Array | undefined): void {
  if (abort && Atomics.load(abort, 0) !== 0) throw new AttnfitError(ErrorCodes.CANCELLED, 'evaluation cancelled');
}

function checkRange(p: Problem, r0: number, r1: number): void {
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 > p.n || r0 >= r1) {
    throw new AttnfitError(ErrorCodes.PROTOCOL, `block: row range [${r0}, ${r1}) is not inside [0, ${p.n})`);
  }
}

function checkXY(p: Problem, X: Float64Array, Y: Float64Array): void {
  const dd = p.d * p.d;
  if (!(X instanceof Float64Array) || X.length !== dd)
    throw new AttnfitError(
      ErrorCodes.PROTOCOL,
      `block: X must be a Float64Array of ${dd} (got length ${(X as { length?: number })?.length})`,
    );
  if (!(Y instanceof Float64Array) || Y.length !== dd)
    throw new AttnfitError(
      ErrorCodes.PROTOCOL,
      `block: Y must be a Float64Array of ${dd} (got length ${(Y as { length?: number })?.length})`,
    );
}

/** Partials of one row block [r0, r1). */
async function block(msg: BlockMsg, ctx: HandlerContext): Promise<Partials> {
  checkAbort(ctx.abort);
  checkRange(ctx.problem, msg.r0, msg.r1);
  checkXY(ctx.problem, msg.X, msg.Y);
  return blockPartials(ctx.problem, msg.r0, msg.r1, msg.X, msg.Y, msg.want);
}

/** Partials of several row blocks, in the given order (not combined: the caller reduces). */
async function blocks(msg: BlocksMsg, ctx: HandlerContext): Promise<Partials[]> {
  checkXY(ctx.problem, msg.X, msg.Y);
  const out: Partials[] = [];
  for (const [r0, r1] of msg.ranges) {
    checkAbort(ctx.abort);
    checkRange(ctx.problem, r0, r1);
    out.push(blockPartials(ctx.problem, r0, r1, msg.X, msg.Y, msg.want));
  }
  return out;
}

/** Gram matrices G1 = A1ᵀA1 and G2 = A2ᵀA2 (d×d each). */
async function gram(_msg: GramMsg, ctx: HandlerContext): Promise<{ G1: Float64Array; G2: Float64Array }> {
  checkAbort(ctx.abort);
  const { n, d, A1, A2 } = ctx.problem;
  const G1 = new Float64Array(d * d),
    G2 = new Float64Array(d * d);
  dgemmBase(true, false, d, d, n, 1, A1, 0, d, A1, 0, d, 0, G1, 0, d);
  dgemmBase(true, false, d, d, n, 1, A2, 0, d, A2, 0, d, 0, G2, 0, d);
  return { G1, G2 };
}

/** Handler per task kind. */
export type Handler<K extends ThreadKind> = (
  msg: ThreadMsgByKind[K],
  ctx: HandlerContext,
) => Promise<ThreadValueByKind[K]>;

/** The handler table shared by the thread entry and the NATS worker service. */
export const handlers: { readonly [K in ThreadKind]: Handler<K> } = Object.freeze({ block, blocks, gram });
