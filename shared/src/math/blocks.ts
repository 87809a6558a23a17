/**
 * Row-block planning: a pure range function (BLIS bli_thread_range style). The block size depends
 * only on the problem shape (n, d) — never on thread or worker count — so every scheduler produces
 * the same blocks and the block-order reduce is bitwise reproducible.
 */
import { AttnfitError, ErrorCodes } from '../core/index.js';

/** Target number of float64 elements in one m×n block matrix (8 MiB). */
export const BLOCK_TARGET_ELEMENTS = 1 << 20;

/**
 * Minimum number of blocks once n ≥ 64, so that even a mid-size problem spreads across threads
 * and workers (the plan still depends only on n and d, never on the thread count).
 */
export const MIN_BLOCKS = 8;

/**
 * Split query rows [0, n) into consecutive blocks of `blockRows` rows (the last may be shorter).
 * Covers [0, n) exactly once, in order; n = 0 gives []. Example: planBlocks(5, 2) →
 * [[0, 2], [2, 4], [4, 5]].
 */
export function planBlocks(n: number, blockRows: number): Array<[number, number]> {
  if (!Number.isInteger(n) || n < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `planBlocks: n must be an integer >= 0 (got ${n})`, {
      details: { field: 'n', value: n },
    });
  if (!Number.isInteger(blockRows) || blockRows < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `planBlocks: blockRows must be an integer >= 1 (got ${blockRows})`, {
      details: { field: 'blockRows', value: blockRows },
    });
  const out: Array<[number, number]> = [];
  for (let r0 = 0; r0 < n; r0 += blockRows) out.push([r0, Math.min(n, r0 + blockRows)]);
  return out;
}

/**
 * Default rows per block for an n×d problem: keeps each m×n block matrix (logits, F, P, …) near
 * {@link BLOCK_TARGET_ELEMENTS} elements (8 MiB) and each m×d² Kronecker-row matrix (Hessian
 * work) at the same bound, and small enough that n ≥ 64 rows make at least {@link MIN_BLOCKS}
 * blocks; at least min(8, n), at most n, a multiple of 8 when above 8. Depends only on n and d.
 * Examples: defaultBlockRows(4096, 64) → 256; defaultBlockRows(1024, 8) → 128.
 */
export function defaultBlockRows(n: number, d: number): number {
  if (!Number.isInteger(n) || n < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `defaultBlockRows: n must be an integer >= 0 (got ${n})`, {
      details: { field: 'n', value: n },
    });
  if (!Number.isInteger(d) || d < 0)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `defaultBlockRows: d must be an integer >= 0 (got ${d})`, {
      details: { field: 'd', value: d },
    });
  if (n <= 8) return Math.max(1, n);
  const byN = Math.floor(BLOCK_TARGET_ELEMENTS / n);
  const byD = Math.floor(BLOCK_TARGET_ELEMENTS / Math.max(1, d * d));
  const byCount = Math.ceil(Math.ceil(n / MIN_BLOCKS) / 8) * 8;
  const m = Math.max(8, Math.min(byN, byD, byCount));
  if (m >= n) return n;
  return Math.max(8, m - (m % 8));
}
