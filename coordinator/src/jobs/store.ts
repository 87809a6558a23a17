/**
 * Job records and checkpoints in the JetStream KV bucket {@link JOBS_BUCKET}: `job.<id>` holds
 * the {@link JobRecord}, `ckpt.<id>` the last checkpoint (X, Y, iteration, history). Values are
 * msgpack (moreTypes) so X and Y survive bit-exactly.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import {
  DEFAULT_MAX_PAYLOAD,
  JOBS_BUCKET,
  checkpointKey,
  decodeMessage,
  encode,
  jobKey,
  type CheckpointMsg,
  type JobRecord,
} from '@attnfit/shared/protocol';

/** Object Store name of an overflowing checkpoint. */
export function checkpointObjectName(jobId: string): string {
  return `checkpoint-${jobId}`;
}

/** Typed access to job records and checkpoints. */
export class JobStore {
  constructor(readonly kv: KV) {}

  /**
   * Open the bucket. With `create` (the coordinator) the bucket is created if missing; clients
   * only open it and get NOT_FOUND when no coordinator has initialised the cluster yet.
   */
  static async open(nc: NatsConnection, create = false): Promise<JobStore> {
    const kvm = new Kvm(nc);
    try {
      const kv = create ? await kvm.create(JOBS_BUCKET, { history: 1 }) : await kvm.open(JOBS_BUCKET);
      if (!create) await kv.status();
      return new JobStore(kv);
    } catch (err) {
      throw clusterResourceError(`job store ${JOBS_BUCKET}`, err);
    }
  }

  /** The record of a job, or undefined. */
  async get(id: string): Promise<JobRecord | undefined> {
    const e = await this.kv.get(jobKey(id));
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return decodeMessage(e.value, 'job');
  }

  /** The record of a job; rejects NOT_FOUND naming the id. */
  async require(id: string): Promise<JobRecord> {
    const r = await this.get(id);
    if (!r)
      throw new AttnfitError(ErrorCodes.NOT_FOUND, `job ${JSON.stringify(id)}: no such job`, {
        details: { field: 'job', value: id },
      });
    return r;
  }

  /** Create a record; resolves false when the id already exists (idempotent redelivery). */
  async create(rec: JobRecord): Promise<boolean> {
    try {
      await this.kv.create(jobKey(rec.id), encode(rec));
      return true;
    } catch (err) {
      if (await this.get(rec.id)) return false;
      throw err;
    }
  }

  /** Overwrite a record. */
  async put(rec: JobRecord): Promise<void> {
    await this.kv.put(jobKey(rec.id), encode(rec));
  }

  /** Every job record (order: submittedAt, then id). */
  async list(): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    const keys = await this.kv.keys('job.*');
    const names: string[] = [];
    for await (const k of keys) names.push(k);
    for (const k of names) {
      const r = await this.get(k.slice(4));
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.submittedAt - b.submittedAt || a.id.localeCompare(b.id));
  }

  /**
   * Store a checkpoint. One that does not fit in a KV value (`maxValueBytes`, below the server's
   * max_payload — a long history) goes to the Object Store `overflow` as `checkpoint-<id>`, with a
   * small KV stub pointing at it. Resolves to the encoded size in bytes.
   */
  async putCheckpoint(
    c: CheckpointMsg,
    overflow?: ObjectStore,
    maxValueBytes = DEFAULT_MAX_PAYLOAD - 4096,
  ): Promise<number> {
    const bytes = encode(c);
    if (bytes.length <= maxValueBytes || !overflow) {
      await this.kv.put(checkpointKey(c.jobId), bytes);
      return bytes.length;
    }
    const object = checkpointObjectName(c.jobId);
    await overflow.putBlob({ name: object }, bytes);
    const stub: CheckpointMsg = {
      v: c.v,
      kind: 'checkpoint',
      jobId: c.jobId,
      iteration: c.iteration,
      start: c.start,
      X: new Float64Array(0),
      Y: new Float64Array(0),
      history: [],
      object,
    };
    await this.kv.put(checkpointKey(c.jobId), encode(stub));
    return bytes.length;
  }

  /** The last checkpoint (following an overflow stub into the Object Store), or undefined. */
  async getCheckpoint(id: string, overflow?: ObjectStore): Promise<CheckpointMsg | undefined> {
    const e = await this.kv.get(checkpointKey(id));
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    const c = decodeMessage(e.value, 'checkpoint');
    if (c.object === undefined) return c;
    if (!overflow)
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        `checkpoint of job ${id} is in object ${c.object}: no object store given`,
      );
    const blob = await overflow.getBlob(c.object);
    if (!blob) throw new AttnfitError(ErrorCodes.NOT_FOUND, `checkpoint of job ${id}: object ${c.object} is missing`);
    return decodeMessage(blob, 'checkpoint');
  }

  async deleteCheckpoint(id: string, overflow?: ObjectStore): Promise<void> {
    await this.kv.purge(checkpointKey(id));
    if (overflow) await overflow.delete(checkpointObjectName(id)).catch(() => undefined);
  }

  /**
   * Yield the job's record now and on every change until `until(rec)` is true or the signal
   * aborts. Rejects NOT_FOUND if the job does not exist (unless mustExist is false).
   */
  async *watch(
    id: string,
    until: (r: JobRecord) => boolean,
    signal?: AbortSignal,
    mustExist = true,
  ): AsyncGenerator<JobRecord> {
    const w = await this.kv.watch({ key: jobKey(id) });
    const onAbort = () => w.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let seen = false;
      // The watcher first delivers the current value (if any), then each update. A job just
      // submitted may not have a record yet (mustExist = false): its creation is an update.
      if (mustExist && !(await this.get(id)))
        throw new AttnfitError(ErrorCodes.NOT_FOUND, `job ${JSON.stringify(id)}: no such job`, {
          details: { field: 'job', value: id },
        });
      for await (const e of w) {
        if (e.operation !== 'PUT') continue;
        const r = decodeMessage(e.value, 'job');
        seen = true;
        yield r;
        if (until(r)) return;
      }
      if (!seen && signal?.aborted) throw new AttnfitError(ErrorCodes.CANCELLED, `watch of job ${id} aborted`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      w.stop();
    }
  }
}

/** NOT_FOUND "cluster not initialised" for a missing stream / bucket; CONNECTION/AUTH otherwise. */
export function clusterResourceError(what: string, err: unknown): AttnfitError {
  if (err instanceof AttnfitError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (/permission|authoriz/i.test(msg))
    return new AttnfitError(ErrorCodes.AUTH, `${what}: permission denied (${msg})`, { cause: err });
  if (/not found|no responders|does not exist/i.test(msg)) {
    return new AttnfitError(
      ErrorCodes.NOT_FOUND,
      `${what}: not found — start \`attnfit coordinator\` first to initialise the cluster (${msg})`,
      { cause: err },
    );
  }
  return new AttnfitError(ErrorCodes.CONNECTION, `${what}: ${msg}`, { cause: err, retryable: true });
}
