/** Loss normalisation helpers. */
import type { Problem } from './types.js';

/** ‖B‖²_F (sum of squares of the target). Example: `relLoss(loss, bNorm2(p))`. */
export function bNorm2(p: Pick<Problem, 'n' | 'd' | 'B'>): number {
  let s = 0;
  const len = p.n * p.d;
  for (let i = 0; i < len; i++) {
    const v = p.B[i]!;
    s += v * v;
  }
  return s;
}

/**
 * Relative loss L / ‖B‖²_F. When ‖B‖²_F is 0 there is no scale: the absolute loss is returned.
 * Example: `relLoss(2, 4)` → 0.5.
 */
export function relLoss(loss: number, bNorm2Value: number): number {
  return bNorm2Value > 0 ? loss / bNorm2Value : loss;
}
