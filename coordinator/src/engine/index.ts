/**
 * The local execution engine: one piscina pool per process (reused across problems and solves),
 * running the worker's thread entry. See ./pool.ts.
 */
import { availableParallelism } from 'node:os';
import { EnginePool } from './pool.js';

export { EnginePool, threadEntryPath, sabEnabled, ABORT_BACKSTOP_MS } from './pool.js';
export type { RegisteredProblem, RunOptions } from './pool.js';

let current: EnginePool | null = null;

/** Default thread count: os.availableParallelism(). */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * The process's engine pool with `threads` threads (default: all cores). A pool with another
 * thread count is replaced (the old one is destroyed once its in-flight work is done).
 * @example const pool = getEnginePool(2);
 */
export function getEnginePool(threads: number = defaultThreads()): EnginePool {
  if (current && current.threads === threads && current.shared === sabEnabledNow()) return current;
  const old = current;
  current = new EnginePool(threads);
  if (old) void old.destroy();
  return current;
}

function sabEnabledNow(): boolean {
  return typeof SharedArrayBuffer === 'function' && process.env.ATTNFIT_NO_SAB !== '1';
}

/** Destroy the process's pool (lets the process exit). Idempotent. */
export async function shutdownEngine(): Promise<void> {
  const p = current;
  current = null;
  if (p) await p.destroy();
}
