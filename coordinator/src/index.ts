/**
 * @attnfit/coordinator — the library entry: what a user needs to fit attention from code, run or
 * use a cluster, and keep dynamic attention sessions. Everything else (engine pools, oracles'
 * internals, the job store, wire subjects, report builders) is in `@attnfit/coordinator/internal`
 * for tests and benchmarks, with no stability promise.
 *
 * @example
 * ```ts
 * import { loadProblem, createOracle, solve, shutdownEngine } from '@attnfit/coordinator';
 * const problem = await loadProblem('runs/p1');
 * const oracle = await createOracle(problem, { threads: 4 });
 * const result = await solve(oracle, { tol: 1e-12 });
 * await oracle.close(); await shutdownEngine();
 * ```
 */
// The same kernels as the CLI and the worker threads in the importing thread too: native BLAS
// when built, else WebAssembly with relaxed-SIMD FMA. Without this, an inline evaluation here and
// one in a worker thread could run different kernels and differ in the last bits.
import '@attnfit/shared/native';

// errors and problems
export { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
export type { ErrorCode, Problem } from '@attnfit/shared/core';
export { loadProblem } from '@attnfit/shared/io';
export type { LoadedProblem } from '@attnfit/shared/io';
// fitting
export { solve, SOLVE_DEFAULTS, SEARCH_DEFAULTS } from './solver/index.js';
export type {
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
} from './solver/index.js';
export { createOracle, LocalOracle } from './oracle/index.js';
export type { Oracle, OracleInfo, CallOptions, CreateOracleOptions, LocalOracleOptions } from './oracle/index.js';
export { shutdownEngine } from './engine/index.js';
// the cluster
export { ClusterClient, startCoordinator } from './cluster/index.js';
export type {
  CoordinatorOptions,
  CoordinatorService,
  NatsAuthOptions,
  NatsOracleHandleOptions,
} from './cluster/index.js';
export type {
  CoordinatorObserver,
  CoordinatorStartInfo,
  JobIterationEvent,
  TaskAttemptEvent,
} from './cluster/index.js';
// dynamic attention sessions
export { openDynamicSession, openNatsDynamicSession, startDynamicService } from './dynamic/index.js';
export type {
  DynamicSession,
  DynamicSessionOptions,
  NatsDynamicOptions,
  DynamicServiceOptions,
  DynamicServiceHandle,
} from './dynamic/index.js';
