/**
 * Sharded rebuilds: prepareRebuild on the owner, row ranges (whole row blocks, see
 * planRebuildShards) run by helpers over the shared state, commitRebuild on the owner. Pure
 * orchestration — the helpers are supplied by the caller (e.g. a piscina pool of threads that
 * `DynamicAttention.attachShared` the state), so this module needs no node:* import.
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';
import type { DynamicAttention } from './structure.js';
import { planRebuildShards } from './rebuild.js';
import type { DynamicSharedState, RebuildPlan } from './types.js';

/**
 * Runs rows [r0, r1) of `plan` on the shared `state` somewhere else (another thread) and
 * resolves to the number of rows it repaired exactly (the helper's rebuildRows return value).
 */
export type RebuildRowsRunner = (
  state: DynamicSharedState,
  plan: RebuildPlan,
  r0: number,
  r1: number,
) => Promise<number>;

/** What {@link rebuildSharded} did. */
export interface ShardedRebuildResult {
  /** False when there was nothing to rebuild (empty log and not full). */
  rebuilt: boolean;
  /** Row ranges, in row order; range 0 ran on the calling thread, the others through `run`. */
  ranges: Array<[number, number]>;
  /**
   * True when a helper failed and the owner recovered with a full local rebuild (the state is
   * exact either way; the helper's error is in `error`).
   */
  recovered: boolean;
  error?: unknown;
}

/**
 * Flush the pending log of a structure built with `{ shared: true }`, with its rows split over
 * `parts` workers: rows of range 0 on the calling thread, the other ranges through `run`
 * (started first, so they overlap). Ranges are whole row blocks of the plan, so the resulting
 * state is bitwise the state of `da.rebuild(opts)` for any `parts`. De-amortised structures and
 * parts = 1 fall back to `da.rebuild(opts)`. The caller must not touch `da` until this resolves.
 * If a helper fails, every helper is awaited and the owner recomputes all rows exactly (a full
 * rebuild, O(n²d)) so the structure stays consistent; the result says so.
 * Example: `await rebuildSharded(da, 2, (s, p, r0, r1) => pool.run({ state: s, plan: p, r0, r1 }))`.
 */
export async function rebuildSharded(
  da: DynamicAttention,
  parts: number,
  run: RebuildRowsRunner,
  opts: { full?: boolean } = {},
): Promise<ShardedRebuildResult> {
  if (!Number.isInteger(parts) || parts < 1) {
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `parts: must be an integer >= 1 (got ${formatValue(parts)})`, {
      details: { field: 'parts', value: formatValue(parts) },
    });
  }
  if (parts === 1 || da.deamortized || !da.shared) {
    const before = da.pending;
    da.rebuild(opts);
    return { rebuilt: before > 0 || !!opts.full, ranges: [[0, da.n]], recovered: false };
  }
  if (da.pending === 0 && !opts.full) return { rebuilt: false, ranges: [], recovered: false };
  const plan = da.prepareRebuild(opts);
  const ranges = planRebuildShards(da.n, plan.blockRows, parts);
  const state = da.sharedState();
  const remote = ranges.slice(1).map(([r0, r1]) => run(state, plan, r0, r1));
  let error: unknown;
  let failed = false;
  try {
    da.rebuildRows(plan, ranges[0]![0], ranges[0]![1]);
  } catch (err) {
    failed = true;
    error = err;
  }
  const settled = await Promise.allSettled(remote);
  let repairs = 0;
  for (const s of settled) {
    if (s.status === 'fulfilled' && Number.isInteger(s.value) && s.value >= 0) repairs += s.value;
    else if (!failed) {
      failed = true;
      error =
        s.status === 'rejected'
          ? s.reason
          : new Error(`rebuild helper returned ${formatValue(s.status === 'fulfilled' ? s.value : undefined)}`);
    }
  }
  if (!failed) {
    da.commitRebuild(plan, { repairs });
    return { rebuilt: true, ranges, recovered: false };
  }
  // Some rows may be half-updated: recompute every row from the current K, V (a full plan
  // covers the pending log too), then commit it.
  const full = da.prepareRebuild({ full: true });
  da.rebuildRows(full, 0, da.n);
  da.commitRebuild(full);
  return { rebuilt: true, ranges, recovered: true, error };
}
