/**
 * Honest skips. A test that cannot exercise its subject here (an optional backend not built, a
 * tool not installed) is registered through {@link testIf}: when `missing` names what is missing,
 * uvu counts it as skipped and a line `[skip] NAME: REASON` is printed, which test/run.mjs shows
 * under the file and counts in the closing `N passed, N failed, N skipped`. A uvu skip without
 * such a line fails the file, so nothing is skipped silently.
 */
import type { Callback, Test } from 'uvu';

/** Prefix of the reason lines test/run.mjs reads. */
export const SKIP_PREFIX = '[skip] ';

/**
 * Register `name` on the suite `t`, or report it skipped with the reason when `missing` is set.
 * @example testIf(test, 'native exp is bitwise the wasm exp', st.loaded ? undefined : `native BLAS addon not loaded: ${st.reason}`, () => { … });
 */
export function testIf<T>(t: Test<T>, name: string, missing: string | undefined, fn: Callback<T>): void {
  if (missing === undefined) {
    t(name, fn);
    return;
  }
  process.stdout.write(`${SKIP_PREFIX}${name}: ${missing.replace(/\s*\n\s*/g, ' ')}\n`);
  t.skip(name, fn);
}
