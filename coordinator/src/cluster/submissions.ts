/**
 * The coordinator's intake: job submissions and cancellations from the JetStream stream (durable
 * consumer). A submission is validated and recorded as `queued` (idempotent on redelivery), then
 * handed to the scheduler; a cancellation aborts a running job, drops a queued one, or is a
 * no-op for a finished one. A malformed or invalid message is logged and dropped (acked), never
 * a crash.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import {
  JOBS_CONSUMER,
  JOBS_STREAM,
  JOB_ID_RE,
  PROTOCOL_VERSION,
  TERMINAL_STATES,
  decodeMessage,
  validateJobSpec,
  type CancelMsg,
  type JobRecord,
  type SubmitMsg,
} from '@attnfit/shared/protocol';
import type { JobStore } from '../jobs/store.js';
import type { JobLedger } from './job-ledger.js';
import type { JobScheduler } from './job-scheduler.js';
import type { ObserverEvents } from './observer.js';

/** Handles one stream message at a time. */
export class SubmissionHandler {
  constructor(
    private readonly store: JobStore,
    private readonly scheduler: JobScheduler,
    private readonly ledger: JobLedger,
    private readonly log: (line: string) => void,
    private readonly observer: ObserverEvents<'job'>,
  ) {}

  /** Handle one message; rejects (PROTOCOL, BAD_OPTION, …) for a message that must be dropped. */
  async handle(m: JsMsg): Promise<void> {
    const msg = decodeMessage(m.data, ['submit', 'cancel']);
    if (!JOB_ID_RE.test(msg.jobId))
      throw new AttnfitError(ErrorCodes.PROTOCOL, `job id ${JSON.stringify(msg.jobId)} is not [A-Za-z0-9_-]{1,64}`);
    if (msg.kind === 'cancel') await this.cancel(msg);
    else await this.submit(msg);
  }

  private async submit(msg: SubmitMsg): Promise<void> {
    const spec = validateJobSpec(msg.spec);
    const rec: JobRecord = {
      v: PROTOCOL_VERSION,
      kind: 'job',
      id: msg.jobId,
      state: 'queued',
      problem: spec.problem,
      options: spec.options,
      submittedAt: msg.submittedAt,
      iteration: 0,
      resumedFrom: [],
    };
    if (spec.name !== undefined) rec.name = spec.name;
    if (await this.store.create(rec)) {
      this.observer.job(rec);
      this.log(`attnfit coordinator: job ${rec.id} queued (n=${rec.problem.n}, d=${rec.problem.d})`);
      this.scheduler.enqueue(rec.id);
    }
  }

  private async cancel(msg: CancelMsg): Promise<void> {
    const rec = await this.store.get(msg.jobId);
    if (!rec) {
      this.log(`attnfit coordinator: cancel for unknown job ${msg.jobId}`);
      return;
    }
    if (TERMINAL_STATES.has(rec.state)) return;
    const running = this.scheduler.get(msg.jobId);
    if (running) {
      const live = running.rec ?? rec;
      live.cancelRequested = true;
      await this.store.put(live);
      this.observer.job(live);
      running.ac.abort(new AttnfitError(ErrorCodes.CANCELLED, `job ${msg.jobId} cancelled`));
      return;
    }
    this.scheduler.dequeue(msg.jobId);
    await this.ledger.finish(rec, 'cancelled', { cancelRequested: true });
  }
}

/** A running consumer of the job stream. */
export interface SubmissionIntake {
  /** Stop consuming: resolves once the message being handled (if any) is done and acked. */
  stop(): Promise<void>;
}

/** Consume the job stream through `handler`, acking every message after it is handled. */
export async function consumeSubmissions(
  js: JetStreamClient,
  handler: SubmissionHandler,
  log: (line: string) => void,
): Promise<SubmissionIntake> {
  const consumer = await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER);
  const messages = await consumer.consume({ max_messages: 16 });
  const loop = (async () => {
    for await (const m of messages) {
      try {
        await handler.handle(m);
      } catch (err) {
        log(`attnfit coordinator: dropping stream message ${m.seq}: ${(err as Error).message}`);
      }
      m.ack();
    }
  })();
  return {
    async stop() {
      // Close first, then let the loop finish the message in hand; report a failed close after.
      const closeErr = await messages.close().catch((e: unknown) => e);
      await loop;
      if (closeErr instanceof Error) throw closeErr;
    },
  };
}
