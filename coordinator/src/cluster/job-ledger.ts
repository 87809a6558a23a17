/**
 * Ends jobs: writes the terminal state into the job record (KV), announces `job.done` so workers
 * can evict the problem, tells the observer, and logs one line. Used by the job runner (success, failure,
 * cancellation while running) and the submission handler (cancellation while queued).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  JOB_DONE_SUBJECT,
  PROTOCOL_VERSION,
  encode,
  type JobDoneMsg,
  type JobRecord,
  type JobState,
} from '@attnfit/shared/protocol';
import type { JobStore } from '../jobs/store.js';
import type { ObserverEvents } from './observer.js';

/** Writes job outcomes. */
export class JobLedger {
  constructor(
    private readonly nc: NatsConnection,
    private readonly store: JobStore,
    private readonly log: (line: string) => void,
    private readonly observer: ObserverEvents<'job'>,
  ) {}

  /** Put `rec` into `state` (with `extra` fields), stamp endedAt, announce and log it. */
  async finish(rec: JobRecord, state: JobState, extra: Partial<JobRecord> = {}): Promise<void> {
    Object.assign(rec, extra, { state, endedAt: Date.now() });
    await this.store.put(rec);
    this.observer.job(rec);
    this.publishDone(rec);
    this.log(
      `attnfit coordinator: job ${rec.id} ${state}${rec.error ? `: [${rec.error.code}] ${rec.error.message}` : ''}`,
    );
  }

  private publishDone(rec: JobRecord): void {
    const m: JobDoneMsg = {
      v: PROTOCOL_VERSION,
      kind: 'job.done',
      jobId: rec.id,
      problemHash: rec.problem.hash,
      state: rec.state,
    };
    try {
      this.nc.publish(JOB_DONE_SUBJECT, encode(m));
    } catch {
      /* closing: workers evict by LRU */
    }
  }
}
