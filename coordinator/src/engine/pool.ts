/**
 * The local execution engine's pool: the shared runtime's {@link BlockPool} running the worker's
 * thread entry, named by path (the coordinator never imports @attnfit/worker).
 */
import { createRequire } from 'node:module';
import { BlockPool } from '@attnfit/shared/runtime/pool';

export { sabEnabled, ABORT_BACKSTOP_MS } from '@attnfit/shared/runtime/pool';
export type { RegisteredProblem, RunOptions } from '@attnfit/shared/runtime/pool';

/** Path of the worker's compiled thread entry. */
export function threadEntryPath(): string {
  return createRequire(import.meta.url).resolve('@attnfit/worker/thread');
}

/**
 * A piscina pool of `threads` threads over the worker's thread entry.
 * Example: `const pool = new EnginePool(2); const reg = pool.register(p);`
 */
export class EnginePool extends BlockPool {
  constructor(threads: number, opts: { filename?: string; shared?: boolean } = {}) {
    super(threads, { ...opts, filename: opts.filename ?? threadEntryPath() });
  }
}
