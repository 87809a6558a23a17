export { connectNats, mapConnectError } from './nats-connect.js';
export type { NatsAuthOptions } from './nats-connect.js';
