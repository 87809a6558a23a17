export { handlers, checkAbort } from './handlers.js';
export type { HandlerContext, Handler } from './handlers.js';
export { BlockPool, threadEntryPath, sabEnabled, ABORT_BACKSTOP_MS } from './pool.js';
export type { RegisteredProblem, RunOptions } from './pool.js';
export { THREAD_CACHE_PROBLEMS } from './thread.js';
export type {
  ThreadTask, ThreadReply, ThreadTensors, ThreadKind, ThreadMsgByKind, ThreadValueByKind, BlockMsg, BlocksMsg, GramMsg,
} from './thread-protocol.js';
export { DynamicRebuildPool, dynamicRebuildThreadPath } from './dynamic-rebuild-pool.js';
export type { DynamicRebuildTask } from './dynamic-rebuild-thread.js';
