/**
 * The cluster coordinator (`attnfit coordinator`). It consumes job submissions and cancellations
 * from the JetStream stream (durable consumer), keeps job state in KV, reads problem tensors from
 * the Object Store (content hash), runs `solve()` over a {@link NatsOracle}, publishes progress
 * events, checkpoints X, Y, iteration, history and method state in KV after every iteration, and
 * on start resumes queued and running jobs (running ones from their last checkpoint via
 * hooks.resume). Results (X, Y, report) go to the Object Store and stay fetchable.
 *
 * One coordinator per cluster (no leader election): a second coordinator would also resume
 * running jobs.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import { AttnfitError, ErrorCodes, errorToWire } from '@attnfit/shared/core';
import {
  JOBS_CONSUMER, JOBS_STREAM, JOB_DONE_SUBJECT, JOB_ID_RE, PROTOCOL_VERSION, TERMINAL_STATES,
  decodeMessage, encode, progressSubject, resultObjectName, validateJobSpec,
  type CheckpointMsg, type JobDoneMsg, type JobRecord, type JobState, type ProgressMsg,
} from '@attnfit/shared/protocol';
import type { Problem } from '@attnfit/shared/math';
import { solve, SOLVE_DEFAULTS } from '../solver/index.js';
import type { IterationRecord, SolveHooks, SolveOptions, SolveResult } from '../solver/types.js';
import { connectNats, type NatsAuthOptions } from '@attnfit/shared/runtime';
import { NatsOracle, type NatsOracleOptions } from './nats-oracle.js';
import { ensureClusterResources, fetchProblem, type ClusterResources } from './resources.js';
import { buildClusterReport } from './report.js';
import { safeObserver, type CoordinatorObserver } from './observer.js';

/** Tunables of the coordinator (defaults in {@link COORDINATOR_DEFAULTS}). */
export interface CoordinatorOptions extends NatsAuthOptions {
  /** Jobs solved at the same time. */
  maxJobs?: number;
  /** Per-attempt block task timeout (ms). */
  taskTimeoutMs?: number;
  /** Attempts per block task. */
  maxAttempts?: number;
  log?: (line: string) => void;
  /** Receives job, iteration and task events (dashboard, metrics); never affects jobs. */
  observer?: CoordinatorObserver;
}

export const COORDINATOR_DEFAULTS = Object.freeze({ maxJobs: 1 });

/** How long startup retries creating the JetStream resources (ms). */
export const RESOURCE_RETRY_MS = 30_000;

/** Checkpoint bytes written per iteration on average (larger checkpoints are written less often). */
export const CHECKPOINT_BYTES_PER_ITERATION = 256 * 1024;

/** A running coordinator. */
export interface CoordinatorService {
  readonly name: string;
  /** Ids of the jobs being solved now. */
  running(): string[];
  /** Stop consuming, interrupt running solves (they stay `running` and resume on the next
   * start), close the connection. Idempotent. */
  drain(): Promise<void>;
  /** Resolves when the connection is closed: undefined after a drain, the error after a fatal one. */
  readonly closed: Promise<Error | undefined>;
}

const SHUTDOWN = 'coordinator shutting down';

/**
 * Start the coordinator. Rejects AUTH / CONNECTION when NATS refuses.
 * @example const c = await startCoordinator({ servers: url, user: 'coordinator', pass: 'pw' });
 */
export async function startCoordinator(opts: CoordinatorOptions): Promise<CoordinatorService> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const name = opts.name ?? `attnfit-coordinator-${hostname()}-${process.pid}`;
  const maxJobs = opts.maxJobs ?? COORDINATOR_DEFAULTS.maxJobs;
  const obs = safeObserver(opts.observer, log);
  const nc = await connectNats({ ...opts, name });
  let res: ClusterResources | undefined;
  // A fresh JetStream cluster needs a few seconds to elect its meta leader: retry transient
  // failures (never AUTH) for up to RESOURCE_RETRY_MS.
  const deadline = Date.now() + RESOURCE_RETRY_MS;
  for (let attempt = 1; !res; attempt++) {
    try {
      res = await ensureClusterResources(nc);
    } catch (err) {
      const code = (err as AttnfitError).code;
      if (code === ErrorCodes.AUTH || Date.now() > deadline) {
        await nc.close();
        throw err;
      }
      log(`attnfit coordinator: JetStream not ready (attempt ${attempt}): ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const { js, store, os } = res;
  const queue: string[] = [];
  /** Jobs being solved: abort controller, completion, and the live record once loaded. */
  const running = new Map<string, { ac: AbortController; done: Promise<void>; rec?: JobRecord }>();
  let stopping = false;

  const oracleOpts = (jobId: string): NatsOracleOptions => {
    const o: NatsOracleOptions = {
      jobId,
      onRetry: ({ block, attempt, error }) => {
        obs.retry({ jobId, block, attempt, code: error.code });
        log(`attnfit coordinator: job ${jobId} block ${block} attempt ${attempt} failed (${error.code}): retrying`);
      },
      onTask: (ev) => obs.task({ jobId, ...ev }),
    };
    if (opts.taskTimeoutMs !== undefined) o.taskTimeoutMs = opts.taskTimeoutMs;
    if (opts.maxAttempts !== undefined) o.maxAttempts = opts.maxAttempts;
    return o;
  };

  function publishDone(rec: JobRecord): void {
    const m: JobDoneMsg = { v: PROTOCOL_VERSION, kind: 'job.done', jobId: rec.id, problemHash: rec.problem.hash, state: rec.state };
    try { nc.publish(JOB_DONE_SUBJECT, encode(m)); } catch { /* closing: workers evict by LRU */ }
  }

  async function finish(rec: JobRecord, state: JobState, extra: Partial<JobRecord> = {}): Promise<void> {
    Object.assign(rec, extra, { state, endedAt: Date.now() });
    await store.put(rec);
    obs.job(rec);
    publishDone(rec);
    log(`attnfit coordinator: job ${rec.id} ${state}${rec.error ? `: [${rec.error.code}] ${rec.error.message}` : ''}`);
  }

  function pump(): void {
    while (!stopping && running.size < maxJobs && queue.length) {
      const id = queue.shift()!;
      if (running.has(id)) continue;
      const ac = new AbortController();
      const done = runJob(id, ac).catch((err: unknown) => log(`attnfit coordinator: job ${id}: ${(err as Error).message}`))
        .finally(() => { running.delete(id); pump(); });
      running.set(id, { ac, done });
    }
  }

  async function runJob(id: string, ac: AbortController): Promise<void> {
    const rec = await store.get(id);
    if (!rec || TERMINAL_STATES.has(rec.state)) return;
    const slot = running.get(id);
    if (slot) slot.rec = rec; // cancel requests update this very object (no lost update)
    if (rec.cancelRequested) { await finish(rec, 'cancelled'); return; }
    let oracle: NatsOracle | undefined;
    const t0 = Date.now();
    try {
      const solveOpts = { ...SOLVE_DEFAULTS, ...rec.options } as SolveOptions;
      // Resume from the checkpoint (single-start jobs); a multi-start job restarts from scratch.
      const found = rec.state === 'running' ? await store.getCheckpoint(id, os) : undefined;
      const ckpt = found && (solveOpts.starts ?? 1) === 1 ? found : undefined;
      if (ckpt) rec.resumedFrom = [...rec.resumedFrom, ckpt.iteration];
      rec.state = 'running';
      rec.startedAt ??= t0;
      await store.put(rec);
      obs.job(rec);
      for (const h of ckpt?.history ?? []) obs.iteration(id, { ...(h as IterationRecord), start: ckpt!.start, replayed: true });
      log(`attnfit coordinator: job ${id} running${ckpt ? ` (resumed from iteration ${ckpt.iteration})` : ''}`);
      const problem = (await fetchProblem(os, rec.problem)) as Problem;
      oracle = new NatsOracle(nc, problem, rec.problem, oracleOpts(id));
      let history: IterationRecord[] = ckpt ? (ckpt.history as IterationRecord[]).slice() : [];
      let currentStart = ckpt?.start ?? 0;
      let lastCkptBytes = 0;
      let lastCkptIteration = ckpt?.iteration ?? -1;
      let ckptStart: number | undefined = ckpt?.start;
      const hooks: SolveHooks = {
        signal: ac.signal,
        onIteration: async (ev) => {
          const { X, Y, start, state, ...iter } = ev;
          if (start !== currentStart) { currentStart = start; history = []; }
          if (history.length && history[history.length - 1]!.iteration >= iter.iteration) history = history.filter((h) => h.iteration < iter.iteration);
          history.push(iter);
          // Checkpoint every iteration while small; a long history (large checkpoint) is saved
          // every ceil(bytes / CHECKPOINT_BYTES_PER_ITERATION) iterations so the cost stays
          // linear. Resuming from an older checkpoint only redoes those iterations.
          const every = Math.max(1, Math.ceil(lastCkptBytes / CHECKPOINT_BYTES_PER_ITERATION));
          if (iter.iteration - lastCkptIteration >= every || start !== (ckptStart ?? start)) {
            const c: CheckpointMsg = { v: PROTOCOL_VERSION, kind: 'checkpoint', jobId: id, iteration: iter.iteration, start, X: X.slice(), Y: Y.slice(), history: history.slice() };
            if (state) c.state = state as Record<string, unknown>;
            lastCkptBytes = await store.putCheckpoint(c, os);
            lastCkptIteration = iter.iteration;
            ckptStart = start;
          }
          rec.iteration = iter.iteration;
          rec.loss = iter.loss;
          rec.relLoss = iter.relLoss;
          await store.put(rec);
          obs.iteration(id, { start, iteration: iter.iteration, loss: iter.loss, relLoss: iter.relLoss, gradNorm: iter.gradNorm, seconds: iter.seconds });
          obs.job(rec);
          const p: ProgressMsg = { v: PROTOCOL_VERSION, kind: 'progress', jobId: id, iteration: iter.iteration, loss: iter.loss, relLoss: iter.relLoss, gradNorm: iter.gradNorm, seconds: (Date.now() - t0) / 1000 };
          nc.publish(progressSubject(id), encode(p));
        },
      };
      if (ckpt) {
        hooks.resume = { X: ckpt.X, Y: ckpt.Y, iteration: ckpt.iteration, history: ckpt.history as IterationRecord[], start: ckpt.start };
        if (ckpt.state) hooks.resume.state = ckpt.state;
      }
      const result: SolveResult = await solve(oracle, solveOpts, hooks);
      if (ac.signal.aborted) throw ac.signal.reason;
      const info = oracle.info();
      const report = buildClusterReport(result, {
        jobId: id, problem: rec.problem, workers: [...oracle.stats.workers], tasks: oracle.stats.tasks, retries: oracle.stats.retries,
        resumedFrom: rec.resumedFrom, blockRows: info.blockRows, gemm: info.gemm, options: solveOpts,
      });
      const object = resultObjectName(id);
      await os.putBlob({ name: object }, encode({ X: result.X, Y: result.Y, report }));
      await finish(rec, 'succeeded', { iteration: result.iterations, loss: result.loss, relLoss: result.relLoss, result: { object, loss: result.loss, relLoss: result.relLoss, iterations: result.iterations, converged: result.converged } });
      await store.deleteCheckpoint(id, os).catch(() => undefined);
    } catch (err) {
      const reason = ac.signal.aborted ? ac.signal.reason : undefined;
      if (reason === SHUTDOWN) { log(`attnfit coordinator: job ${id} interrupted by shutdown (stays running, resumes on restart)`); return; }
      if (reason !== undefined) { await finish(rec, 'cancelled'); return; }
      await finish(rec, 'failed', { error: errorToWire(err) });
    } finally {
      await oracle?.close();
    }
  }

  async function onSubmit(m: JsMsg): Promise<void> {
    const msg = decodeMessage(m.data, ['submit', 'cancel']);
    if (!JOB_ID_RE.test(msg.jobId)) throw new AttnfitError(ErrorCodes.PROTOCOL, `job id ${JSON.stringify(msg.jobId)} is not [A-Za-z0-9_-]{1,64}`);
    if (msg.kind === 'cancel') {
      const rec = await store.get(msg.jobId);
      if (!rec) { log(`attnfit coordinator: cancel for unknown job ${msg.jobId}`); return; }
      if (TERMINAL_STATES.has(rec.state)) return;
      const r = running.get(msg.jobId);
      if (r) {
        const live = r.rec ?? rec;
        live.cancelRequested = true;
        await store.put(live);
        obs.job(live);
        r.ac.abort(new AttnfitError(ErrorCodes.CANCELLED, `job ${msg.jobId} cancelled`));
        return;
      }
      const qi = queue.indexOf(msg.jobId);
      if (qi >= 0) queue.splice(qi, 1);
      await finish(rec, 'cancelled', { cancelRequested: true });
      return;
    }
    const spec = validateJobSpec(msg.spec);
    const rec: JobRecord = {
      v: PROTOCOL_VERSION, kind: 'job', id: msg.jobId, state: 'queued', problem: spec.problem, options: spec.options,
      submittedAt: msg.submittedAt, iteration: 0, resumedFrom: [],
    };
    if (spec.name !== undefined) rec.name = spec.name;
    if (await store.create(rec)) {
      obs.job(rec);
      log(`attnfit coordinator: job ${rec.id} queued (n=${rec.problem.n}, d=${rec.problem.d})`);
      queue.push(rec.id);
      pump();
    }
  }

  // Recover jobs left queued or running by a previous coordinator.
  for (const rec of await store.list()) {
    obs.job(rec);
    if (rec.state === 'queued' || rec.state === 'running') queue.push(rec.id);
  }
  if (queue.length) log(`attnfit coordinator: recovering ${queue.length} job(s): ${queue.join(', ')}`);
  pump();

  const consumer = await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER);
  const messages = await consumer.consume({ max_messages: 16 });
  const loop = (async () => {
    for await (const m of messages) {
      try {
        await onSubmit(m);
      } catch (err) {
        // A malformed or invalid submission is logged and dropped, never a crash.
        log(`attnfit coordinator: dropping stream message ${m.seq}: ${(err as Error).message}`);
      }
      m.ack();
    }
  })();

  let draining: Promise<void> | undefined;
  const closed = nc.closed().then((err) => {
    obs.closed();
    if (err) log(`attnfit coordinator: connection closed: ${err.message}`);
    return err || undefined;
  });
  obs.started({ name, maxJobs, nc, log });
  log(`attnfit coordinator ${name}: ready (stream ${JOBS_STREAM}, consumer ${JOBS_CONSUMER}, max ${maxJobs} job(s) at once)`);
  return {
    name,
    running: () => [...running.keys()],
    closed,
    drain() {
      draining ??= (async () => {
        stopping = true;
        await messages.close().catch(() => undefined);
        await loop.catch(() => undefined);
        for (const r of running.values()) r.ac.abort(SHUTDOWN);
        await Promise.allSettled([...running.values()].map((r) => r.done));
        await nc.drain().catch(() => undefined);
        await closed;
      })();
      return draining;
    },
  };
}

/** Run a coordinator until SIGTERM / SIGINT (then drain). Resolves to the exit code. */
export async function runCoordinator(opts: CoordinatorOptions): Promise<number> {
  const c = await startCoordinator(opts);
  const stop = () => { void c.drain(); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const err = await c.closed;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return err ? 1 : 0;
}

export type { NatsConnection };
