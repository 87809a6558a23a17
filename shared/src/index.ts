/**
 * @attnfit/shared — the library entry of the building-block package: errors, the problem and
 * partials shapes, loading problems and matrices (.npy, .safetensors), evaluating the loss and
 * its derivatives in-process, and the dynamic attention structure. The layer entries
 * (`@attnfit/shared/core`, `/kernels`, `/math`, `/dynamic`, `/io`, `/protocol`, `/runtime`) are
 * the internal ones the other packages, tests and benchmarks import (no stability promise).
 * @example
 * ```ts
 * import { DynamicAttention, loadMatrix } from '@attnfit/shared';
 * const [Q, K, V] = await Promise.all(['Q.npy', 'K.npy', 'V.npy'].map((f) => loadMatrix(f)));
 * const da = DynamicAttention.init(Q.data, K.data, V.data, Q.rows, Q.cols, { tau: 0.5 });
 * ```
 */
export { AttnfitError, ErrorCodes } from './core/index.js';
export type { ErrorCode, Problem, Want, Partials } from './core/index.js';
export { loadProblem, loadMatrix, readNpy, writeNpy, readSafetensors, writeSafetensors } from './io/index.js';
export type { LoadedProblem, LoadProblemOptions, Matrix, MatrixExpect, NdArray } from './io/index.js';
export { evaluateProblem, attentionForward } from './math/index.js';
export { DynamicAttention, DYNAMIC_DEFAULTS, parseDynamicOp, applyDynamicOp } from './dynamic/index.js';
export type { DynamicMode, DynamicOptions, DynamicStats, DynamicOp } from './dynamic/index.js';
