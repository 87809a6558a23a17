/**
 * Shared pieces of the property-based fuzz suites (fast-check).
 *
 * Runs per property: 10 000 by default (the normal suite); `FUZZ_RUNS=N` raises it for a
 * longer opt-in run (`npm run fuzz`). `FUZZ_SEED=S` replays a failing run: fast-check
 * prints the seed and the shrunk counterexample when a property fails.
 */
import * as fc from 'fast-check';
import { getHeapStatistics } from 'node:v8';
import { AttnfitError } from '@attnfit/shared/core';

/** Cases per property. */
export const RUNS = positiveInt(process.env.FUZZ_RUNS) ?? 10_000;
/** Fixed seed when given (to replay a failure), else fast-check picks one and prints it on failure. */
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

function positiveInt(s: string | undefined): number | undefined {
  if (s === undefined || s.trim() === '') return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`FUZZ_RUNS must be a positive integer (got ${JSON.stringify(s)})`);
  return n;
}

/** fc.assert with the suite's run count (scaled by `share`, e.g. 0.1 for file-backed properties) and seed. */
export function check<Ts extends [unknown, ...unknown[]]>(
  prop: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  share = 1,
): void | Promise<void> {
  const params: fc.Parameters<Ts> = { numRuns: Math.max(1, Math.round(RUNS * share)) };
  if (SEED !== undefined) params.seed = SEED;
  return fc.assert(prop as fc.IProperty<Ts>, params) as void | Promise<void>;
}

/** Outcome of running a decoder on hostile bytes. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: AttnfitError };

/**
 * Run `fn`; anything thrown must be an AttnfitError whose code is in `codes` (else the error is
 * rethrown with the input described, so fast-check reports it). Also bounds what the call may
 * allocate: ArrayBuffer memory (V8's external memory, cheap to sample) may grow by at most `perByte` × the real input size + 1 MiB during
 * the call, so a decoder that allocates what a header *claims* fails here even when the claim is
 * small enough to succeed. (Garbage collection between the samples can only hide growth, never
 * invent it.)
 */
export function coded<T>(codes: readonly string[], inputBytes: number, fn: () => T, perByte = 16): Outcome<T> {
  const before = getHeapStatistics().external_memory;
  let out: Outcome<T>;
  try {
    out = { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof AttnfitError))
      throw new Error(`not an AttnfitError: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
    if (!codes.includes(String(err.code)))
      throw new Error(`unexpected code ${String(err.code)}: ${err.message}`, { cause: err });
    if (err.message.length > 400)
      throw new Error(
        `error message of ${err.message.length} characters (inputs must not be echoed whole): ${err.message.slice(0, 200)}…`,
        { cause: err },
      );
    out = { ok: false, error: err };
  }
  const grown = getHeapStatistics().external_memory - before;
  const bound = perByte * inputBytes + (1 << 20);
  if (grown > bound)
    throw new Error(`allocated ${grown} bytes of ArrayBuffers for an input of ${inputBytes} bytes (bound ${bound})`);
  return out;
}

/** Async twin of {@link coded} (no allocation bound: other async work may run meanwhile). */
export async function codedAsync<T>(codes: readonly string[], fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (!(err instanceof AttnfitError))
      throw new Error(`not an AttnfitError: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
    if (!codes.includes(String(err.code)))
      throw new Error(`unexpected code ${String(err.code)}: ${err.message}`, { cause: err });
    if (err.message.length > 400)
      throw new Error(`error message of ${err.message.length} characters: ${err.message.slice(0, 200)}…`, {
        cause: err,
      });
    return { ok: false, error: err };
  }
}

/** Sizes and counts a hostile header likes to claim: 0, small, around 2^31 / 2^32 / 2^53, negative. */
export const absurdInt = fc.oneof(
  fc.integer({ min: 0, max: 8 }),
  fc.constantFrom(
    -1,
    -(2 ** 31),
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 40,
    2 ** 53 - 1,
    2 ** 53,
    2 ** 63,
    1e20,
    1e300,
  ),
  fc.integer(),
);

/** Bytes with `edits` random byte overwrites, a random truncation or random bytes appended. */
export function mutate(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc
      .array(fc.tuple(fc.nat(Math.max(0, base.length - 1)), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((edits) => {
        const b = base.slice();
        for (const [i, v] of edits) b[i] = v;
        return b;
      }),
    fc.nat(base.length).map((n) => base.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 24 }).map((tail) => {
      const b = new Uint8Array(base.length + tail.length);
      b.set(base);
      b.set(tail, base.length);
      return b;
    }),
  );
}

/** With FUZZ_TIMES=1, print each test's wall time (to size the default run count). */
export function timeTests(t: {
  before: { each(fn: (ctx: Record<string, unknown>) => void): void };
  after: { each(fn: (ctx: Record<string, unknown>) => void): void };
}): void {
  if (process.env.FUZZ_TIMES !== '1') return;
  let t0 = 0;
  t.before.each(() => {
    t0 = performance.now();
  });
  t.after.each((ctx) => {
    process.stderr.write(`  ${((performance.now() - t0) / 1000).toFixed(2)} s  ${String(ctx.__test__ ?? '')}\n`);
  });
}
