/**
 * Runs one cluster job to its end: load the record, resume from its checkpoint (single-start
 * jobs), fetch the problem from the Object Store, solve over a {@link NatsOracle} while
 * {@link JobProgress} checkpoints and publishes progress, then store the result (X, Y, report)
 * and finish the job as succeeded, failed or cancelled. A run interrupted by a coordinator
 * shutdown leaves the job `running`: the next coordinator resumes it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';
import { errorToWire } from '@attnfit/shared/core';
import {
  TERMINAL_STATES,
  encode,
  resultObjectName,
  type CheckpointMsg,
  type JobRecord,
} from '@attnfit/shared/protocol';
import { solve, SOLVE_DEFAULTS } from '../solver/index.js';
import type { IterationRecord, SolveHooks, SolveOptions, SolveResult } from '../solver/types.js';
import type { JobStore } from '../jobs/store.js';
import { NatsOracle, type NatsOracleOptions } from './nats-oracle.js';
import { fetchProblem } from './resources.js';
import { buildClusterReport } from './report.js';
import { JobProgress } from './job-progress.js';
import { TrafficLog } from '../oracle/traffic.js';
import type { JobLedger } from './job-ledger.js';
import { SHUTDOWN_REASON, type RunningJob } from './job-scheduler.js';
import type { ObserverEvents } from './observer.js';

/** What the runner works with. */
export interface JobRunnerDeps {
  nc: NatsConnection;
  store: JobStore;
  /** Results bucket: results and overflowing checkpoints (the coordinator writes). */
  os: ObjectStore;
  /** Problems bucket (read; every fetch verified against the content hash). */
  problems: ObjectStore;
  ledger: JobLedger;
  /** NatsOracle options of a job (task timeouts, retries, retry logging). */
  oracleOptions: (jobId: string) => NatsOracleOptions;
  log: (line: string) => void;
  /** Told of record changes and iterations (dashboard, metrics). */
  observer: ObserverEvents<'job' | 'iteration'>;
}

/** Runs jobs handed out by the scheduler. */
export class JobRunner {
  constructor(private readonly deps: JobRunnerDeps) {}

  /** Run `job` until it ends or is interrupted; never rejects for the job's own failure. */
  async run(job: RunningJob): Promise<void> {
    const { store, ledger } = this.deps;
    const rec = await store.get(job.id);
    if (!rec || TERMINAL_STATES.has(rec.state)) return;
    job.rec = rec; // cancel requests update this very object (no lost update)
    if (rec.cancelRequested) {
      await ledger.finish(rec, 'cancelled');
      return;
    }
    let oracle: NatsOracle | undefined;
    let traffic: TrafficLog | undefined;
    const t0 = Date.now();
    try {
      const solveOpts = jobSolveOptions(rec);
      const ckpt = await this.markRunning(rec, solveOpts, t0);
      const problem = await fetchProblem(this.deps.problems, rec.problem);
      oracle = new NatsOracle(this.deps.nc, problem, rec.problem, this.deps.oracleOptions(job.id));
      traffic = new TrafficLog(() => oracle!.traffic());
      const progress = new JobProgress(this.deps, rec, ckpt, t0, traffic);
      const hooks: SolveHooks = { signal: job.ac.signal, onIteration: (ev) => progress.onIteration(ev) };
      if (ckpt) hooks.resume = resumeHook(ckpt);
      const result = await solve(oracle, solveOpts, hooks);
      if (job.ac.signal.aborted) throw job.ac.signal.reason;
      await this.succeed(rec, result, oracle, solveOpts, traffic);
    } catch (err) {
      await this.fail(rec, job.ac.signal, err);
    } finally {
      await oracle?.close();
    }
  }

  /**
   * Mark the job running (log a resume) and return the checkpoint to resume from: a job that was
   * already running resumes from its checkpoint when it has one start; a multi-start job restarts.
   */
  private async markRunning(rec: JobRecord, solveOpts: SolveOptions, t0: number): Promise<CheckpointMsg | undefined> {
    const found = rec.state === 'running' ? await this.deps.store.getCheckpoint(rec.id, this.deps.os) : undefined;
    // A search job restarts from scratch (deterministic: the same result); so does a multi-start one.
    const ckpt = found && (solveOpts.starts ?? 1) === 1 && !solveOpts.search ? found : undefined;
    if (ckpt) rec.resumedFrom = [...rec.resumedFrom, ckpt.iteration];
    rec.state = 'running';
    rec.startedAt ??= t0;
    await this.deps.store.put(rec);
    const { observer } = this.deps;
    observer.job(rec);
    for (const h of (ckpt?.history ?? []) as IterationRecord[])
      observer.iteration(rec.id, { ...h, start: ckpt!.start, replayed: true });
    this.deps.log(
      `attnfit coordinator: job ${rec.id} running${ckpt ? ` (resumed from iteration ${ckpt.iteration})` : ''}`,
    );
    return ckpt;
  }

  /** Store X, Y and the report in the Object Store, finish as succeeded, drop the checkpoint. */
  private async succeed(
    rec: JobRecord,
    result: SolveResult,
    oracle: NatsOracle,
    solveOpts: SolveOptions,
    traffic: TrafficLog,
  ): Promise<void> {
    const { store, os, ledger } = this.deps;
    const info = oracle.info();
    const report = buildClusterReport(result, {
      jobId: rec.id,
      problem: rec.problem,
      workers: [...oracle.stats.workers],
      tasks: oracle.stats.tasks,
      retries: oracle.stats.retries,
      hedges: oracle.stats.hedges,
      resumedFrom: rec.resumedFrom,
      blockRows: info.blockRows,
      shards: info.shards,
      shardBlocks: info.shardBlocks,
      traffic,
      gemm: info.gemm,
      options: solveOpts,
    });
    const object = resultObjectName(rec.id);
    await os.putBlob({ name: object }, encode({ X: result.X, Y: result.Y, report }));
    await ledger.finish(rec, 'succeeded', {
      iteration: result.iterations,
      loss: result.loss,
      relLoss: result.relLoss,
      result: {
        object,
        loss: result.loss,
        relLoss: result.relLoss,
        iterations: result.iterations,
        converged: result.converged,
      },
    });
    await store.deleteCheckpoint(rec.id, os).catch(() => undefined);
  }

  /** Shutdown: leave the job running (it resumes); cancelled by request; failed otherwise. */
  private async fail(rec: JobRecord, signal: AbortSignal, err: unknown): Promise<void> {
    const reason = signal.aborted ? signal.reason : undefined;
    if (reason === SHUTDOWN_REASON) {
      this.deps.log(`attnfit coordinator: job ${rec.id} interrupted by shutdown (stays running, resumes on restart)`);
      return;
    }
    if (reason !== undefined) {
      await this.deps.ledger.finish(rec, 'cancelled');
      return;
    }
    await this.deps.ledger.finish(rec, 'failed', { error: errorToWire(err) });
  }
}

/** The solver's resume hook from a checkpoint. */
function resumeHook(ckpt: CheckpointMsg): NonNullable<SolveHooks['resume']> {
  const resume: NonNullable<SolveHooks['resume']> = {
    X: ckpt.X,
    Y: ckpt.Y,
    iteration: ckpt.iteration,
    history: ckpt.history as IterationRecord[],
    start: ckpt.start,
  };
  if (ckpt.state) resume.state = ckpt.state;
  return resume;
}

/** The solve options of a job: SOLVE_DEFAULTS, the job's options, its search caps. */
export function jobSolveOptions(rec: JobRecord): SolveOptions {
  const { search, budgetSeconds, maxEvals, ...rest } = rec.options;
  const o = { ...SOLVE_DEFAULTS, ...rest } as SolveOptions;
  if (search && o.x0 === undefined) {
    o.search = {};
    if (budgetSeconds !== undefined) o.search.budgetSeconds = budgetSeconds;
    if (maxEvals !== undefined) o.search.maxEvals = maxEvals;
  }
  return o;
}
