/**
 * The local execution engine: one piscina pool per process (reused across problems and solves),
 * running the worker's thread entry. See ./pool.ts.
 */
import { availableParallelism } from 'node:os';
import { EnginePool, sabEnabled } from './pool.js';

export { EnginePool, threadEntryPath, sabEnabled, ABORT_BACKSTOP_MS } from './pool.js';
export type { RegisteredProblem, RunOptions } from './pool.js';

const pools = new Map<string, EnginePool>();

/** Default thread count: os.availableParallelism(). */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * The process's engine pool with `threads` threads (default: all cores), created on first use
 * and reused by every oracle after that. (A process normally uses one thread count; pools of
 * other counts — e.g. in tests — live side by side until {@link shutdownEngine}.)
 * @example const pool = getEnginePool(2);
 */
export function getEnginePool(threads: number = defaultThreads()): EnginePool {
  const key = `${threads}:${sabEnabled() ? 'sab' : 'copy'}`;
  let p = pools.get(key);
  if (!p) {
    p = new EnginePool(threads);
    pools.set(key, p);
  }
  return p;
}

/** Destroy every engine pool of the process (lets the process exit). Idempotent. */
export async function shutdownEngine(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy()));
}
