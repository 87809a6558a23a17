export { handlers, checkAbort } from './handlers.js';
export type { HandlerContext, Handler } from './handlers.js';
export { threadEntryPath, createBlockPool } from './pool.js';
export { BlockPool, sabEnabled, ABORT_BACKSTOP_MS } from '@attnfit/shared/runtime';
export type { RegisteredProblem, RunOptions } from '@attnfit/shared/runtime';
export { THREAD_CACHE_PROBLEMS } from './thread.js';
export type {
  ThreadTask, ThreadReply, ThreadKind, ThreadMsgByKind, ThreadValueByKind, BlockMsg, BlocksMsg, GramMsg,
} from '@attnfit/shared/runtime';
export { DynamicRebuildPool, dynamicRebuildThreadPath } from './dynamic-rebuild-pool.js';
export type { DynamicRebuildTask } from './dynamic-rebuild-thread.js';
