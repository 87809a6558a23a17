/**
 * @attnfit/coordinator/internal — the coordinator's building blocks for tests and benchmarks:
 * the public entry plus engine pools, inline and NATS oracles, the block-order reduce, solver
 * pieces, report builders, the job store and cluster resources, and the dynamic-session wire.
 * Not a stable API: import the public `@attnfit/coordinator` in applications.
 */
import '@attnfit/shared/native';

export {
  AttnfitError,
  ErrorCodes,
  loadProblem,
  solve,
  SOLVE_DEFAULTS,
  SEARCH_DEFAULTS,
  createOracle,
  LocalOracle,
  shutdownEngine,
  ClusterClient,
  startCoordinator,
  openDynamicSession,
  openNatsDynamicSession,
  startDynamicService,
} from './index.js';
export type {
  ErrorCode,
  Problem,
  LoadedProblem,
  SolveMethod,
  StopReason,
  SolveOptions,
  SolveHooks,
  SolveResult,
  IterationRecord,
  IterationEvent,
  MethodState,
  StartResult,
  SearchOptions,
  SearchReport,
  SearchStart,
  SearchFamily,
  Oracle,
  OracleInfo,
  CallOptions,
  CreateOracleOptions,
  LocalOracleOptions,
  CoordinatorOptions,
  CoordinatorService,
  NatsAuthOptions,
  NatsOracleHandleOptions,
  CoordinatorObserver,
  CoordinatorStartInfo,
  JobIterationEvent,
  TaskAttemptEvent,
  DynamicSession,
  DynamicSessionOptions,
  NatsDynamicOptions,
  DynamicServiceOptions,
  DynamicServiceHandle,
} from './index.js';

// engine and oracles
export { getEnginePool, defaultThreads, EnginePool } from './engine/index.js';
export { InlineOracle, reduceInOrder, TrafficLog } from './oracle/index.js';
// solver pieces and reports
export {
  NEWTON_MAX_D,
  autoMethod,
  Reduced,
  validateSolveOptions,
  randomStart,
  buildReport,
  writeSolveOutputs,
  lossCurveSvg,
  searchCurveSvg,
  searchStarts,
  logitSpread,
} from './solver/index.js';
export type { SolveReport } from './solver/index.js';
// cluster
export {
  NatsOracle,
  NATS_ORACLE_DEFAULTS,
  shardReplyBytes,
  WorkerRoster,
  ShardDispatcher,
  runCoordinator,
  COORDINATOR_DEFAULTS,
  newJobId,
  connectNats,
  ensureClusterResources,
  createNatsOracle,
  uploadProblem,
  objectDigest,
  fetchProblem,
} from './cluster/index.js';
export type {
  NatsOracleOptions,
  UploadOptions,
  UploadResult,
  RosterEvent,
  RosterWorker,
  DispatchTarget,
} from './cluster/index.js';
export { CoordinatorLease, LEASE_KEY, LEASE_DEFAULTS } from './cluster/lease.js';
export type { LeaseOptions, LeaseValue } from './cluster/lease.js';
export { JobStore } from './jobs/store.js';
// dynamic sessions: classes and wire
export {
  ThreadDynamicSession,
  NatsDynamicSession,
  DYN_OPEN_SUBJECT,
  DYN_QUEUE,
  DYN_SUBJECT_PREFIX,
  DYN_SESSION_OPS,
  dynSessionSubject,
  dynamicThreadPath,
  dynamicRebuildThreadPath,
} from './dynamic/index.js';
// operations: observers, dashboard, metrics
export { fanOutObservers, safeObserver } from './cluster/index.js';
export {
  startDashboard,
  ClusterState,
  estimateEta,
  createCoordinatorMetrics,
  DASHBOARD_DEFAULTS,
  DASHBOARD_LIMITS,
} from './http/index.js';
export type {
  Dashboard,
  DashboardSnapshot,
  JobView,
  WorkerView,
  HistoryPoint,
  CoordinatorMetrics,
} from './http/index.js';
