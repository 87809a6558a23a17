export { connectNats, inboxPrefixFor, mapConnectError } from './nats-connect.js';
export type { NatsAuthOptions } from './nats-connect.js';
export { BlockPool, sabEnabled, ABORT_BACKSTOP_MS } from './pool.js';
export type { RegisteredProblem, RunOptions } from './pool.js';
export type {
  ThreadTask,
  ThreadReply,
  ThreadKind,
  ThreadMsgByKind,
  ThreadValueByKind,
  BlockMsg,
  BlocksMsg,
  GramMsg,
} from './thread-protocol.js';
export { parseHttpAddress, isLoopbackHost, listenHttp, HTTP_DEFAULT_HOST } from './http.js';
export type { HttpAddress, HttpHandler, HttpListener } from './http.js';
export { SHUTDOWN_DEFAULTS, Shutdown, runUntilSignal } from './shutdown.js';
export type { ShutdownSteps, DrainableService, RunUntilSignalOptions } from './shutdown.js';
export {
  failOnPermissionViolation,
  firstPermissionViolation,
  onPermissionViolation,
  permissionError,
  watchPermissions,
} from './permissions.js';
