// The same kernels as the CLI and the worker threads in the importing thread too: native BLAS
// when built, else WebAssembly with relaxed-SIMD FMA. Without this, an inline evaluation here and
// one in a worker thread could run different kernels and differ in the last bits.
import '@attnfit/shared/native';
export {
  openDynamicSession, ThreadDynamicSession, openNatsDynamicSession, NatsDynamicSession, startDynamicService,
  DYN_OPEN_SUBJECT, DYN_QUEUE, DYN_SUBJECT_PREFIX, DYN_SESSION_OPS, dynSessionSubject, dynamicThreadPath, dynamicRebuildThreadPath,
} from './dynamic/index.js';
export type { DynamicSession, NatsDynamicOptions, DynamicServiceOptions, DynamicServiceHandle, DynamicSessionOptions } from './dynamic/index.js';
export { createOracle, LocalOracle, InlineOracle, reduceInOrder } from './oracle/index.js';
export type { Oracle, OracleInfo, CallOptions, CreateOracleOptions, LocalOracleOptions } from './oracle/index.js';
export { getEnginePool, shutdownEngine, defaultThreads, EnginePool } from './engine/index.js';
export {
  solve, SOLVE_DEFAULTS, SEARCH_DEFAULTS, NEWTON_MAX_D, autoMethod, Reduced, validateSolveOptions, randomStart, buildReport, writeSolveOutputs, lossCurveSvg,
} from './solver/index.js';
export type {
  SearchOptions, SearchReport, SearchStart, SearchFamily,
  SolveMethod, StopReason, SolveOptions, SolveHooks, SolveResult, IterationRecord, IterationEvent, MethodState, StartResult, SolveReport,
} from './solver/index.js';
export {
  NatsOracle, NATS_ORACLE_DEFAULTS, startCoordinator, runCoordinator, COORDINATOR_DEFAULTS, ClusterClient, newJobId, connectNats,
  ensureClusterResources, createNatsOracle,
} from './cluster/index.js';
export type { NatsOracleOptions, CoordinatorOptions, CoordinatorService, NatsAuthOptions, NatsOracleHandleOptions } from './cluster/index.js';
export { JobStore } from './jobs/store.js';
