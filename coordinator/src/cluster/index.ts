/** The NATS cluster: oracle, coordinator service, client, connection and resources. */
export { NatsOracle, NATS_ORACLE_DEFAULTS, shardReplyBytes } from './nats-oracle.js';
export type { NatsOracleOptions } from './nats-oracle.js';
export { WorkerRoster, WORKER_ROSTER_DEFAULTS } from './worker-roster.js';
export type { RosterWorker, RosterEvent } from './worker-roster.js';
export { ShardDispatcher, SHARD_DISPATCH_DEFAULTS } from './shard-dispatch.js';
export type { DispatchTarget } from './shard-dispatch.js';
export { startCoordinator, runCoordinator, COORDINATOR_DEFAULTS } from './coordinator.js';
export type { CoordinatorOptions, CoordinatorService } from './coordinator.js';
export { ClusterClient, newJobId } from './client.js';
export { connectNats } from '@attnfit/shared/runtime';
export type { NatsAuthOptions } from '@attnfit/shared/runtime';
export { ensureClusterResources, uploadProblem, objectDigest, fetchProblem } from './resources.js';
export type { UploadOptions, UploadResult } from './resources.js';
export { createNatsOracle } from './nats-oracle-factory.js';
export type { NatsOracleHandleOptions } from './nats-oracle-factory.js';
export { safeObserver, fanOutObservers } from './observer.js';
export type { CoordinatorObserver, CoordinatorStartInfo, JobIterationEvent, TaskAttemptEvent } from './observer.js';
