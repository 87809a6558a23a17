export type { DynamicSession, DynamicReply } from './types.js';
export {
  openDynamicSession,
  ThreadDynamicSession,
  dynamicThreadPath,
  dynamicRebuildThreadPath,
} from './thread-session.js';
export type { DynamicSessionOptions } from './thread-session.js';
export { openNatsDynamicSession, NatsDynamicSession } from './nats-client.js';
export type { NatsDynamicOptions } from './nats-client.js';
export { startDynamicService } from './service.js';
export type { DynamicServiceOptions, DynamicServiceHandle } from './service.js';
export { DYN_OPEN_SUBJECT, DYN_QUEUE, DYN_SUBJECT_PREFIX, DYN_SESSION_OPS, dynSessionSubject } from './wire.js';
