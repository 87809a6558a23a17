/**
 * The one reduce every scheduler uses: partials of row blocks add up (docs/design.md §1.6).
 */
import { AttnfitError, ErrorCodes } from '../core/index.js';
import type { Partials } from './types.js';
import { ARRAY_PARTIAL_KEYS } from './types.js';

/** Partials of zero rows (the identity of {@link combinePartials}). Example: `emptyPartials().rows === 0`. */
export function emptyPartials(): Partials {
  return { rows: 0 };
}

/**
 * Add b into acc in place and return acc. Fields present only in b are copied (never aliased);
 * fields present only in acc are kept. Throws INTERNAL on an array length mismatch. Combine in
 * block order for bitwise reproducibility. Example:
 * `const total = blocks.map(f).reduce(combinePartials, emptyPartials())`.
 */
export function combinePartials(acc: Partials, b: Partials): Partials {
  acc.rows += b.rows;
  if (b.loss !== undefined) acc.loss = acc.loss === undefined ? b.loss : acc.loss + b.loss;
  for (const key of ARRAY_PARTIAL_KEYS) {
    const src = b[key];
    if (src === undefined) continue;
    const dst = acc[key];
    if (dst === undefined) {
      acc[key] = Float64Array.from(src);
      continue;
    }
    if (dst.length !== src.length) {
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        `combinePartials: ${key} length mismatch (${dst.length} vs ${src.length})`,
        { details: { field: key } },
      );
    }
    for (let i = 0; i < src.length; i++) dst[i] += src[i]!;
  }
  return acc;
}
