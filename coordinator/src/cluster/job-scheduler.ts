/**
 * Which jobs run: a FIFO queue of job ids and at most `maxJobs` running at once. Each running job
 * has an AbortController (cancellation, shutdown) and, once loaded, its live record — cancel
 * requests update that very object, so no update is lost. Knows nothing of solving: the job
 * runner is passed in.
 */
import type { JobRecord } from '@attnfit/shared/protocol';

/** Abort reason of jobs interrupted by a coordinator shutdown (they stay `running` and resume). */
export const SHUTDOWN_REASON = 'coordinator shutting down';

/** A job being run. */
export interface RunningJob {
  readonly id: string;
  readonly ac: AbortController;
  /** Settles when the run has ended (never rejects). */
  done: Promise<void>;
  /** The live job record, set by the runner once loaded. */
  rec?: JobRecord;
}

/** Starts queued jobs while fewer than `maxJobs` run. */
export class JobScheduler {
  private readonly queue: string[] = [];
  private readonly running = new Map<string, RunningJob>();
  private paused = false;

  constructor(
    private readonly maxJobs: number,
    private readonly run: (job: RunningJob) => Promise<void>,
    private readonly log: (line: string) => void,
  ) {}

  /** Queue jobs (in order) and start what fits. */
  enqueue(...ids: string[]): void {
    this.queue.push(...ids);
    this.pump();
  }

  /** Ids of the jobs running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** The running job `id`, if any. */
  get(id: string): RunningJob | undefined {
    return this.running.get(id);
  }

  /** Drop `id` from the queue; true when it was queued. */
  dequeue(id: string): boolean {
    const i = this.queue.indexOf(id);
    if (i >= 0) this.queue.splice(i, 1);
    return i >= 0;
  }

  /** Start no more jobs (queued ones stay queued in KV and are recovered on the next start). */
  pause(): void {
    this.paused = true;
  }

  /** Stop starting jobs, abort the running ones with `reason`; resolves when they have ended. */
  async interruptAll(reason: unknown): Promise<void> {
    this.pause();
    const jobs = [...this.running.values()];
    for (const j of jobs) j.ac.abort(reason);
    await Promise.allSettled(jobs.map((j) => j.done));
  }

  private pump(): void {
    while (!this.paused && this.running.size < this.maxJobs && this.queue.length) {
      const id = this.queue.shift()!;
      if (this.running.has(id)) continue;
      const job: RunningJob = { id, ac: new AbortController(), done: Promise.resolve() };
      this.running.set(id, job);
      job.done = this.run(job)
        .catch((err: unknown) => this.log(`attnfit coordinator: job ${id}: ${(err as Error).message}`))
        .finally(() => {
          this.running.delete(id);
          this.pump();
        });
    }
  }
}
