/**
 * The attention-regression problem and its summable row-block partials (docs/design.md §1).
 *
 * All matrices are float64, row-major. x = vec(X) row-major (numpy X.reshape(-1)).
 * L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F   (no ½, the paper's convention)
 *
 * Every quantity is a sum over query rows j, so a block of rows [r0, r1) is an independent unit
 * of work; `combinePartials` adds two blocks' partials. The full-problem result is the sum over
 * any row partition (in a fixed block order → bitwise reproducible).
 */

// The shapes are declared once in the core layer (shared by math, runtime, protocol and I/O).
export type { Problem, Want, Partials, ArrayPartialKey } from '../core/index.js';
export { ARRAY_PARTIAL_KEYS } from '../core/index.js';
