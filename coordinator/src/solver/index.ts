export { solve, autoMethod, validateSolveOptions, randomStart } from './solve.js';
export { SOLVE_DEFAULTS, NEWTON_MAX_D, X0_SCALE } from './defaults.js';
export { Reduced } from './reduced.js';
export type { Point } from './reduced.js';
export type {
  SolveMethod, StopReason, SolveOptions, SolveHooks, SolveResult, IterationRecord, IterationEvent, MethodState, StartResult,
} from './types.js';
export { lossCurveSvg } from './plot.js';
export { buildReport, writeSolveOutputs } from './report.js';
export type { SolveReport, StartReport } from './report.js';
