/**
 * The coordinator's narrow observer interface: the coordinator reports job records, solver
 * iterations and block-task outcomes; the dashboard and the metrics (../http/) listen. Observers
 * never affect jobs: an observer that throws is logged and ignored.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JobRecord } from '@attnfit/shared/protocol';

/** What the coordinator tells an observer once it is ready. */
export interface CoordinatorStartInfo {
  name: string;
  maxJobs: number;
  /** The coordinator's own connection (observers may subscribe on it; never close it). */
  nc: NatsConnection;
  log(line: string): void;
}

/** One finished solver iteration of a job (the report's history entry plus the start index). */
export interface JobIterationEvent {
  start: number;
  iteration: number;
  loss: number;
  relLoss: number;
  gradNorm: number;
  /** Seconds since the start began. */
  seconds: number;
  /** true: an iteration from the checkpoint of a resumed job, replayed once (not new work). */
  replayed?: boolean;
}

/** One block-task attempt that ended (reply, error reply or timeout). */
export interface TaskAttemptEvent {
  jobId: string;
  ok: boolean;
  /** Error code of a failed attempt (TIMEOUT, WORKER_LOST, …). */
  code?: string;
  /** Worker that answered (when it said). */
  worker?: string;
  /** Milliseconds from publish to reply. */
  ms: number;
  /** Bytes of the task message (out) and of the reply frames (in). */
  bytesOut: number;
  bytesIn: number;
}

/** Receives coordinator events. All methods optional. */
export interface CoordinatorObserver {
  started?(info: CoordinatorStartInfo): void;
  /** A job record was loaded, created or changed (the live object: copy what you keep). */
  job?(rec: Readonly<JobRecord>): void;
  iteration?(jobId: string, ev: JobIterationEvent): void;
  task?(ev: TaskAttemptEvent): void;
  /** A failed block-task attempt will be retried. */
  retry?(ev: { jobId: string; block: number; attempt: number; code: string }): void;
  closed?(): void;
}

/** The events of `K` as always-present methods: what a part of the coordinator is handed (see {@link safeObserver}). */
export type ObserverEvents<K extends keyof CoordinatorObserver> = Pick<Required<CoordinatorObserver>, K>;

/** One observer forwarding every event to each of `list`, in order. */
export function fanOutObservers(list: CoordinatorObserver[]): CoordinatorObserver {
  return {
    started: (i) => {
      for (const o of list) o.started?.(i);
    },
    job: (r) => {
      for (const o of list) o.job?.(r);
    },
    iteration: (id, e) => {
      for (const o of list) o.iteration?.(id, e);
    },
    task: (e) => {
      for (const o of list) o.task?.(e);
    },
    retry: (e) => {
      for (const o of list) o.retry?.(e);
    },
    closed: () => {
      for (const o of list) o.closed?.();
    },
  };
}

/** Wrap `o` so every call is optional and never throws (errors are logged). */
export function safeObserver(
  o: CoordinatorObserver | undefined,
  log: (line: string) => void,
): Required<CoordinatorObserver> {
  const call = <K extends keyof CoordinatorObserver>(
    k: K,
    ...args: Parameters<NonNullable<CoordinatorObserver[K]>>
  ): void => {
    try {
      (o?.[k] as ((...a: unknown[]) => void) | undefined)?.call(o, ...args);
    } catch (err) {
      log(`attnfit coordinator: observer ${String(k)} failed: ${(err as Error).message}`);
    }
  };
  return {
    started: (i) => call('started', i),
    job: (r) => call('job', r),
    iteration: (id, e) => call('iteration', id, e),
    task: (e) => call('task', e),
    retry: (e) => call('retry', e),
    closed: () => call('closed'),
  };
}
