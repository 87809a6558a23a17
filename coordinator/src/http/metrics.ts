/**
 * Prometheus metrics of the coordinator (`attnfit coordinator --http HOST:PORT` → /metrics), fed
 * by the coordinator's observer events. Counters count what happened since this process started;
 * `attnfit_jobs` counts job records by state as the coordinator knows them (all jobs in the KV
 * bucket at start, plus those submitted since). Names and labels: docs/operations.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES, type JobRecord, type JobState } from '@attnfit/shared/protocol';
import { gemmBackendDetail } from '@attnfit/shared/kernels';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CoordinatorObserver } from '../cluster/observer.js';
import type { ClusterState } from './state.js';

/** Task latency buckets (seconds), publish to reply. */
export const TASK_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/** The coordinator's registry and the observer that feeds it. */
export interface CoordinatorMetrics {
  readonly registry: Registry;
  readonly observer: CoordinatorObserver;
}

/**
 * Create the registry. `state` (the dashboard state) supplies the live worker count; without it
 * the worker gauge is not exported.
 * @example const m = createCoordinatorMetrics(state); startCoordinator({ ..., observer: fanOut([state, m.observer]) });
 */
export function createCoordinatorMetrics(state?: ClusterState): CoordinatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const states = new Map<string, JobState>();
  const running = new Map<string, { relLoss?: number; iteration: number }>();
  let nc: NatsConnection | undefined;
  const r = [registry];

  new Gauge({
    name: 'attnfit_jobs',
    help: 'Jobs known to the coordinator, by state.',
    labelNames: ['state'] as const,
    registers: r,
    collect() {
      const count = new Map<JobState, number>(JOB_STATES.map((s) => [s, 0]));
      for (const s of states.values()) count.set(s, (count.get(s) ?? 0) + 1);
      for (const [s, c] of count) this.set({ state: s }, c);
    },
  });
  const finished = new Counter({
    name: 'attnfit_jobs_finished_total',
    help: 'Jobs this coordinator finished, by final state.',
    labelNames: ['state'] as const,
    registers: r,
  });
  for (const s of ['succeeded', 'failed', 'cancelled']) finished.inc({ state: s }, 0);
  const submitted = new Counter({
    name: 'attnfit_jobs_submitted_total',
    help: 'Job submissions this coordinator accepted.',
    registers: r,
  });
  const tasks = new Counter({
    name: 'attnfit_tasks_total',
    help: 'Block-task attempts that ended, by outcome (ok, or the error code: TIMEOUT, WORKER_LOST, …).',
    labelNames: ['outcome'] as const,
    registers: r,
  });
  tasks.inc({ outcome: 'ok' }, 0);
  const latency = new Histogram({
    name: 'attnfit_task_duration_seconds',
    help: 'Block-task attempt latency, publish to reply (answered attempts).',
    buckets: [...TASK_SECONDS_BUCKETS],
    registers: r,
  });
  const retries = new Counter({
    name: 'attnfit_task_retries_total',
    help: 'Block-task attempts retried (timeouts, lost workers, no responders).',
    registers: r,
  });
  const bytes = new Counter({
    name: 'attnfit_task_bytes_total',
    help: 'Bytes of block-task messages sent (out) and reply frames received (in).',
    labelNames: ['direction'] as const,
    registers: r,
  });
  bytes.inc({ direction: 'out' }, 0);
  bytes.inc({ direction: 'in' }, 0);
  const iterations = new Counter({
    name: 'attnfit_iterations_total',
    help: 'Solver iterations completed by this coordinator (all jobs; the starting point, iteration 0, is not one).',
    registers: r,
  });
  let lastIn = 0,
    lastOut = 0;
  new Counter({
    name: 'attnfit_nats_bytes_total',
    help: "Bytes over the coordinator's NATS connection (in, out), all traffic.",
    labelNames: ['direction'] as const,
    registers: r,
    collect() {
      if (!nc) return;
      const s = nc.stats();
      // Counters only grow: add what the connection counted since the last scrape.
      this.inc({ direction: 'in' }, Math.max(0, s.inBytes - lastIn));
      this.inc({ direction: 'out' }, Math.max(0, s.outBytes - lastOut));
      lastIn = Math.max(lastIn, s.inBytes);
      lastOut = Math.max(lastOut, s.outBytes);
    },
  });
  new Gauge({
    name: 'attnfit_job_relative_loss',
    help: 'Last relative loss L/‖B‖² of each running job.',
    labelNames: ['job'] as const,
    registers: r,
    collect() {
      this.reset();
      for (const [job, v] of running) if (v.relLoss !== undefined) this.set({ job }, v.relLoss);
    },
  });
  new Gauge({
    name: 'attnfit_job_iteration',
    help: 'Last completed iteration of each running job.',
    labelNames: ['job'] as const,
    registers: r,
    collect() {
      this.reset();
      for (const [job, v] of running) this.set({ job }, v.iteration);
    },
  });
  if (state) {
    new Gauge({
      name: 'attnfit_workers',
      help: 'Workers sending heartbeats (not lost, not stopping).',
      registers: r,
      collect() {
        this.set(state.snapshot().workers.filter((w) => w.status === 'up').length);
      },
    });
  }
  new Gauge({
    name: 'attnfit_gemm_backend_info',
    help: 'GEMM kernel of the coordinator process (value 1; the kernel is the label). Workers export their own.',
    labelNames: ['backend'] as const,
    registers: r,
    collect() {
      this.reset();
      this.set({ backend: gemmBackendDetail() }, 1);
    },
  });

  const onJob = (rec: Readonly<JobRecord>): void => {
    const prev = states.get(rec.id);
    states.set(rec.id, rec.state);
    if (rec.state === 'running') {
      const v = running.get(rec.id) ?? { iteration: 0 };
      v.iteration = rec.iteration;
      if (rec.relLoss !== undefined) v.relLoss = rec.relLoss;
      running.set(rec.id, v);
    } else {
      running.delete(rec.id);
    }
    if (
      prev !== rec.state &&
      prev !== undefined &&
      (rec.state === 'succeeded' || rec.state === 'failed' || rec.state === 'cancelled')
    )
      finished.inc({ state: rec.state });
  };
  return {
    registry,
    observer: {
      started(i) {
        nc = i.nc;
      },
      job(rec) {
        // A record seen first as queued after start is a new submission.
        if (!states.has(rec.id) && rec.state === 'queued' && nc) submitted.inc();
        onJob(rec);
      },
      iteration(_id, ev) {
        if (!ev.replayed && ev.iteration > 0) iterations.inc();
      },
      task(ev) {
        tasks.inc({ outcome: ev.ok ? 'ok' : (ev.code ?? 'error') });
        if (ev.ok) latency.observe(ev.ms / 1000);
        bytes.inc({ direction: 'out' }, ev.bytesOut);
        bytes.inc({ direction: 'in' }, ev.bytesIn);
      },
      retry() {
        retries.inc();
      },
    },
  };
}
