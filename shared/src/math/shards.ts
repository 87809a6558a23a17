/**
 * The two-level reduction plan (docs/design.md "Row blocks and shards"): query rows are split
 * into row blocks ({@link planBlocks}, sized by memory), and consecutive blocks are grouped into
 * shards (sized by work and by the traffic of their partials). A shard is the unit a cluster
 * worker computes; the local engine reduces through the very same tree:
 *
 *   shard partial = Σ its blocks' partials, added in block order (starting from emptyPartials)
 *   total         = Σ shard partials, added in shard order       (starting from emptyPartials)
 *
 * The plan depends only on (n, d) — never on threads or workers — so every scheduler adds the
 * same numbers in the same order and results are bitwise identical for any thread / worker count.
 */
import { AttnfitError, ErrorCodes } from '../core/index.js';
import type { Partials } from './types.js';
import { combinePartials, emptyPartials } from './partials.js';
import { defaultBlockRows, planBlocks } from './blocks.js';

/** At most this many shards: enough to give every worker of a large (256-worker) cluster work. */
export const MAX_SHARDS = 256;

/**
 * A shard covers at least this many elements of the n×n attention matrix (its rows × n): the
 * work of one shard (≥ 4 blocks at the 2²⁰-element block target, tens of milliseconds at least)
 * must outweigh the round trip of one task.
 */
export const SHARD_MIN_ELEMENTS = 1 << 22;

/**
 * Traffic bound, relative to work: a shard's largest partial (one exact-Hessian piece, d⁴
 * numbers) is at most 1/64 of the attention-matrix elements (rows × n) the shard summarises, so
 * the bytes the coordinator receives stay a small, fixed fraction of the arithmetic the workers do
 * (the Hessian work per element is ~d⁴ flops too): shards ≤ n² / (64 · d⁴). Together with
 * {@link MAX_SHARDS} this bounds the coordinator's traffic per evaluation by 256 partials at any n.
 */
export const SHARD_ELEMENTS_PER_PARTIAL = 64;

/** A block index range [b0, b1) of one shard and the row range [r0, r1) it covers. */
export interface Shard {
  b0: number;
  b1: number;
  r0: number;
  r1: number;
}

/** The full two-level plan of an n×d problem. */
export interface ShardPlan {
  n: number;
  d: number;
  /** Rows per block. */
  blockRows: number;
  /** Blocks per shard (the last shard may have fewer). */
  shardBlocks: number;
  /** Row ranges of the blocks, in order. */
  blocks: Array<[number, number]>;
  /** The shards, in order: consecutive runs of `shardBlocks` blocks. */
  shards: Shard[];
}

function checkInt(fn: string, field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${fn}: ${field} must be an integer >= ${min} (got ${v})`, {
      details: { field, value: v },
    });
}

/**
 * Default number of shards for an n×d problem split into `blocks` row blocks: the smallest of
 * the block count, {@link MAX_SHARDS}, the work bound ⌊n² / {@link SHARD_MIN_ELEMENTS}⌋ and the
 * traffic bound ⌊n² / ({@link SHARD_ELEMENTS_PER_PARTIAL} · d⁴)⌋, and at least 1. Depends only on
 * its arguments. Examples (default blocks): n = 8192, d = 16 → 16 (64 blocks, 4 per shard);
 * n = 8192, d = 32 → 1; n = 65 536, d = 16 → 256 (4096 blocks, 16 per shard); n = 8192, d = 8
 * → 16; n = 65 536, d = 8 → 256; n ≤ 2048 → 1.
 */
export function defaultShardCount(n: number, d: number, blocks: number): number {
  checkInt('defaultShardCount', 'n', n, 0);
  checkInt('defaultShardCount', 'd', d, 0);
  checkInt('defaultShardCount', 'blocks', blocks, 0);
  const byWork = Math.floor((n * n) / SHARD_MIN_ELEMENTS);
  const d4 = Math.max(1, d) ** 4;
  const byTraffic = Math.floor((n * n) / (SHARD_ELEMENTS_PER_PARTIAL * d4));
  return Math.max(1, Math.min(blocks, MAX_SHARDS, byWork, byTraffic));
}

/**
 * Group `nBlocks` consecutive blocks into shards of `shardBlocks` blocks (the last may be
 * shorter): block index ranges [b0, b1), covering [0, nBlocks) exactly once, in order.
 * Example: planShards(5, 2) → [[0, 2], [2, 4], [4, 5]].
 */
export function planShards(nBlocks: number, shardBlocks: number): Array<[number, number]> {
  checkInt('planShards', 'nBlocks', nBlocks, 0);
  checkInt('planShards', 'shardBlocks', shardBlocks, 1);
  const out: Array<[number, number]> = [];
  for (let b0 = 0; b0 < nBlocks; b0 += shardBlocks) out.push([b0, Math.min(nBlocks, b0 + shardBlocks)]);
  return out;
}

/**
 * The two-level plan of an n×d problem: blocks of `blockRows` rows (default
 * {@link defaultBlockRows}) grouped into shards of `shardBlocks` blocks (default: the block count
 * spread over {@link defaultShardCount} shards). Overrides must be the same everywhere for
 * identical results (tests use them to get many shards from a small problem).
 * Example: planTree(8192, 16) → 64 blocks of 128 rows in 16 shards of 4 blocks.
 */
export function planTree(n: number, d: number, opts: { blockRows?: number; shardBlocks?: number } = {}): ShardPlan {
  checkInt('planTree', 'n', n, 0);
  checkInt('planTree', 'd', d, 0);
  const blockRows = opts.blockRows ?? defaultBlockRows(n, d);
  const blocks = planBlocks(n, blockRows);
  if (opts.shardBlocks !== undefined) checkInt('planTree', 'shardBlocks', opts.shardBlocks, 1);
  const shardBlocks =
    opts.shardBlocks ?? Math.max(1, Math.ceil(blocks.length / defaultShardCount(n, d, blocks.length)));
  const shards = planShards(blocks.length, shardBlocks).map(([b0, b1]) => ({
    b0,
    b1,
    r0: blocks[b0]![0],
    r1: blocks[b1 - 1]![1],
  }));
  return { n, d, blockRows, shardBlocks, blocks, shards };
}

/**
 * The row blocks of one shard's rows [r0, r1): consecutive blocks of `blockRows` rows starting
 * at r0 (what a worker computes for a shard task). Example: shardBlockRanges(8, 20, 5) →
 * [[8, 13], [13, 18], [18, 20]].
 */
export function shardBlockRanges(r0: number, r1: number, blockRows: number): Array<[number, number]> {
  checkInt('shardBlockRanges', 'r0', r0, 0);
  checkInt('shardBlockRanges', 'blockRows', blockRows, 1);
  return planBlocks(Math.max(0, r1 - r0), blockRows).map(([a, b]) => [a + r0, b + r0]);
}

/** Sum partials in the given order, starting from {@link emptyPartials} (one level of the tree). */
export function reduceInOrder(parts: Iterable<Partials>): Partials {
  const acc = emptyPartials();
  for (const p of parts) combinePartials(acc, p);
  return acc;
}

/**
 * Reduces block partials, handed over in block order, through the shard tree of `plan`.
 * Example: `const t = new TreeReducer(plan); for (const p of blockParts) t.add(p); t.result()`.
 */
export class TreeReducer {
  private next = 0;
  private shard = 0;
  private shardAcc = emptyPartials();
  private readonly total = emptyPartials();
  constructor(private readonly plan: Pick<ShardPlan, 'shards'>) {}

  /** Add the partials of the next block (block order). */
  add(p: Partials): void {
    const s = this.plan.shards[this.shard];
    if (!s) throw new AttnfitError(ErrorCodes.INTERNAL, `TreeReducer: more blocks than the plan has`);
    combinePartials(this.shardAcc, p);
    this.next++;
    if (this.next === s.b1) this.addShard(this.shardAcc);
  }

  /** Add the partials of the next whole shard (shard order; the cluster's coordinator). */
  addShard(p: Partials): void {
    const s = this.plan.shards[this.shard];
    if (!s) throw new AttnfitError(ErrorCodes.INTERNAL, `TreeReducer: more shards than the plan has`);
    combinePartials(this.total, p);
    this.shard++;
    this.next = s.b1;
    this.shardAcc = emptyPartials();
  }

  /** The total; throws INTERNAL unless every block (or shard) was added. */
  result(): Partials {
    if (this.shard !== this.plan.shards.length)
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        `TreeReducer: ${this.shard} of ${this.plan.shards.length} shards reduced`,
      );
    return this.total;
  }
}

/** Reduce all block partials (in block order) through the shard tree. */
export function reduceTree(plan: Pick<ShardPlan, 'shards'>, blockParts: readonly Partials[]): Partials {
  const t = new TreeReducer(plan);
  for (const p of blockParts) t.add(p);
  return t.result();
}

/**
 * Evaluate `count` items in order with at most `window` in flight, handing each result to `sink`
 * in index order as soon as it and all before it are done (memory: O(window) results, not
 * O(count)). `run(i0, i1)` evaluates items [i0, i1) and resolves to their results in order; it
 * is called with chunks of `chunk` items. Rejects with the first failure.
 * Example: `await foldInOrder(blocks.length, 8, 1, (a, b) => pool.blocks(reg, blocks.slice(a, b), …), add)`.
 */
export async function foldInOrder<T>(
  count: number,
  window: number,
  chunk: number,
  run: (i0: number, i1: number) => Promise<T[]>,
  sink: (value: T, index: number) => void,
): Promise<void> {
  const done = new Map<number, T[]>();
  let nextChunk = 0; // next chunk start to launch
  let nextSink = 0; // next chunk start to hand to sink
  let failed: { err: unknown } | undefined;
  const lanes = Math.max(1, Math.floor(window / Math.max(1, chunk)));
  const lane = async (): Promise<void> => {
    while (nextChunk < count && !failed) {
      const i0 = nextChunk;
      const i1 = Math.min(count, i0 + chunk);
      nextChunk = i1;
      try {
        done.set(i0, await run(i0, i1));
      } catch (err) {
        failed ??= { err };
        return;
      }
      for (let vals = done.get(nextSink); vals && !failed; vals = done.get(nextSink)) {
        done.delete(nextSink);
        for (let k = 0; k < vals.length; k++) sink(vals[k]!, nextSink + k);
        nextSink += vals.length;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, count)) }, lane));
  if (failed) throw failed.err;
}

/**
 * A deterministic subset of `nBlocks` row blocks for cheap screening (the search's early rungs):
 * k = max(1, round(fraction · nBlocks)) blocks spread evenly over [0, nBlocks) — block
 * ⌊(j + o) · nBlocks / k⌋ for j = 0 … k − 1, with the offset o ∈ [0, 1) drawn from `seed` — in
 * increasing order. Depends only on its arguments (never on threads or workers); fraction ≥ 1
 * gives every block. Example: subsetBlocks(8, 0.25, 0) → [0, 4].
 */
export function subsetBlocks(nBlocks: number, fraction: number, seed: number): number[] {
  checkInt('subsetBlocks', 'nBlocks', nBlocks, 0);
  if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1))
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `subsetBlocks: fraction must be in (0, 1] (got ${fraction})`, {
      details: { field: 'fraction', value: fraction },
    });
  if (!Number.isSafeInteger(seed))
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `subsetBlocks: seed must be an integer (got ${seed})`, {
      details: { field: 'seed', value: seed },
    });
  const k = Math.min(nBlocks, Math.max(1, Math.round(fraction * nBlocks)));
  if (nBlocks === 0) return [];
  if (k === nBlocks) return Array.from({ length: nBlocks }, (_, i) => i);
  // o = frac(seed · golden ratio): a fixed, well-spread offset per seed.
  const o = (((seed * 0.6180339887498949) % 1) + 1) % 1;
  const out: number[] = [];
  for (let j = 0; j < k; j++) out.push(Math.min(nBlocks - 1, Math.floor(((j + o) * nBlocks) / k)));
  return out;
}
