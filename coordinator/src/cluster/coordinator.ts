/**
 * The cluster coordinator (`attnfit coordinator`). It consumes job submissions and cancellations
 * from the JetStream stream (durable consumer), keeps job state in KV, reads problem tensors from
 * the Object Store (content hash), runs `solve()` over a {@link NatsOracle}, publishes progress
 * events, checkpoints X, Y, iteration, history and method state in KV after every iteration, and
 * on start resumes queued and running jobs (running ones from their last checkpoint via
 * hooks.resume). Results (X, Y, report) go to the Object Store and stay fetchable.
 *
 * This file is the composition root; the parts, one job each: {@link SubmissionHandler} (intake),
 * {@link JobScheduler} (queue, concurrency, cancellation), {@link JobRunner} (one job's solve),
 * {@link JobProgress} (checkpoints, progress), {@link JobLedger} (terminal states), and the
 * shared {@link Shutdown} sequence. An optional {@link CoordinatorObserver} (dashboard, metrics)
 * is handed to each part that has something to report; it never affects jobs.
 *
 * One coordinator per cluster, enforced by a lease in KV ({@link CoordinatorLease}): a second
 * coordinator is refused with CONFLICT while the first renews its lease, and takes over once a
 * dead holder's lease expires.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { JOBS_CONSUMER, JOBS_STREAM } from '@attnfit/shared/protocol';
import {
  Shutdown,
  connectNats,
  failOnPermissionViolation,
  firstPermissionViolation,
  permissionError,
  runUntilSignal,
  type NatsAuthOptions,
} from '@attnfit/shared/runtime';
import type { NatsOracleOptions } from './nats-oracle.js';
import { ensureClusterResources, type ClusterResources } from './resources.js';
import { JobLedger } from './job-ledger.js';
import { JobRunner } from './job-runner.js';
import { JobScheduler, SHUTDOWN_REASON } from './job-scheduler.js';
import { SubmissionHandler, consumeSubmissions } from './submissions.js';
import { CoordinatorLease } from './lease.js';
import { safeObserver, type CoordinatorObserver, type ObserverEvents } from './observer.js';

/** Tunables of the coordinator (defaults in {@link COORDINATOR_DEFAULTS}). */
export interface CoordinatorOptions extends NatsAuthOptions {
  /** Jobs solved at the same time. */
  maxJobs?: number;
  /** Per-attempt block task timeout (ms). */
  taskTimeoutMs?: number;
  /** Attempts per block task. */
  maxAttempts?: number;
  /** Reply bytes of shard tasks in flight per job (NatsOracleOptions.replyWindowBytes). */
  replyWindowBytes?: number;
  log?: (line: string) => void;
  /** Receives job, iteration and task events (dashboard, metrics); never affects jobs. */
  observer?: CoordinatorObserver;
  /** runCoordinator: bound on the drain after SIGTERM / SIGINT (ms, default SHUTDOWN_DEFAULTS.timeoutMs). */
  shutdownTimeoutMs?: number;
}

export const COORDINATOR_DEFAULTS = Object.freeze({ maxJobs: 1 });

/** How long startup retries creating the JetStream resources (ms). */
export const RESOURCE_RETRY_MS = 30_000;

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
  // Start-up fails at once with AUTH (naming the subject and the user) on a permission violation.
  let parts: Awaited<ReturnType<typeof startParts>>;
  // The lease taken over by another coordinator (this one was frozen or cut off): stop, exit 1.
  let leaseLost: AttnfitError | undefined;
  const stopper: { shutdown?: Shutdown } = {};
  const onLeaseLost = (holder: string) => {
    leaseLost = new AttnfitError(ErrorCodes.CONFLICT, `the cluster lease was taken over by ${holder}`);
    void stopper.shutdown?.run();
  };
  try {
    parts = await failOnPermissionViolation(nc, startParts(nc, { ...opts, name }, maxJobs, log, obs, onLeaseLost));
    await nc.flush();
    const v = firstPermissionViolation(nc);
    if (v) throw v;
  } catch (err) {
    const e = permissionError(err, nc) ?? err;
    if (!nc.isClosed()) await nc.close();
    throw e;
  }
  const { scheduler, intake, lease } = parts;
  const closed = nc.closed().then((err) => {
    obs.closed();
    if (err) log(`attnfit coordinator: connection closed: ${err.message}`);
    return err || leaseLost;
  });
  const shutdown = new Shutdown(
    'attnfit coordinator',
    {
      stopIntake: () => {
        scheduler.pause();
        return intake.stop();
      },
      settle: () => scheduler.interruptAll(SHUTDOWN_REASON),
      close: async () => {
        await lease.release();
        await nc.drain();
      },
      closed,
    },
    { log },
  );
  stopper.shutdown = shutdown;
  obs.started({ name, maxJobs, nc, log });
  log(
    `attnfit coordinator ${name}: ready (stream ${JOBS_STREAM}, consumer ${JOBS_CONSUMER}, max ${maxJobs} job(s) at once)`,
  );
  return { name, running: () => scheduler.runningIds(), closed, drain: () => shutdown.run() };
}

/** The coordinator's parts, resources opened and recovered jobs queued; intake started. */
async function startParts(
  nc: NatsConnection,
  opts: CoordinatorOptions,
  maxJobs: number,
  log: (line: string) => void,
  obs: Required<CoordinatorObserver>,
  onLeaseLost: (holder: string) => void,
) {
  const { js, store, os, problems } = await ensureResourcesWithRetry(nc, log);
  // Before recovering anything: a second coordinator must not resume the first one's jobs.
  const lease = await CoordinatorLease.acquire(store.kv, opts.name!, { log, onLost: onLeaseLost });
  const ledger = new JobLedger(nc, store, log, obs);
  const runner = new JobRunner({
    nc,
    store,
    os,
    problems,
    ledger,
    log,
    observer: obs,
    oracleOptions: (jobId) => oracleOptions(opts, jobId, log, obs),
  });
  const scheduler = new JobScheduler(maxJobs, (job) => runner.run(job), log);

  // Recover jobs left queued or running by a previous coordinator (observers see every record).
  const records = await store.list();
  for (const r of records) obs.job(r);
  const recovered = records.filter((r) => r.state === 'queued' || r.state === 'running').map((r) => r.id);
  if (recovered.length) log(`attnfit coordinator: recovering ${recovered.length} job(s): ${recovered.join(', ')}`);
  scheduler.enqueue(...recovered);

  let intake;
  try {
    intake = await consumeSubmissions(js, new SubmissionHandler(store, scheduler, ledger, log, obs), log);
  } catch (err) {
    await lease.release();
    throw err;
  }
  return { scheduler, intake, lease };
}

/**
 * Create the JetStream resources. A fresh JetStream cluster needs a few seconds to elect its meta
 * leader: retry transient failures (never AUTH) for up to RESOURCE_RETRY_MS, then close and reject.
 */
async function ensureResourcesWithRetry(nc: NatsConnection, log: (line: string) => void): Promise<ClusterResources> {
  const deadline = Date.now() + RESOURCE_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await ensureClusterResources(nc);
    } catch (err) {
      const code = (err as AttnfitError).code;
      // A closed connection (e.g. start-up already failed with AUTH) ends the retries at once.
      if (code === ErrorCodes.AUTH || nc.isClosed() || Date.now() > deadline) {
        if (!nc.isClosed()) await nc.close();
        throw err;
      }
      log(`attnfit coordinator: JetStream not ready (attempt ${attempt}): ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** NatsOracle options of one job: the coordinator's task timeouts, a log line per retry, hedge and lost worker, retries and task attempts to the observer. */
function oracleOptions(
  opts: CoordinatorOptions,
  jobId: string,
  log: (line: string) => void,
  obs: ObserverEvents<'retry' | 'task'>,
): NatsOracleOptions {
  const o: NatsOracleOptions = {
    jobId,
    onRetry: ({ shard, attempt, error }) => {
      obs.retry({ jobId, block: shard, attempt, code: error.code });
      log(`attnfit coordinator: job ${jobId} shard ${shard} attempt ${attempt} failed (${error.code}): retrying`);
    },
    onTask: (ev) => obs.task({ jobId, ...ev }),
    onHedge: ({ shard, afterMs }) =>
      log(
        `attnfit coordinator: job ${jobId} shard ${shard} unanswered after ${afterMs} ms (overdue vs. its peers): sent again`,
      ),
    onWorker: ({ worker, change, reason }) => {
      // A drain ('stopping') is routine; a worker gone silent or unreachable is worth a line.
      if (change === 'left' && reason !== 'stopping')
        log(
          `attnfit coordinator: job ${jobId}: worker ${worker.name} is ${reason === 'stale' ? 'stale (heartbeats late)' : 'unreachable'}: no further shards; its shards in flight sent again`,
        );
    },
  };
  if (opts.taskTimeoutMs !== undefined) o.taskTimeoutMs = opts.taskTimeoutMs;
  if (opts.replyWindowBytes !== undefined) o.replyWindowBytes = opts.replyWindowBytes;
  if (opts.maxAttempts !== undefined) o.maxAttempts = opts.maxAttempts;
  return o;
}

/** Run a coordinator until SIGTERM / SIGINT (then drain). Resolves to the exit code. */
export async function runCoordinator(opts: CoordinatorOptions): Promise<number> {
  const o: Parameters<typeof runUntilSignal>[1] = { name: 'attnfit coordinator' };
  if (opts.log) o.log = opts.log;
  if (opts.shutdownTimeoutMs !== undefined) o.shutdownTimeoutMs = opts.shutdownTimeoutMs;
  return runUntilSignal(() => startCoordinator(opts), o);
}

export type { NatsConnection };
