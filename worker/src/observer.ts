/**
 * The worker service's narrow observer interface: the service reports what happens (start, each
 * answered task, drain) and knows nothing about heartbeats, metrics or HTTP. Observers never
 * affect results; an observer that throws is logged and ignored.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** Counters of a running worker service (the same object as WorkerService.stats()). */
export interface WorkerStats {
  tasks: number;
  errors: number;
  fetches: number;
  cached: number;
  inFlight: number;
  /** Ids of the tasks being computed now (bounded; heartbeats carry them). */
  working?: string[];
}

/** What the service tells an observer when it is ready. */
export interface WorkerStartInfo {
  name: string;
  threads: number;
  /** Direct task subject token (`attnfit.task.<dispatchId>`), when the worker serves one. */
  dispatchId?: string;
  /** The service's own connection (observers may publish on it; never close it). */
  nc: NatsConnection;
  stats(): WorkerStats;
  log(line: string): void;
}

/** One answered block task. */
export interface WorkerTaskEvent {
  jobId: string;
  /** true: a result was sent; false: an error reply (code = its error code). */
  ok: boolean;
  code?: string;
  /** Milliseconds from receipt to reply. */
  ms: number;
  /** Bytes of the task message and of the reply frames. */
  bytesIn: number;
  bytesOut: number;
}

/** Receives service events. All methods optional. */
export interface WorkerObserver {
  started?(info: WorkerStartInfo): void;
  task?(ev: WorkerTaskEvent): void;
  /** The service is draining (called once, before the connection is drained). */
  stopping?(): void;
  /** The connection is closed (called once). */
  closed?(): void;
}

/** One observer that forwards every event to each of `list` (errors logged, never thrown). */
export function fanOut(list: Array<WorkerObserver | undefined>, log: (line: string) => void): Required<WorkerObserver> {
  const obs = list.filter((o): o is WorkerObserver => !!o);
  const call = <K extends keyof WorkerObserver>(k: K, ...args: Parameters<NonNullable<WorkerObserver[K]>>): void => {
    for (const o of obs) {
      try {
        (o[k] as ((...a: unknown[]) => void) | undefined)?.call(o, ...args);
      } catch (err) {
        log(`attnfit worker: observer ${String(k)} failed: ${(err as Error).message}`);
      }
    }
  };
  return {
    started: (i) => call('started', i),
    task: (e) => call('task', e),
    stopping: () => call('stopping'),
    closed: () => call('closed'),
  };
}
