/**
 * Worker-thread entry for a stateful dynamic attention session (comlink over the node adapter).
 * The coordinator names this file by path (`@attnfit/worker/package.json` → dist/dynamic-thread.js)
 * and never imports the worker package. One structure per thread; calls run in arrival order.
 *
 * Every call resolves to a {@link DynamicReply}: errors cross the thread boundary only as
 * `errorToWire` data (instanceof and codes do not survive structured clone).
 *
 * Sharded rebuilds: with `rebuildThreads` ≥ 2 and n ≥ `shardMinRows` (DYNAMIC_DEFAULTS) the
 * structure lives in SharedArrayBuffers with autoRebuild off; after every update that makes a
 * rebuild due, this thread runs prepareRebuild, one row range itself and the others on a piscina
 * pool of `rebuildThreads − 1` helpers (./dynamic-rebuild-pool.ts), then commitRebuild. Calls
 * are queued, so no op runs while a rebuild is in flight; the state equals bitwise the
 * single-thread structure's after the same ops.
 */
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { AttnfitError, ErrorCodes, errorToWire, type WireError } from '@attnfit/shared/core';
import {
  DYNAMIC_DEFAULTS,
  DynamicAttention,
  applyDynamicOp,
  parseDynamicOp,
  type DynamicOp,
  type DynamicOptions,
} from '@attnfit/shared/dynamic';
import { DynamicRebuildPool } from './dynamic-rebuild-pool.js';
// Optional native BLAS (active only when built), as in every other thread entry: all threads of a
// process must use the same GEMM so sharded rebuilds are bitwise equal to single-thread ones.
import '@attnfit/shared/native';

/** Result of one host call: a value or a wire error. */
export type DynamicReply = { ok: true; value: unknown } | { ok: false; error: WireError };

/** Methods of the structure callable through {@link DynamicHost.call}. */
export const DYNAMIC_METHODS = Object.freeze([
  'updateK',
  'updateV',
  'setK',
  'setV',
  'updateKRow',
  'updateVRow',
  'query',
  'queryRow',
  'rebuild',
  'stats',
  'errorEstimate',
] as const);

/** Thread-level options of a session (not options of the structure itself). */
export interface DynamicHostOptions {
  /** Threads per rebuild, this one included (≥ 1; default 1: no sharding). */
  rebuildThreads?: number;
  /** Shard only when n ≥ this (default DYNAMIC_DEFAULTS.shardMinRows). */
  shardMinRows?: number;
  /** Path of the helper thread entry (default: ./dynamic-rebuild-thread.js next to this file). */
  rebuildThreadPath?: string;
}

const UPDATE_METHODS = new Set(['updateK', 'updateV', 'setK', 'setV', 'updateKRow', 'updateVRow']);

function positiveInt(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${field}: must be an integer >= ${min} (got ${JSON.stringify(v)})`, {
      details: { field, value: String(v) },
    });
  }
  return v;
}

/** The object exposed to the parent thread. */
export class DynamicHost {
  private da: DynamicAttention | null = null;
  private pool: DynamicRebuildPool | null = null;
  /** Tail of the call queue: calls run one at a time, in arrival order. */
  private tail: Promise<unknown> = Promise.resolve();

  private serial(fn: () => unknown): Promise<DynamicReply> {
    const run = this.tail.then(() => guardAsync(fn));
    this.tail = run;
    return run;
  }

  /** Build the structure (O(n²d)); resolves to its stats. */
  init(
    Q: Float64Array,
    K: Float64Array,
    V: Float64Array,
    n: number,
    d: number,
    opts: DynamicOptions = {},
    host: DynamicHostOptions = {},
  ): Promise<DynamicReply> {
    return this.serial(() => {
      const threads = positiveInt('rebuildThreads', host.rebuildThreads ?? 1, 1);
      const minRows = positiveInt('shardMinRows', host.shardMinRows ?? DYNAMIC_DEFAULTS.shardMinRows, 1);
      const shard = threads > 1 && n >= minRows && !opts.deamortize;
      this.da = DynamicAttention.init(Q, K, V, n, d, shard ? { ...opts, shared: true, autoRebuild: false } : opts);
      if (shard)
        this.pool = new DynamicRebuildPool(threads, host.rebuildThreadPath ? { filename: host.rebuildThreadPath } : {});
      return this.stats();
    });
  }

  /** Call one method of the structure by name. */
  call(method: string, args: unknown[]): Promise<DynamicReply> {
    return this.serial(async () => {
      const da = this.need();
      if (!(DYNAMIC_METHODS as readonly string[]).includes(method))
        throw new AttnfitError(ErrorCodes.BAD_OP, `method: unknown (got ${JSON.stringify(method)})`);
      if (this.pool) {
        if (method === 'stats') return this.stats();
        if (method === 'rebuild') {
          await this.pool.rebuild(da, (args[0] ?? {}) as { full?: boolean });
          return undefined;
        }
      }
      const value = (da as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
      if (UPDATE_METHODS.has(method)) await this.afterUpdate();
      return value;
    });
  }

  /** Stop the rebuild helpers (the parent calls this before terminating the thread). */
  dispose(): Promise<DynamicReply> {
    return this.serial(async () => {
      const pool = this.pool;
      this.pool = null;
      if (pool) await pool.destroy();
      return null;
    });
  }

  /** Sharded sessions rebuild here, right after the update that made a rebuild due (as the structure itself would). */
  private async afterUpdate(): Promise<void> {
    const da = this.da!;
    if (this.pool && da.rebuildDue) await this.pool.rebuild(da);
  }

  private stats(): unknown {
    const st = this.need().stats();
    if (!this.pool) return st;
    return { ...st, rebuildThreads: this.pool.threads, shardedRebuilds: this.pool.sharded };
  }

  /**
   * Apply a batch of ops (plain objects, validated like ops-file lines) in order; resolves to
   * the query results in order (numbers for 'query', Float64Array for 'queryRow'). The batch
   * is validated before anything is applied.
   */
  apply(ops: unknown[]): Promise<DynamicReply> {
    return this.serial(async () => {
      const da = this.need();
      if (!Array.isArray(ops)) throw new AttnfitError(ErrorCodes.BAD_OP, 'ops: must be an array');
      const parsed = ops.map((o, k) => {
        try {
          return parseDynamicOp(o, da.n, da.d);
        } catch (e) {
          throw new AttnfitError(ErrorCodes.BAD_OP, `ops[${k}]: ${(e as Error).message}`, { cause: e });
        }
      });
      const out: unknown[] = [];
      for (const op of parsed) {
        const v = applyDynamicOp(da, op);
        if (v !== undefined) out.push(v);
        else if (this.pool && isUpdate(op)) await this.afterUpdate();
      }
      return out;
    });
  }

  private need(): DynamicAttention {
    if (!this.da) throw new AttnfitError(ErrorCodes.NOT_FOUND, 'dynamic session: not initialised (call init first)');
    return this.da;
  }
}

async function guardAsync(fn: () => unknown): Promise<DynamicReply> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: errorToWire(err) };
  }
}

function isUpdate(op: DynamicOp): boolean {
  return op.op !== 'query' && op.op !== 'queryRow';
}

if (parentPort) expose(new DynamicHost(), nodeEndpoint(parentPort as never));
