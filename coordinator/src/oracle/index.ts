/**
 * Oracle composition root: the only place that chooses an Oracle implementation.
 */
import type { Problem } from '@attnfit/shared/math';
import { InlineOracle, LocalOracle, planOptions } from './local.js';
import type { Oracle } from './types.js';
import type { NatsOracleHandleOptions } from '../cluster/nats-oracle-factory.js';

export { LocalOracle, InlineOracle, reduceInOrder, planOptions } from './local.js';
export type { LocalOracleOptions } from './local.js';
export type { Oracle, OracleInfo, CallOptions, Traffic } from './types.js';

/** Options of {@link createOracle}. */
export interface CreateOracleOptions {
  /** Threads of the local pool (default os.availableParallelism()); 0 = inline (no threads). */
  threads?: number;
  /** Rows per block (default defaultBlockRows(n, d)). */
  blockRows?: number;
  /** Blocks per shard (default from planTree(n, d)). */
  shardBlocks?: number;
  /** Evaluate on the NATS cluster's workers instead (connection + auth, task timeouts). */
  nats?: NatsOracleHandleOptions;
}

/**
 * Choose the oracle for a problem (local thread pool by default).
 * @example const oracle = await createOracle(problem, { threads: 2 });
 */
export async function createOracle(problem: Problem, opts: CreateOracleOptions = {}): Promise<Oracle> {
  if (opts.nats) {
    // Loaded on demand: local runs never pay for the NATS client's start-up.
    const { createNatsOracle } = await import('../cluster/nats-oracle-factory.js');
    return createNatsOracle(problem, { ...opts.nats, ...planOptions(opts) });
  }
  const o = planOptions(opts);
  if (opts.threads === 0) return new InlineOracle(problem, o);
  return new LocalOracle(problem, opts.threads === undefined ? o : { ...o, threads: opts.threads });
}
export { TrafficLog } from './traffic.js';
export type { IterationTraffic } from './traffic.js';
