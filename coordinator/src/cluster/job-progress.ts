/**
 * What a running job records after each solver iteration: the iteration history of the current
 * start, a checkpoint (X, Y, history, method state) in KV, the job record's iteration and loss,
 * a `progress` event on `attnfit.progress.<job>`, and the observer's iteration and job events.
 *
 * Checkpoint cadence: every iteration while checkpoints are small; a long history (large
 * checkpoint) is saved every ceil(bytes / CHECKPOINT_BYTES_PER_ITERATION) iterations so the cost
 * stays linear. Resuming from an older checkpoint only redoes those iterations.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';
import {
  PROTOCOL_VERSION,
  encode,
  progressSubject,
  type CheckpointMsg,
  type JobRecord,
  type ProgressMsg,
} from '@attnfit/shared/protocol';
import type { IterationEvent, IterationRecord } from '../solver/types.js';
import type { JobStore } from '../jobs/store.js';
import type { ObserverEvents } from './observer.js';
import type { TrafficLog } from '../oracle/traffic.js';

/** Checkpoint bytes written per iteration on average (larger checkpoints are written less often). */
export const CHECKPOINT_BYTES_PER_ITERATION = 256 * 1024;

/** Records the iterations of one job run. */
export class JobProgress {
  private history: IterationRecord[];
  private currentStart: number;
  private lastCkptBytes = 0;
  private lastCkptIteration: number;
  private ckptStart: number | undefined;

  /**
   * @param rec the live job record (updated in place)
   * @param resumed the checkpoint the run continues from, if any
   * @param t0 epoch ms the run started (progress `seconds`)
   * @param traffic the oracle's traffic log: each progress event carries the iteration's bytes
   */
  constructor(
    private readonly io: {
      nc: NatsConnection;
      store: JobStore;
      os: ObjectStore;
      observer: ObserverEvents<'job' | 'iteration'>;
    },
    private readonly rec: JobRecord,
    resumed: CheckpointMsg | undefined,
    private readonly t0: number,
    private readonly traffic?: TrafficLog,
  ) {
    this.history = resumed ? (resumed.history as IterationRecord[]).slice() : [];
    this.currentStart = resumed?.start ?? 0;
    this.lastCkptIteration = resumed?.iteration ?? -1;
    this.ckptStart = resumed?.start;
  }

  /** The solver's onIteration hook. */
  async onIteration(ev: IterationEvent): Promise<void> {
    const { X, Y, start, state, ...iter } = ev;
    const bytes = this.traffic?.mark(start, iter.iteration);
    this.remember(start, iter);
    const every = Math.max(1, Math.ceil(this.lastCkptBytes / CHECKPOINT_BYTES_PER_ITERATION));
    if (iter.iteration - this.lastCkptIteration >= every || start !== (this.ckptStart ?? start)) {
      const c: CheckpointMsg = {
        v: PROTOCOL_VERSION,
        kind: 'checkpoint',
        jobId: this.rec.id,
        iteration: iter.iteration,
        start,
        X: X.slice(),
        Y: Y.slice(),
        history: this.history.slice(),
      };
      if (state) c.state = state as Record<string, unknown>;
      this.lastCkptBytes = await this.io.store.putCheckpoint(c, this.io.os);
      this.lastCkptIteration = iter.iteration;
      this.ckptStart = start;
    }
    const rec = this.rec;
    rec.iteration = iter.iteration;
    rec.loss = iter.loss;
    rec.relLoss = iter.relLoss;
    await this.io.store.put(rec);
    this.io.observer.iteration(rec.id, {
      start,
      iteration: iter.iteration,
      loss: iter.loss,
      relLoss: iter.relLoss,
      gradNorm: iter.gradNorm,
      seconds: iter.seconds,
    });
    this.io.observer.job(rec);
    const p: ProgressMsg = {
      v: PROTOCOL_VERSION,
      kind: 'progress',
      jobId: rec.id,
      iteration: iter.iteration,
      loss: iter.loss,
      relLoss: iter.relLoss,
      gradNorm: iter.gradNorm,
      seconds: (Date.now() - this.t0) / 1000,
      ...bytes,
    };
    this.io.nc.publish(progressSubject(rec.id), encode(p));
  }

  /** Append to the history of the current start (a new start, or a repeated iteration, cuts it). */
  private remember(start: number, iter: IterationRecord): void {
    if (start !== this.currentStart) {
      this.currentStart = start;
      this.history = [];
    }
    const h = this.history;
    if (h.length && h[h.length - 1]!.iteration >= iter.iteration)
      this.history = h.filter((x) => x.iteration < iter.iteration);
    this.history.push(iter);
  }
}
