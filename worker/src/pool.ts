/**
 * The worker package's block pool: the shared runtime's {@link BlockPool} over this package's own
 * compiled thread entry (./thread.js), and the evaluation of one shard task on it.
 */
import { setMaxListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BlockPool, type RegisteredProblem } from '@attnfit/shared/runtime/pool';
import { emptyPartials, combinePartials, foldInOrder, shardBlockRanges } from '@attnfit/shared/math';
import type { Partials } from '@attnfit/shared/math';
import type { TaskMsg } from '@attnfit/shared/protocol';

/** Path of this package's compiled thread entry. */
export function threadEntryPath(): string {
  return fileURLToPath(new URL('./thread.js', import.meta.url));
}

/** A {@link BlockPool} of `threads` threads running ./thread.js. */
export function createBlockPool(threads: number, opts: { shared?: boolean } = {}): BlockPool {
  return new BlockPool(threads, { ...opts, filename: threadEntryPath() });
}

/** Block tasks in flight per thread while a shard is evaluated (results held at once: threads × this). */
export const SHARD_BLOCKS_IN_FLIGHT_PER_THREAD = 2;

/**
 * The partials of one shard task: its row blocks (rows [r0, r1) in blocks of `blockRows`; one
 * block without it) run in parallel on the pool's threads and are added in block order as they
 * complete (starting from emptyPartials — the shard level of the plan's tree), with at most
 * threads × {@link SHARD_BLOCKS_IN_FLIGHT_PER_THREAD} block results held at once.
 * @example const part = await evaluateShard(pool, reg, task);
 */
export async function evaluateShard(
  pool: BlockPool,
  reg: RegisteredProblem,
  t: Pick<TaskMsg, 'r0' | 'r1' | 'blockRows' | 'X' | 'Y' | 'want'>,
): Promise<Partials> {
  const ranges: Array<[number, number]> =
    t.blockRows === undefined ? [[t.r0, t.r1]] : shardBlockRanges(t.r0, t.r1, t.blockRows);
  const acc = emptyPartials();
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // one listener per block call in flight (may exceed 10)
  try {
    await foldInOrder(
      ranges.length,
      pool.threads * SHARD_BLOCKS_IN_FLIGHT_PER_THREAD,
      1,
      (i0, i1) =>
        pool.blocks(reg, ranges.slice(i0, i1), t.X, t.Y, t.want, { signal: stop.signal }).catch((err: unknown) => {
          stop.abort(err); // the first failure stops the shard's other blocks
          throw err;
        }),
      (p) => combinePartials(acc, p),
    );
  } finally {
    stop.abort();
  }
  return acc;
}
