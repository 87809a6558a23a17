/**
 * BlockPool: a piscina pool running the block thread entry (`@attnfit/worker/thread`, named by
 * path by the caller: the worker package passes its own file, the coordinator resolves it, so
 * neither imports the other). Problem tensors are copied once into SharedArrayBuffers shared by
 * all threads (or, when SAB is unavailable or ATTNFIT_NO_SAB=1, copied once per thread); block
 * tasks carry only the problem id, X, Y, want and a row range (./thread-protocol.ts).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import type { Piscina } from 'piscina';
import { readEnv } from '../config/index.js';
import { AttnfitError, ErrorCodes, wireToError } from '../core/index.js';
import type { Partials, Problem, Want } from '../core/index.js';
import type { ThreadReply, ThreadTask } from './thread-protocol.js';

/** True when problem tensors go to threads through SharedArrayBuffers. */
export function sabEnabled(): boolean {
  return typeof SharedArrayBuffer === 'function' && !readEnv('noSab');
}

/** A problem registered with a pool: its id and the tensors sent to threads on a cache miss. */
export interface RegisteredProblem {
  readonly id: string;
  readonly n: number;
  readonly d: number;
  readonly tensors: Problem;
  readonly shared: boolean;
}

/** Per-call options. */
export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Grace period (ms) between setting the shared abort flag and terminating busy threads. */
export const ABORT_BACKSTOP_MS = 2000;

function cancelled(why: string): AttnfitError {
  return new AttnfitError(ErrorCodes.CANCELLED, why);
}

let piscinaCtor: typeof Piscina | undefined;
/** piscina is loaded when the first pool is made: inline runs (`--threads 1`) skip its ~50 ms load. */
function loadPiscina(): typeof Piscina {
  piscinaCtor ??= (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina;
  return piscinaCtor;
}

/**
 * A piscina pool of `threads` threads running block tasks for registered problems.
 * Example: `const pool = new BlockPool(2, { filename: threadEntryPath() }); const reg = pool.register(p);
 * const parts = await pool.blocks(reg, [[0, 64], [64, 128]], X, Y, { loss: true });`
 */
export class BlockPool {
  readonly threads: number;
  readonly shared: boolean;
  private readonly piscina: Piscina;
  private destroyed = false;

  constructor(threads: number, opts: { filename: string; shared?: boolean }) {
    if (!Number.isInteger(threads) || threads < 1)
      throw new AttnfitError(ErrorCodes.BAD_OPTION, `threads: must be an integer >= 1 (got ${threads})`);
    this.threads = threads;
    this.shared = opts.shared ?? sabEnabled();
    this.piscina = new (loadPiscina())({
      filename: opts.filename,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
    });
  }

  /** Copy a problem's tensors once into shared memory (or keep one private copy) and name it. */
  register(p: Problem): RegisteredProblem {
    const { n, d } = p;
    const len = n * d;
    const make = (src: Float64Array): Float64Array => {
      const a = this.shared ? new Float64Array(new SharedArrayBuffer(len * 8)) : new Float64Array(len);
      a.set(src.subarray(0, len));
      return a;
    };
    const tensors: Problem = { n, d, A1: make(p.A1), A2: make(p.A2), A3: make(p.A3), B: make(p.B) };
    return { id: `${process.pid}-${randomUUID()}`, n, d, tensors, shared: this.shared };
  }

  /** Run one task; resends once with tensors when the thread does not hold the problem yet. */
  private async runTask(
    reg: RegisteredProblem,
    kind: ThreadTask['kind'],
    msg: unknown,
    abort: Int32Array | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    if (this.destroyed) throw new AttnfitError(ErrorCodes.INTERNAL, 'engine pool is closed');
    const task: ThreadTask = { kind, problemId: reg.id, msg: msg as ThreadTask['msg'] };
    if (abort) task.abort = abort;
    let reply = (await this.piscina.run(task, { signal })) as ThreadReply;
    if (!reply.ok && reply.miss) {
      task.tensors = reg.tensors;
      reply = (await this.piscina.run(task, { signal })) as ThreadReply;
    }
    if (reply.ok) return reply.value;
    if (reply.miss) throw new AttnfitError(ErrorCodes.INTERNAL, 'thread did not accept the problem tensors');
    throw wireToError(reply.error);
  }

  /**
   * Run tasks concurrently and return their values in task order. Rejects with CANCELLED when
   * `signal` aborts (the shared flag stops threads between blocks; busy threads are terminated
   * after {@link ABORT_BACKSTOP_MS}), with TIMEOUT after `timeoutMs`.
   */
  private async runAll(
    reg: RegisteredProblem,
    kind: ThreadTask['kind'],
    msgs: unknown[],
    opts: RunOptions,
  ): Promise<unknown[]> {
    const timeoutErr =
      opts.timeoutMs !== undefined
        ? new AttnfitError(ErrorCodes.TIMEOUT, `evaluation timed out after ${opts.timeoutMs} ms`, { retryable: true })
        : undefined;
    if (opts.signal?.aborted) throw cancelled('evaluation cancelled before it started');
    const abort = this.shared ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const hard = new AbortController();
    setMaxListeners(0, hard.signal); // one listener per queued task (blocks may exceed 10)
    let backstop: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopper = new Promise<never>((_, reject) => {
      const stop = (err: AttnfitError) => {
        if (abort) Atomics.store(abort, 0, 1);
        backstop = setTimeout(() => hard.abort(err), abort ? ABORT_BACKSTOP_MS : 0);
        backstop.unref();
        reject(err);
      };
      onAbort = () => stop(cancelled('evaluation cancelled'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutErr) {
        timer = setTimeout(() => stop(timeoutErr), opts.timeoutMs);
        timer.unref();
      }
    });
    stopper.catch(() => undefined);
    try {
      const work = Promise.all(msgs.map((m) => this.runTask(reg, kind, m, abort, hard.signal)));
      work.catch(() => undefined);
      return await Promise.race([work, stopper]);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      void backstop;
    }
  }

  /** Partials of each row range (one task per range), in range order. */
  async blocks(
    reg: RegisteredProblem,
    ranges: ReadonlyArray<readonly [number, number]>,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    opts: RunOptions = {},
  ): Promise<Partials[]> {
    const msgs = ranges.map(([r0, r1]) => ({ r0, r1, X, Y, want }));
    return (await this.runAll(reg, 'block', msgs, opts)) as Partials[];
  }

  /** Gram matrices A1ᵀA1, A2ᵀA2 (d×d). */
  async gram(reg: RegisteredProblem, opts: RunOptions = {}): Promise<{ G1: Float64Array; G2: Float64Array }> {
    const [g] = await this.runAll(reg, 'gram', [{}], opts);
    return g as { G1: Float64Array; G2: Float64Array };
  }

  /** Terminate the threads. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}
