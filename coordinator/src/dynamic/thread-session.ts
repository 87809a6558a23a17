/**
 * A dynamic attention session in its own worker thread (comlink over the Node adapter), so the
 * caller's event loop stays free while the structure rebuilds. The thread entry is named by
 * path (`@attnfit/worker/package.json` → dist/dynamic-thread.js); the coordinator never
 * imports the worker package.
 *
 * Sharded rebuilds: with `rebuildThreads` ≥ 2 and n ≥ `shardMinRows` (default
 * DYNAMIC_DEFAULTS.shardMinRows = 2048) the session thread keeps the structure in
 * SharedArrayBuffers and splits every rebuild's row blocks between itself and
 * `rebuildThreads − 1` helper threads (dist/dynamic-rebuild-thread.js, named by path here).
 * Answers are bitwise those of the single-thread structure.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { DYNAMIC_DEFAULTS, type DynamicOp, type DynamicOptions, type DynamicStats } from '@attnfit/shared/dynamic';
import { RemoteDynamicSession, unwrapReply } from './session-base.js';
import type { DynamicReply } from './types.js';

/** What the thread exposes (see worker/src/dynamic-thread.ts). */
interface DynamicHostApi {
  init(
    Q: Float64Array,
    K: Float64Array,
    V: Float64Array,
    n: number,
    d: number,
    opts: DynamicOptions,
    host: HostOptions,
  ): DynamicReply;
  call(method: string, args: unknown[]): DynamicReply;
  apply(ops: unknown[]): DynamicReply;
  dispose(): DynamicReply;
}

interface HostOptions {
  rebuildThreads: number;
  shardMinRows: number;
  rebuildThreadPath: string;
}

/** Options of {@link openDynamicSession}: the structure's options plus thread-level ones. */
export interface DynamicSessionOptions extends DynamicOptions {
  /**
   * Threads per rebuild, the session thread included (integer ≥ 1, default 1). With ≥ 2 and
   * n ≥ shardMinRows, rebuild row blocks are split across `rebuildThreads − 1` helper threads
   * and the session thread. Ignored with deamortize (de-amortised rebuilds advance per update).
   */
  rebuildThreads?: number;
  /** Shard rebuilds only when n ≥ this many rows (integer ≥ 1; default DYNAMIC_DEFAULTS.shardMinRows = 2048). */
  shardMinRows?: number;
}

function workerDist(file: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@attnfit/worker/package.json')), 'dist', file);
}

/** Absolute path of the worker package's dynamic-session thread entry. */
export function dynamicThreadPath(): string {
  return workerDist('dynamic-thread.js');
}

/** Absolute path of the worker package's sharded-rebuild helper thread entry (piscina). */
export function dynamicRebuildThreadPath(): string {
  return workerDist('dynamic-rebuild-thread.js');
}

function intOpt(field: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${field}: must be an integer >= 1 (got ${JSON.stringify(v)})`, {
      details: { field, value: String(v) },
    });
  }
  return v;
}

/** A session living in a worker thread. Create with {@link openDynamicSession}. */
export class ThreadDynamicSession extends RemoteDynamicSession {
  private closed = false;
  private closing: Promise<void> | null = null;
  private lost: Promise<never>;
  private lostError: AttnfitError | null = null;

  /** @internal */
  constructor(
    private readonly worker: Worker,
    private readonly remote: Remote<DynamicHostApi>,
    readonly n: number,
    readonly d: number,
  ) {
    super();
    this.lost = new Promise<never>((_, reject) => {
      const fail = (why: string, cause?: unknown) => {
        if (this.lostError) return;
        this.lostError = new AttnfitError(ErrorCodes.WORKER_LOST, `dynamic session thread ${why}`, { cause });
        reject(this.lostError);
      };
      worker.once('error', (err) => fail('crashed', err));
      worker.once('exit', (code) => fail(this.closed ? 'was closed' : `exited with code ${code}`));
    });
    this.lost.catch(() => {});
  }

  /** Run a remote call unless the session is closed or its thread is gone; reject if the thread dies meanwhile. */
  private guard(run: () => Promise<DynamicReply>): Promise<DynamicReply> {
    if (this.closed) return Promise.reject(new AttnfitError(ErrorCodes.NOT_FOUND, 'dynamic session: already closed'));
    if (this.lostError) return Promise.reject(this.lostError);
    return Promise.race([run(), this.lost]);
  }

  protected send(method: string, args: unknown[]): Promise<DynamicReply> {
    return this.guard(() => this.remote.call(method, args) as Promise<DynamicReply>);
  }

  protected sendApply(ops: readonly DynamicOp[]): Promise<DynamicReply> {
    return this.guard(() => this.remote.apply(ops as unknown[]) as Promise<DynamicReply>);
  }

  /** @internal */
  initRemote(
    Q: Float64Array,
    K: Float64Array,
    V: Float64Array,
    opts: DynamicOptions,
    host: HostOptions,
  ): Promise<DynamicStats> {
    return this.guard(() => this.remote.init(Q, K, V, this.n, this.d, opts, host) as Promise<DynamicReply>).then(
      (r) => unwrapReply(r) as DynamicStats,
    );
  }

  /** Stop the rebuild helpers (after calls already sent), then the session thread. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      if (!this.lostError) await Promise.race([this.remote.dispose(), this.lost]).catch(() => {});
      this.remote[releaseProxy]();
      await this.worker.terminate();
    })();
    return this.closing;
  }
}

/**
 * Open a session: starts a worker thread and builds the structure there (O(n²d), off the
 * caller's event loop). Q, K, V are n×d row-major float64 (copied to the thread).
 * Rejects with the structure's AttnfitError (SHAPE_MISMATCH, BAD_OPTION, …) on bad input.
 * @example
 * const s = await openDynamicSession(Q, K, V, n, d, { tau: 0.5 });
 * await s.updateK(3, 1, 0.25); const y = await s.query(0, 2); await s.close();
 */
export async function openDynamicSession(
  Q: Float64Array,
  K: Float64Array,
  V: Float64Array,
  n: number,
  d: number,
  opts: DynamicSessionOptions = {},
): Promise<ThreadDynamicSession> {
  const { rebuildThreads, shardMinRows, ...daOpts } = opts;
  const host: HostOptions = {
    rebuildThreads: intOpt('rebuildThreads', rebuildThreads, 1),
    shardMinRows: intOpt('shardMinRows', shardMinRows, DYNAMIC_DEFAULTS.shardMinRows),
    rebuildThreadPath: dynamicRebuildThreadPath(),
  };
  const worker = new Worker(dynamicThreadPath());
  const remote = wrap<DynamicHostApi>(nodeEndpoint(worker as never));
  const session = new ThreadDynamicSession(worker, remote, n, d);
  try {
    await session.initRemote(Q, K, V, daOpts, host);
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}
