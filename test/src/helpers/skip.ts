/**
 * Skipping with a reason: the file prints `SKIP <test>: <reason>` (test/run.mjs shows these lines)
 * and registers the test with uvu's test.skip, so the runner counts it as skipped — never as passed.
 */
import type { Test } from 'uvu';

/** Register `name` as skipped because of `reason`. */
export function skipWithReason(test: Test, name: string, reason: string): void {
  process.stdout.write(`SKIP ${name}: ${reason}\n`);
  test.skip(name, () => undefined);
}
