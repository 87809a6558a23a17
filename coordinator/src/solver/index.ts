export { solve, autoMethod, validateSolveOptions, randomStart } from './solve.js';
export { SOLVE_DEFAULTS, NEWTON_MAX_D, X0_SCALE, SEARCH_DEFAULTS } from './defaults.js';
export { searchStarts, logitSpread } from './search.js';
export type { SearchContext, SearchOutcome } from './search.js';
export { Reduced } from './reduced.js';
export type { Point } from './reduced.js';
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
} from './types.js';
export { lossCurveSvg, searchCurveSvg } from './plot.js';
export { buildReport, writeSolveOutputs } from './report.js';
export type { SolveReport, StartReport } from './report.js';
