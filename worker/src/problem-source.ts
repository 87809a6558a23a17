/**
 * Where the worker service gets a problem it has not cached: the data Object Store, by content
 * hash. The blob is verified (sha256 and shape against the task's {@link ProblemRef}) before it is
 * registered with the block pool (tensors copied into SharedArrayBuffers for the threads).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { DATA_BUCKET, sha256Hex, unpackProblem, type ProblemRef } from '@attnfit/shared/protocol';
import type { BlockPool, RegisteredProblem } from '@attnfit/shared/runtime';

/** Loads problems from the data Object Store into a block pool. */
export class ObjectStoreProblems {
  /** Problems fetched so far (diagnostics and tests). */
  fetches = 0;
  private store: Promise<ObjectStore> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly pool: Pick<BlockPool, 'register'>,
  ) {}

  /** Fetch, verify and register the problem of `ref`. Rejects NOT_FOUND or PROTOCOL naming the object. */
  async load(ref: ProblemRef): Promise<RegisteredProblem> {
    this.fetches++;
    const os = await this.objectStore();
    const blob = await os.getBlob(ref.object);
    if (!blob)
      throw new AttnfitError(ErrorCodes.NOT_FOUND, `problem ${ref.object}: not in object store ${DATA_BUCKET}`);
    const got = sha256Hex(blob);
    if (got !== ref.hash)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `problem ${ref.object}: content hash ${got} does not match ${ref.hash}`,
      );
    const p = unpackProblem(blob);
    if (p.n !== ref.n || p.d !== ref.d)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `problem ${ref.object}: shape ${p.n}×${p.d} does not match ${ref.n}×${ref.d}`,
      );
    return this.pool.register(p);
  }

  /** The Object Store, opened once (a failed open is retried by the next load). */
  private objectStore(): Promise<ObjectStore> {
    this.store ??= new Objm(this.nc).open(DATA_BUCKET).catch((err: unknown) => {
      this.store = undefined;
      throw new AttnfitError(
        ErrorCodes.NOT_FOUND,
        `object store ${DATA_BUCKET}: cannot open (${(err as Error).message})`,
        { cause: err, retryable: true },
      );
    });
    return this.store;
  }
}
