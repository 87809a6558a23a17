/**
 * Where the worker service gets a problem it has not cached: the problems Object Store, by
 * content hash. Before fetching, the problem's size is checked against what this worker may spend
 * on it (ATTNFIT_WORKER_PROBLEM_MEMORY, else the free memory): a problem that does not fit is
 * refused with TOO_LARGE (retryable, so the coordinator tries another worker, and fails the job
 * after its bounded attempts when none can hold it) instead of the process dying mid-fetch. The
 * blob is verified (manifest, every part's sha256, the whole blob's sha256 against the name, and
 * the shape against the task's {@link ProblemRef}) before it is registered with the block pool
 * (tensors copied into SharedArrayBuffers for the threads).
 */
import { freemem } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { readEnv } from '@attnfit/shared/config';
import {
  PROBLEMS_BUCKET,
  problemBlobBytes,
  readProblemBlob,
  problemViews,
  type ProblemRef,
} from '@attnfit/shared/protocol';
import type { BlockPool, RegisteredProblem } from '@attnfit/shared/runtime';

/**
 * Bytes a worker needs to load the problem of `ref`: the fetched blob plus the copy registered
 * with the thread pool (about 2 × 32·n·d).
 */
export function problemLoadBytes(ref: Pick<ProblemRef, 'n' | 'd'>): number {
  return problemBlobBytes(ref.n, ref.d) + 32 * ref.n * ref.d;
}

/**
 * Refuse a problem this worker cannot hold: TOO_LARGE (retryable: another worker may hold it)
 * naming the object, the bytes it needs and the limit. `limitBytes` undefined: the free memory.
 */
export function checkProblemFits(ref: ProblemRef, limitBytes: number | undefined, worker = 'this worker'): void {
  const need = problemLoadBytes(ref);
  const limit = limitBytes ?? freemem();
  if (need <= limit) return;
  const source = limitBytes === undefined ? 'free memory' : 'ATTNFIT_WORKER_PROBLEM_MEMORY';
  throw new AttnfitError(
    ErrorCodes.TOO_LARGE,
    `problem ${ref.object} (n=${ref.n}, d=${ref.d}) needs ${mib(need)} to load; ${worker} may use ${mib(limit)} (${source})`,
    { retryable: true, details: { object: ref.object, needBytes: need, limitBytes: limit } },
  );
}

function mib(b: number): string {
  return b < 1024 ** 2 ? `${b} bytes` : `${(b / 1024 ** 2).toFixed(1)} MiB`;
}

/** Loads problems from the problems Object Store into a block pool. */
export class ObjectStoreProblems {
  /** Problems fetched so far (diagnostics and tests). */
  fetches = 0;
  private store: Promise<ObjectStore> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly pool: Pick<BlockPool, 'register'>,
    /** Bytes one problem may use; undefined: read ATTNFIT_WORKER_PROBLEM_MEMORY at each load. */
    private readonly limitBytes?: number,
  ) {}

  /**
   * Check the size, fetch, verify and register the problem of `ref`. Rejects TOO_LARGE (before
   * any fetch), NOT_FOUND or PROTOCOL naming the object.
   */
  async load(ref: ProblemRef): Promise<RegisteredProblem> {
    checkProblemFits(ref, this.limitBytes ?? readEnv('workerProblemBytes'));
    this.fetches++;
    const os = await this.objectStore();
    const p = problemViews(await readProblemBlob(os, ref));
    if (p.n !== ref.n || p.d !== ref.d)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `problem ${ref.object}: shape ${p.n}×${p.d} does not match ${ref.n}×${ref.d}`,
      );
    return this.pool.register(p);
  }

  /** The Object Store, opened once (a failed open is retried by the next load). */
  private objectStore(): Promise<ObjectStore> {
    this.store ??= new Objm(this.nc).open(PROBLEMS_BUCKET).catch((err: unknown) => {
      this.store = undefined;
      throw new AttnfitError(
        ErrorCodes.NOT_FOUND,
        `object store ${PROBLEMS_BUCKET}: cannot open (${(err as Error).message})`,
        { cause: err, retryable: true },
      );
    });
    return this.store;
  }
}
