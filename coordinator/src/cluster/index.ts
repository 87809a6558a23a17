/** The NATS cluster: oracle, coordinator service, client, connection and resources. */
export { NatsOracle, NATS_ORACLE_DEFAULTS } from './nats-oracle.js';
export type { NatsOracleOptions } from './nats-oracle.js';
export { startCoordinator, runCoordinator, COORDINATOR_DEFAULTS, RESOURCE_RETRY_MS } from './coordinator.js';
export type { CoordinatorOptions, CoordinatorService } from './coordinator.js';
export { ClusterClient, newJobId } from './client.js';
export { connectNats, mapConnectError } from '@attnfit/shared/runtime';
export type { NatsAuthOptions } from '@attnfit/shared/runtime';
export { ensureClusterResources, openDataStore, fetchProblem, JOBS_ACK_WAIT_S } from './resources.js';
export type { ClusterResources } from './resources.js';
export { buildClusterReport } from './report.js';
export { createNatsOracle } from './nats-oracle-factory.js';
export type { NatsOracleHandleOptions } from './nats-oracle-factory.js';
export { safeObserver, fanOutObservers } from './observer.js';
export type { CoordinatorObserver, CoordinatorStartInfo, JobIterationEvent, TaskAttemptEvent } from './observer.js';
