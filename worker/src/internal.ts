/**
 * @attnfit/worker/internal — the worker's building blocks for tests and benchmarks: the public
 * entry plus the handler table, the block pool over this package's thread entry, the paths of
 * the thread entries, and the NATS service's parts. Not a stable API.
 */
export { startWorkerService, runWorker, WORKER_SERVICE_DEFAULTS, DynamicRebuildPool } from './index.js';
export type { WorkerServiceOptions, WorkerService } from './index.js';
export { handlers, checkAbort } from './handlers.js';
export type { HandlerContext, Handler } from './handlers.js';
export { threadEntryPath, createBlockPool } from './pool.js';
export { THREAD_CACHE_PROBLEMS } from './thread.js';
export { dynamicRebuildThreadPath } from './dynamic-rebuild-pool.js';
export type { DynamicRebuildTask } from './dynamic-rebuild-thread.js';
export { ProblemCache } from './problem-cache.js';
export { ObjectStoreProblems } from './problem-source.js';
export { TaskServer } from './task-server.js';
