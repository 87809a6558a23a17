/**
 * Prometheus metrics of one worker process (`attnfit worker --http HOST:PORT` → /metrics), fed by
 * the service's observer events. Names: see docs/operations.md. A registry per service (no
 * global state), plus Node's default process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { gemmBackendDetail } from '@attnfit/shared/kernels';
import type { WorkerObserver, WorkerStartInfo } from '../observer.js';

/** Task latency buckets (seconds): block tasks take ~1 ms (tiny n) to minutes (huge n, d). */
export const TASK_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/** A worker's metrics registry and the observer that feeds it. */
export interface WorkerMetrics {
  readonly registry: Registry;
  readonly observer: WorkerObserver;
}

/**
 * Create the registry and its observer.
 * @example const m = createWorkerMetrics(); await startWorkerService({ ..., observer: m.observer });
 */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let info: WorkerStartInfo | undefined;
  const tasks = new Counter({
    name: 'attnfit_worker_tasks_total',
    help: 'Block tasks answered, by outcome (ok = result sent, error = error reply).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'attnfit_worker_task_duration_seconds',
    help: 'Time from receiving a block task to sending its reply.',
    buckets: [...TASK_SECONDS_BUCKETS],
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'attnfit_worker_task_bytes_total',
    help: 'Bytes of block task messages received (in) and reply frames sent (out).',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  tasks.inc({ outcome: 'ok' }, 0);
  tasks.inc({ outcome: 'error' }, 0);
  bytes.inc({ direction: 'in' }, 0);
  bytes.inc({ direction: 'out' }, 0);
  const stat = (help: string, name: string, pick: (s: ReturnType<WorkerStartInfo['stats']>) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (info) this.set(pick(info.stats()));
      },
    });
  };
  stat('Block tasks being computed now.', 'attnfit_worker_tasks_in_flight', (s) => s.inFlight);
  stat('Problems held in the worker cache.', 'attnfit_worker_problems_cached', (s) => s.cached);
  stat('Problem fetches from the Object Store since start.', 'attnfit_worker_problem_fetches', (s) => s.fetches);
  new Gauge({
    name: 'attnfit_worker_threads',
    help: 'Compute threads of this worker.',
    registers: [registry],
    collect() {
      if (info) this.set(info.threads);
    },
  });
  new Gauge({
    name: 'attnfit_gemm_backend_info',
    help: 'GEMM kernel in use (value 1; the kernel is the label).',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ backend: gemmBackendDetail() }, 1);
    },
  });
  return {
    registry,
    observer: {
      started(i) {
        info = i;
      },
      task(ev) {
        tasks.inc({ outcome: ev.ok ? 'ok' : 'error' });
        seconds.observe(ev.ms / 1000);
        bytes.inc({ direction: 'in' }, ev.bytesIn);
        bytes.inc({ direction: 'out' }, ev.bytesOut);
      },
    },
  };
}
