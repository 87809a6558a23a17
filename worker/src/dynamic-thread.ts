/**
 * Worker-thread entry for a stateful dynamic attention session (comlink over the node adapter).
 * The coordinator names this file by path (`@attnfit/worker/package.json` → dist/dynamic-thread.js)
 * and never imports the worker package. One structure per thread; calls run in arrival order.
 *
 * Every call resolves to a {@link DynamicReply}: errors cross the thread boundary only as
 * `errorToWire` data (instanceof and codes do not survive structured clone).
 */
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { AttnfitError, ErrorCodes, errorToWire, type WireError } from '@attnfit/shared/core';
import { DynamicAttention, applyDynamicOp, parseDynamicOp, type DynamicOptions } from '@attnfit/shared/dynamic';

/** Result of one host call: a value or a wire error. */
export type DynamicReply = { ok: true; value: unknown } | { ok: false; error: WireError };

/** Methods of the structure callable through {@link DynamicHost.call}. */
export const DYNAMIC_METHODS = Object.freeze([
  'updateK', 'updateV', 'setK', 'setV', 'updateKRow', 'updateVRow', 'query', 'queryRow', 'rebuild', 'stats', 'errorEstimate',
] as const);

/** The object exposed to the parent thread. */
export class DynamicHost {
  private da: DynamicAttention | null = null;

  /** Build the structure (O(n²d)); resolves to its stats. */
  init(Q: Float64Array, K: Float64Array, V: Float64Array, n: number, d: number, opts: DynamicOptions = {}): DynamicReply {
    return guard(() => { this.da = DynamicAttention.init(Q, K, V, n, d, opts); return this.da.stats(); });
  }

  /** Call one method of the structure by name. */
  call(method: string, args: unknown[]): DynamicReply {
    return guard(() => {
      const da = this.need();
      if (!(DYNAMIC_METHODS as readonly string[]).includes(method)) throw new AttnfitError(ErrorCodes.BAD_OP, `method: unknown (got ${JSON.stringify(method)})`);
      return (da as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
    });
  }

  /**
   * Apply a batch of ops (plain objects, validated like ops-file lines) in order; resolves to
   * the query results in order (numbers for 'query', Float64Array for 'queryRow'). The batch
   * is validated before anything is applied.
   */
  apply(ops: unknown[]): DynamicReply {
    return guard(() => {
      const da = this.need();
      if (!Array.isArray(ops)) throw new AttnfitError(ErrorCodes.BAD_OP, 'ops: must be an array');
      const parsed = ops.map((o, k) => {
        try { return parseDynamicOp(o, da.n, da.d); } catch (e) {
          throw new AttnfitError(ErrorCodes.BAD_OP, `ops[${k}]: ${(e as Error).message}`, { cause: e });
        }
      });
      const out: unknown[] = [];
      for (const op of parsed) { const v = applyDynamicOp(da, op); if (v !== undefined) out.push(v); }
      return out;
    });
  }

  private need(): DynamicAttention {
    if (!this.da) throw new AttnfitError(ErrorCodes.NOT_FOUND, 'dynamic session: not initialised (call init first)');
    return this.da;
  }
}

function guard(fn: () => unknown): DynamicReply {
  try { return { ok: true, value: fn() }; } catch (err) { return { ok: false, error: errorToWire(err) }; }
}

if (parentPort) expose(new DynamicHost(), nodeEndpoint(parentPort as never));
