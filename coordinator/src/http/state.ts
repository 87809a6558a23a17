/**
 * The dashboard's view of the cluster, built only from the coordinator's own events (job
 * records, iterations, task attempts) and from worker heartbeats heard on the coordinator's
 * connection — never by polling NATS per browser. Pure bookkeeping: `snapshot()` is what the
 * page shows; `subscribe()` tells the event stream that something changed.
 */
import {
  WORKER_HEARTBEAT_SUBJECT,
  decodeMessage,
  type JobRecord,
  type JobState,
  type WorkerHeartbeatMsg,
} from '@attnfit/shared/protocol';
import { SOLVE_DEFAULTS, autoMethod } from '../solver/index.js';
import type {
  CoordinatorObserver,
  CoordinatorStartInfo,
  JobIterationEvent,
  TaskAttemptEvent,
} from '../cluster/observer.js';

/** Limits of what the dashboard keeps in memory (oldest dropped first). */
export const DASHBOARD_LIMITS = Object.freeze({
  /** Jobs listed. */
  jobs: 200,
  /** Jobs whose loss history is kept. */
  histories: 50,
  /** Points per job history. */
  points: 20_000,
  /** Seconds of per-second throughput shown. */
  throughputSeconds: 120,
  /** A worker silent for this many heartbeat intervals is shown as lost… */
  lostAfterIntervals: 3,
  /** …and dropped from the table after this long (ms). */
  forgetAfterMs: 10 * 60_000,
});

/** One point of a job's loss curve. */
export interface HistoryPoint {
  start: number;
  iteration: number;
  relLoss: number;
  loss: number;
  seconds: number;
}

/** A job row. Times are epoch ms; `elapsedS` and `etaS` in seconds. */
export interface JobView {
  id: string;
  name?: string;
  state: JobState;
  method: string;
  n: number;
  d: number;
  iteration: number;
  start: number;
  starts: number;
  maxIter: number;
  tol: number;
  relLoss?: number;
  loss?: number;
  submittedAt: number;
  startedAt?: number;
  endedAt?: number;
  elapsedS?: number;
  /** Estimated seconds left (running jobs with ≥ 2 iterations), see {@link estimateEta}. */
  etaS?: number;
  etaBasis?: 'rate' | 'max-iter';
  converged?: boolean;
  error?: { code: string; message: string };
  /** Points in the kept loss history. */
  points: number;
  /** Task attempts this coordinator sent for the job, and retries. */
  tasks: number;
  retries: number;
}

/** A worker row: what its last heartbeat said, and what the coordinator saw. */
export interface WorkerView extends Pick<
  WorkerHeartbeatMsg,
  'name' | 'host' | 'pid' | 'threads' | 'gemm' | 'version' | 'tasks' | 'errors' | 'inFlight' | 'cached' | 'startedAt'
> {
  /** up: heartbeats arrive; stopping: it said it drains; lost: silent for 3 intervals; unknown: seen only in task replies. */
  status: 'up' | 'stopping' | 'lost' | 'unknown';
  /** Tasks per second over the last ~10 s of heartbeats. */
  tasksPerSec: number;
  /** Epoch ms (coordinator clock) of the last heartbeat or reply. */
  lastSeen: number;
}

/** Cluster throughput. */
export interface ThroughputView {
  /** Task attempts answered per second, last 10 s. */
  tasksPerSec: number;
  /** Solver iterations per minute, last 60 s. */
  iterationsPerMin: number;
  /** Task bytes per second out / in, last 10 s. */
  bytesOutPerSec: number;
  bytesInPerSec: number;
  /** Answered tasks in each of the last `throughputSeconds` whole seconds (oldest first), ending at `seriesEnd` (epoch s). */
  series: number[];
  seriesEnd: number;
}

/** What the page shows. */
export interface DashboardSnapshot {
  coordinator: { name: string; maxJobs: number; startedAt: number; heartbeats: boolean };
  serverTime: number;
  jobs: JobView[];
  workers: WorkerView[];
  throughput: ThroughputView;
  totals: { tasks: number; retries: number; iterations: number };
}

/**
 * Estimated seconds until a running start finishes, from its own history: iterations left is
 * the smaller of (a) `maxIter` − iteration and (b) the iterations the recent log-linear rate
 * (mean decrease of log10 relLoss over the last ≤ 5 iterations) needs to reach `tol`; times the
 * mean seconds per iteration. Later starts of a multi-start job add `maxIter` iterations each (a
 * bound). Undefined with fewer than 2 points. Newton converges faster than linearly, so (b) is
 * pessimistic near the end; it is an estimate, shown with "~".
 * @example estimateEta([{iteration:0,relLoss:1e-2,seconds:0},{iteration:1,relLoss:1e-4,seconds:2}], { tol: 1e-12, maxIter: 50 }) // { seconds: 8, basis: 'rate' }
 */
export function estimateEta(
  points: ReadonlyArray<Pick<HistoryPoint, 'iteration' | 'relLoss' | 'seconds'>>,
  o: { tol: number; maxIter: number; startsLeft?: number },
): { seconds: number; basis: 'rate' | 'max-iter' } | undefined {
  if (points.length < 2) return undefined;
  const first = points[0]!,
    last = points[points.length - 1]!;
  const iters = last.iteration - first.iteration;
  if (iters <= 0) return undefined;
  const secPerIter = Math.max(0, last.seconds - first.seconds) / iters;
  const byMax = Math.max(0, o.maxIter - last.iteration);
  let byRate = Infinity;
  const w = points.slice(-6);
  const a = w[0]!,
    b = w[w.length - 1]!;
  if (a.relLoss > 0 && b.relLoss > 0 && b.iteration > a.iteration) {
    const rate = (Math.log10(a.relLoss) - Math.log10(b.relLoss)) / (b.iteration - a.iteration);
    if (b.relLoss <= o.tol) byRate = 0;
    else if (rate > 0) byRate = Math.ceil((Math.log10(b.relLoss) - Math.log10(o.tol)) / rate);
  }
  const left = Math.min(byMax, byRate) + (o.startsLeft ?? 0) * o.maxIter;
  return { seconds: left * secPerIter, basis: byRate < byMax ? 'rate' : 'max-iter' };
}

interface JobEntry {
  rec: JobRecord;
  history: HistoryPoint[];
  start: number;
  tasks: number;
  retries: number;
  lastSeq: number;
}
interface WorkerEntry {
  hb?: WorkerHeartbeatMsg;
  lastSeen: number;
  samples: Array<{ t: number; tasks: number }>;
  seenInReplies: boolean;
}

/** Listener of state changes: `job` names a job whose history grew (with the new point). */
export type StateListener = (ev: { kind: 'changed' } | { kind: 'point'; jobId: string; point: HistoryPoint }) => void;

/**
 * Dashboard state; also the coordinator observer that feeds it.
 * @example const s = new ClusterState(); await startCoordinator({ ..., observer: s });
 */
export class ClusterState implements CoordinatorObserver {
  private readonly jobs = new Map<string, JobEntry>();
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly listeners = new Set<StateListener>();
  /** Per-second buckets: epoch second → [tasks, bytesOut, bytesIn, iterations]. */
  private readonly buckets = new Map<number, [number, number, number, number]>();
  private info: { name: string; maxJobs: number; startedAt: number } = { name: '', maxJobs: 0, startedAt: Date.now() };
  private heartbeatsOk = true;
  private seq = 0;
  readonly totals = { tasks: 0, retries: 0, iterations: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** Listen for changes; returns the unsubscribe function. */
  subscribe(fn: StateListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(ev: Parameters<StateListener>[0]): void {
    for (const fn of this.listeners) fn(ev);
  }

  // ---- CoordinatorObserver ----

  started(i: CoordinatorStartInfo): void {
    this.info = { name: i.name, maxJobs: i.maxJobs, startedAt: this.now() };
    i.nc.subscribe(WORKER_HEARTBEAT_SUBJECT, {
      callback: (err, msg) => {
        if (err) {
          this.heartbeatsOk = false;
          i.log(
            `attnfit coordinator: cannot hear worker heartbeats on ${WORKER_HEARTBEAT_SUBJECT} (${err.message}): the dashboard's worker table stays empty; allow that subject in the coordinator's subscribe permissions`,
          );
          return;
        }
        try {
          this.heartbeat(decodeMessage(msg.data, 'worker.heartbeat'));
        } catch {
          /* malformed heartbeat: ignored */
        }
      },
    });
    this.emit({ kind: 'changed' });
  }

  job(rec: Readonly<JobRecord>): void {
    let e = this.jobs.get(rec.id);
    const copy = { ...rec, resumedFrom: [...rec.resumedFrom] } as JobRecord;
    if (!e) {
      e = { rec: copy, history: [], start: 0, tasks: 0, retries: 0, lastSeq: 0 };
      this.jobs.set(rec.id, e);
      this.trim();
    } else {
      e.rec = copy;
    }
    e.lastSeq = ++this.seq;
    this.emit({ kind: 'changed' });
  }

  iteration(jobId: string, ev: JobIterationEvent): void {
    const e = this.jobs.get(jobId);
    if (!e) return;
    const point: HistoryPoint = {
      start: ev.start,
      iteration: ev.iteration,
      relLoss: ev.relLoss,
      loss: ev.loss,
      seconds: ev.seconds,
    };
    // A resumed or restarted start replaces the points from that iteration on.
    const h = e.history;
    while (
      h.length &&
      (h[h.length - 1]!.start > ev.start ||
        (h[h.length - 1]!.start === ev.start && h[h.length - 1]!.iteration >= ev.iteration))
    )
      h.pop();
    h.push(point);
    if (h.length > DASHBOARD_LIMITS.points) h.splice(0, h.length - DASHBOARD_LIMITS.points);
    e.start = ev.start;
    if (!ev.replayed && ev.iteration > 0) {
      this.totals.iterations++;
      this.bucket()[3]++;
    }
    this.emit({ kind: 'point', jobId, point });
  }

  task(ev: TaskAttemptEvent): void {
    const e = this.jobs.get(ev.jobId);
    if (e) e.tasks++;
    this.totals.tasks++;
    const b = this.bucket();
    if (ev.ok) b[0]++;
    b[1] += ev.bytesOut;
    b[2] += ev.bytesIn;
    if (ev.worker) {
      const w = this.workers.get(ev.worker);
      if (w) {
        w.lastSeen = Math.max(w.lastSeen, this.now());
        w.seenInReplies = true;
      } else this.workers.set(ev.worker, { lastSeen: this.now(), samples: [], seenInReplies: true });
    }
  }

  retry(ev: { jobId: string; block: number; attempt: number; code: string }): void {
    const e = this.jobs.get(ev.jobId);
    if (e) e.retries++;
    this.totals.retries++;
  }

  /** Record one heartbeat (exposed for tests; the subscription calls it). */
  heartbeat(m: WorkerHeartbeatMsg): void {
    const t = this.now();
    let w = this.workers.get(m.name);
    if (!w) {
      w = { lastSeen: t, samples: [], seenInReplies: false };
      this.workers.set(m.name, w);
    }
    if (w.hb && w.hb.startedAt !== m.startedAt) w.samples = []; // restarted under the same name
    w.hb = m;
    w.lastSeen = t;
    w.samples.push({ t: m.sentAt, tasks: m.tasks });
    while (w.samples.length > 2 && w.samples[0]!.t < m.sentAt - 10_000) w.samples.shift();
    this.emit({ kind: 'changed' });
  }

  // ---- reading ----

  /** The kept loss history of a job (undefined for an unknown job). */
  history(jobId: string): HistoryPoint[] | undefined {
    return this.jobs.get(jobId)?.history.slice();
  }

  /** Everything the page shows, at this moment. */
  snapshot(): DashboardSnapshot {
    const now = this.now();
    const jobs = [...this.jobs.values()]
      .sort((a, b) => b.rec.submittedAt - a.rec.submittedAt || (a.rec.id < b.rec.id ? 1 : -1))
      .map((e) => this.jobView(e, now));
    const workers: WorkerView[] = [];
    for (const [name, w] of this.workers) {
      const hb = w.hb;
      const intervalMs = hb?.intervalMs ?? 2000;
      if (now - w.lastSeen > DASHBOARD_LIMITS.forgetAfterMs) {
        this.workers.delete(name);
        continue;
      }
      let status: WorkerView['status'] = hb ? hb.state : 'unknown';
      if (hb && status === 'up' && now - w.lastSeen > DASHBOARD_LIMITS.lostAfterIntervals * intervalMs) status = 'lost';
      const s0 = w.samples[0],
        s1 = w.samples[w.samples.length - 1];
      const rate = s0 && s1 && s1.t > s0.t ? ((s1.tasks - s0.tasks) * 1000) / (s1.t - s0.t) : 0;
      workers.push({
        name,
        host: hb?.host ?? '?',
        pid: hb?.pid ?? 0,
        threads: hb?.threads ?? 0,
        gemm: hb?.gemm ?? '?',
        version: hb?.version ?? '?',
        status,
        tasks: hb?.tasks ?? 0,
        errors: hb?.errors ?? 0,
        inFlight: hb?.inFlight ?? 0,
        tasksPerSec: status === 'up' ? rate : 0,
        cached: hb?.cached ?? 0,
        startedAt: hb?.startedAt ?? 0,
        lastSeen: w.lastSeen,
      });
    }
    workers.sort((a, b) => (a.name < b.name ? -1 : 1));
    return {
      coordinator: { ...this.info, heartbeats: this.heartbeatsOk },
      serverTime: now,
      jobs,
      workers,
      throughput: this.throughput(now),
      totals: { ...this.totals },
    };
  }

  private jobView(e: JobEntry, now: number): JobView {
    const r = e.rec;
    const o = r.options;
    const maxIter = o.maxIter ?? SOLVE_DEFAULTS.maxIter;
    const tol = o.tol ?? SOLVE_DEFAULTS.tol;
    const starts = o.starts ?? SOLVE_DEFAULTS.starts;
    const v: JobView = {
      id: r.id,
      state: r.state,
      method: o.method && o.method !== 'auto' ? o.method : `auto (${autoMethod(r.problem.d)})`,
      n: r.problem.n,
      d: r.problem.d,
      iteration: r.iteration,
      start: e.start,
      starts,
      maxIter,
      tol,
      submittedAt: r.submittedAt,
      points: e.history.length,
      tasks: e.tasks,
      retries: e.retries,
    };
    if (r.name !== undefined) v.name = r.name;
    if (r.relLoss !== undefined) v.relLoss = r.relLoss;
    if (r.loss !== undefined) v.loss = r.loss;
    if (r.startedAt !== undefined) {
      v.startedAt = r.startedAt;
      v.elapsedS = ((r.endedAt ?? now) - r.startedAt) / 1000;
    }
    if (r.endedAt !== undefined) v.endedAt = r.endedAt;
    if (r.result) v.converged = r.result.converged;
    if (r.error) v.error = { code: r.error.code, message: r.error.message };
    if (r.state === 'running') {
      const cur = e.history.filter((p) => p.start === e.start);
      const eta = estimateEta(cur, { tol, maxIter, startsLeft: Math.max(0, starts - 1 - e.start) });
      if (eta) {
        v.etaS = eta.seconds;
        v.etaBasis = eta.basis;
      }
    }
    return v;
  }

  private bucket(): [number, number, number, number] {
    const s = Math.floor(this.now() / 1000);
    let b = this.buckets.get(s);
    if (!b) {
      b = [0, 0, 0, 0];
      this.buckets.set(s, b);
      for (const k of this.buckets.keys())
        if (k < s - Math.max(60, DASHBOARD_LIMITS.throughputSeconds)) this.buckets.delete(k);
    }
    return b;
  }

  private throughput(now: number): ThroughputView {
    const end = Math.floor(now / 1000);
    const series: number[] = [];
    for (let s = end - DASHBOARD_LIMITS.throughputSeconds + 1; s <= end; s++)
      series.push(this.buckets.get(s)?.[0] ?? 0);
    // Rates over whole past seconds (the current second is still filling).
    const sum = (k: 0 | 1 | 2 | 3, secs: number): number => {
      let t = 0;
      for (let s = end - secs; s < end; s++) t += this.buckets.get(s)?.[k] ?? 0;
      return t;
    };
    return {
      tasksPerSec: sum(0, 10) / 10,
      iterationsPerMin: sum(3, 60),
      bytesOutPerSec: sum(1, 10) / 10,
      bytesInPerSec: sum(2, 10) / 10,
      series,
      seriesEnd: end,
    };
  }

  private trim(): void {
    if (this.jobs.size > DASHBOARD_LIMITS.jobs) {
      const old = [...this.jobs.values()]
        .filter((e) => e.rec.state !== 'running' && e.rec.state !== 'queued')
        .sort((a, b) => a.rec.submittedAt - b.rec.submittedAt);
      for (const e of old.slice(0, this.jobs.size - DASHBOARD_LIMITS.jobs)) this.jobs.delete(e.rec.id);
    }
    // Histories: only for the most recently updated jobs.
    const withHist = [...this.jobs.values()].filter((e) => e.history.length).sort((a, b) => b.lastSeq - a.lastSeq);
    for (const e of withHist.slice(DASHBOARD_LIMITS.histories)) e.history = [];
  }
}
