/**
 * @attnfit/worker — the library entry: run a NATS worker service in-process, and the pool of
 * sharded-rebuild helper threads for a shared DynamicAttention. The handler table, the block
 * pool, the thread entries' paths and the service's parts are in `@attnfit/worker/internal`
 * (tests, benchmarks; no stability promise). The thread entry itself is `@attnfit/worker/thread`.
 * @example
 * ```ts
 * import { startWorkerService } from '@attnfit/worker';
 * const w = await startWorkerService({ servers: 'nats://127.0.0.1:4222', threads: 4 });
 * // … on shutdown:
 * await w.drain();
 * ```
 */
export { startWorkerService, runWorker, WORKER_SERVICE_DEFAULTS } from './service.js';
export type { WorkerServiceOptions, WorkerService } from './service.js';
export { DynamicRebuildPool } from './dynamic-rebuild-pool.js';
