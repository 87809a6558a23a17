/**
 * Answers block tasks from the NATS queue group: decode the task, compute its partials (in the
 * block pool, never on the connection's event loop), reply with a `result` (chunked under
 * max_payload) or an `error`. Handlers never throw out: every outcome is a reply. Tracks the
 * tasks in flight so a shutdown can finish them before the connection closes.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Partials } from '@attnfit/shared/core';
import {
  PROTOCOL_VERSION,
  decodeMessage,
  encode,
  encodeError,
  partialsToWire,
  peekId,
  toFrames,
  type ResultMsg,
  type TaskMsg,
} from '@attnfit/shared/protocol';
import { ErrorCodes, type AttnfitError } from '@attnfit/shared/core';
import type { WorkerObserver } from './observer.js';

/** Serves block tasks arriving on one connection. */
export class TaskServer {
  /** Tasks received and tasks answered with an error (diagnostics and tests). */
  readonly counters = { tasks: 0, errors: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  /** Ids of the decoded tasks being computed (heartbeats list them: `working`). */
  private readonly working = new Set<string>();

  /**
   * @param nc the connection replies go out on
   * @param name worker name put in each result (diagnostics)
   * @param maxPayload largest message the server accepts: bigger results are chunked
   * @param compute the partials of one task
   * @param observer told of every answered task (metrics); never affects the reply
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly name: string,
    private readonly maxPayload: number,
    private readonly compute: (t: TaskMsg) => Promise<Partials>,
    private readonly log: (line: string) => void,
    private readonly observer: Pick<Required<WorkerObserver>, 'task'>,
  ) {}

  /** Tasks being computed now. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Ids of the tasks being computed now, oldest first, at most `max`. */
  workingIds(max: number): string[] {
    const out: string[] = [];
    for (const id of this.working) {
      if (out.length >= max) break;
      out.push(id);
    }
    return out;
  }

  /** Start answering one task message (the reply is sent when it is done). */
  accept(msg: Msg): void {
    const p = this.handle(msg);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Resolves when every task in flight (including ones accepted meanwhile) has been answered. */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private async handle(msg: Msg): Promise<void> {
    const reply = msg.reply;
    const t0 = performance.now();
    let id = '';
    let jobId = '';
    try {
      const t = decodeMessage(msg.data, 'task');
      id = t.id;
      jobId = t.jobId;
      this.counters.tasks++;
      this.working.add(id);
      let partials: Partials;
      try {
        partials = await this.compute(t);
      } finally {
        this.working.delete(id);
      }
      const out: ResultMsg = {
        v: PROTOCOL_VERSION,
        kind: 'result',
        id,
        r0: t.r0,
        r1: t.r1,
        partials: partialsToWire(partials, t.problem.d),
        worker: this.name,
      };
      let bytesOut = 0;
      if (reply)
        for (const f of toFrames(id, encode(out), this.maxPayload)) {
          this.nc.publish(reply, f);
          bytesOut += f.length;
        }
      this.observer.task({ jobId, ok: true, ms: performance.now() - t0, bytesIn: msg.data.length, bytesOut });
    } catch (err) {
      this.counters.errors++;
      if (!id) id = peekId(msg.data);
      if (reply) {
        let bytesOut = 0;
        try {
          const e = encodeError(id, err);
          this.nc.publish(reply, e);
          bytesOut = e.length;
        } catch (e2) {
          this.log(`attnfit worker: cannot send error reply for ${id}: ${(e2 as Error).message}`);
        }
        this.observer.task({
          jobId,
          ok: false,
          code: (err as AttnfitError).code ?? ErrorCodes.INTERNAL,
          ms: performance.now() - t0,
          bytesIn: msg.data.length,
          bytesOut,
        });
      } else {
        this.log(`attnfit worker: task without reply subject failed: ${(err as Error).message}`);
      }
    }
  }
}
