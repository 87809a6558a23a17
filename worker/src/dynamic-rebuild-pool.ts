/**
 * A small piscina pool of sharded-rebuild helper threads (./dynamic-rebuild-thread.js) and the
 * session-side driver: with `threads` rebuild threads in total, the owner thread computes one
 * row range itself and `threads − 1` helpers the others (see rebuildSharded).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { rebuildSharded, type DynamicAttention, type ShardedRebuildResult } from '@attnfit/shared/dynamic';
import type { DynamicRebuildTask } from './dynamic-rebuild-thread.js';

/** Path of this package's compiled sharded-rebuild thread entry. */
export function dynamicRebuildThreadPath(): string {
  return fileURLToPath(new URL('./dynamic-rebuild-thread.js', import.meta.url));
}

/**
 * Rebuild helpers for one or more shared structures. `threads` counts the owner thread too:
 * threads = 2 starts one helper thread. Example:
 * `const pool = new DynamicRebuildPool(2); await pool.rebuild(da); await pool.destroy();`
 */
export class DynamicRebuildPool {
  /** Total rebuild threads (owner + helpers). */
  readonly threads: number;
  private readonly piscina: Piscina;
  private destroyed = false;
  /** Sharded rebuilds run, and those a failed helper turned into a full local rebuild. */
  sharded = 0;
  recovered = 0;

  constructor(threads: number, opts: { filename?: string } = {}) {
    if (!Number.isInteger(threads) || threads < 2)
      throw new AttnfitError(
        ErrorCodes.BAD_OPTION,
        `rebuildThreads: must be an integer >= 2 for a pool (got ${threads})`,
      );
    this.threads = threads;
    this.piscina = new Piscina({
      filename: opts.filename ?? dynamicRebuildThreadPath(),
      minThreads: threads - 1,
      maxThreads: threads - 1,
      idleTimeout: 60_000,
    });
  }

  /** Flush `da`'s pending log with its rows split over the owner and the helpers (da must be `shared`). */
  async rebuild(da: DynamicAttention, opts: { full?: boolean } = {}): Promise<ShardedRebuildResult> {
    if (this.destroyed) throw new AttnfitError(ErrorCodes.INTERNAL, 'dynamic rebuild pool: already destroyed');
    const res = await rebuildSharded(
      da,
      this.threads,
      (state, plan, r0, r1) =>
        this.piscina.run({ state, plan, r0, r1 } satisfies DynamicRebuildTask) as Promise<number>,
      opts,
    );
    if (res.rebuilt && res.ranges.length > 1) this.sharded++;
    if (res.recovered) this.recovered++;
    return res;
  }

  /** Stop the helper threads. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}
