/**
 * piscina thread entry (`@attnfit/worker/thread` → dist/thread.js). Caches problem tensors by
 * id (LRU of {@link THREAD_CACHE_PROBLEMS}), runs one handler per task and never throws: every
 * outcome is a ThreadReply (errors as WireError). Message format: shared/src/runtime/thread-protocol.ts.
 */
import { AttnfitError, ErrorCodes, errorToWire } from '@attnfit/shared/core';
import type { Problem } from '@attnfit/shared/math';
import { handlers } from './handlers.js';
// Optional native BLAS: registers and activates 'native-blas' only when the addon was built
// (`npm run build:native -w @attnfit/shared`); the CLI main thread imports it too, so every
// thread of a process uses the same GEMM (bitwise identical results for any thread count).
import '@attnfit/shared/native';
import type { ThreadReply, ThreadTask } from '@attnfit/shared/runtime';

/** Problems kept per thread (least recently used is dropped first). */
export const THREAD_CACHE_PROBLEMS = 4;

/**
 * Shared problem tensors up to this many bytes in total (A1, A2, A3, B) get a private copy in
 * each thread (at most this much extra memory per thread). Measured with two threads at n = 4096,
 * d = 64, wasm-simd, interleaved in one process: reading the GEMM operands from
 * SharedArrayBuffer-backed arrays made one evaluation 10–15% slower than from private copies
 * (ATTNFIT_NO_SAB=1); larger problems stay shared (memory over speed). Same values either way.
 */
export const PRIVATE_COPY_BYTES = 64 * 1024 * 1024;

const cache = new Map<string, Problem>();

function toProblem(t: Problem): Problem {
  const { n, d } = t;
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) {
    const a = t[k];
    if (!(a instanceof Float64Array) || a.length !== n * d) {
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `thread task: tensor ${k} must be a Float64Array of ${n}×${d} (got length ${(a as { length?: number })?.length})`,
      );
    }
  }
  const copy =
    typeof SharedArrayBuffer === 'function' &&
    t.A1.buffer instanceof SharedArrayBuffer &&
    4 * n * d * 8 <= PRIVATE_COPY_BYTES;
  const own = (a: Float64Array): Float64Array => (copy ? new Float64Array(a) : a);
  return { n, d, A1: own(t.A1), A2: own(t.A2), A3: own(t.A3), B: own(t.B) };
}

/** Run one task (default export: piscina calls it once per task). */
export default async function run(task: ThreadTask): Promise<ThreadReply> {
  try {
    let problem = cache.get(task.problemId);
    if (problem) {
      cache.delete(task.problemId);
      cache.set(task.problemId, problem); // LRU touch
    } else {
      if (!task.tensors) return { ok: false, miss: true };
      problem = toProblem(task.tensors);
      cache.set(task.problemId, problem);
      while (cache.size > THREAD_CACHE_PROBLEMS) cache.delete(cache.keys().next().value as string);
    }
    const h = handlers[task.kind] as (m: unknown, c: { problem: Problem; abort?: Int32Array }) => Promise<unknown>;
    if (typeof h !== 'function')
      throw new AttnfitError(ErrorCodes.PROTOCOL, `thread task: unknown kind ${JSON.stringify(task.kind)}`);
    const ctx: { problem: Problem; abort?: Int32Array } = { problem };
    if (task.abort) ctx.abort = task.abort;
    const value = await h(task.msg, ctx);
    return { ok: true, value } as ThreadReply;
  } catch (err) {
    return { ok: false, error: errorToWire(err) };
  }
}
