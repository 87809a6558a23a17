/**
 * The NATS worker service (`attnfit worker`). It joins the task queue group and serves its own
 * direct task subject `attnfit.task.<dispatchId>` (advertised in its heartbeats; the coordinator
 * addresses shards there while the worker is live), caches each
 * problem's tensors once per process (fetched from the Object Store by content hash into a
 * SharedArrayBuffer, bounded LRU, evicted when the coordinator announces the job ended), runs
 * every shard task's blocks in parallel in its piscina pool (BlockPool over the shared thread
 * entry and handler table) and adds them in block order — never on the thread that owns the NATS
 * connection —
 * and answers each task with a `result` (chunked under max_payload) or an `error` reply.
 * SIGTERM / drain(): stop taking tasks, finish in-flight ones, flush, close. Heartbeats (for the
 * coordinator's dashboard) and metrics listen through the narrow {@link WorkerObserver} interface.
 */
import { availableParallelism, hostname } from 'node:os';
import { nuid, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes, type Partials } from '@attnfit/shared/core';
import {
  DEFAULT_MAX_PAYLOAD,
  JOB_DONE_SUBJECT,
  MAX_WORKING_IDS,
  TASK_QUEUE,
  TASK_SUBJECT,
  decodeMessage,
  workerTaskSubject,
  type TaskMsg,
} from '@attnfit/shared/protocol';
import {
  Shutdown,
  connectNats,
  permissionError,
  runUntilSignal,
  type HttpAddress,
  type NatsAuthOptions,
  type RegisteredProblem,
} from '@attnfit/shared/runtime';
import { createBlockPool, evaluateShard } from './pool.js';
import { ProblemCache } from './problem-cache.js';
import { ObjectStoreProblems } from './problem-source.js';
import { TaskServer } from './task-server.js';
import { fanOut, type WorkerObserver } from './observer.js';
import { HEARTBEAT_DEFAULTS, heartbeatObserver } from './heartbeat.js';
import { createWorkerMetrics } from './http/metrics.js';
import { serveWorkerMetrics } from './http/server.js';

/** Tunables of the worker service (defaults in {@link WORKER_SERVICE_DEFAULTS}). */
export interface WorkerServiceOptions extends NatsAuthOptions {
  /** piscina threads (default: available cores). */
  threads?: number;
  /** Bytes of problem tensors cached per process before evicting the least recently used. */
  cacheBytes?: number;
  /** Log sink (default: stderr lines). */
  log?: (line: string) => void;
  /** Heartbeat period in ms for the coordinator's dashboard (default 2000; 0 = no heartbeats). */
  heartbeatMs?: number;
  /** Receives start / task / drain events (metrics); never affects results. */
  observer?: WorkerObserver;
  /** runWorker: bound on the drain after SIGTERM / SIGINT (ms, default SHUTDOWN_DEFAULTS.timeoutMs). */
  shutdownTimeoutMs?: number;
  /**
   * Simulation seam (bench/scaling.mjs): compute each task's partials with this function instead
   * of the block pool — no thread pool is created and no problem is fetched or cached; the
   * transport (subscriptions, heartbeats, TaskServer replies) is the real one.
   */
  compute?: (task: TaskMsg) => Promise<Partials>;
}

export const WORKER_SERVICE_DEFAULTS = Object.freeze({
  cacheBytes: 2 * 1024 ** 3,
});

/** A running worker service. */
export interface WorkerService {
  readonly name: string;
  readonly threads: number;
  /** Counters for diagnostics and tests. */
  stats(): { tasks: number; errors: number; fetches: number; cached: number; inFlight: number };
  /** Stop taking tasks, finish in-flight ones, flush replies, close the connection. Idempotent. */
  drain(): Promise<void>;
  /** Resolves when the connection is closed: undefined after a drain, the error after a fatal one. */
  readonly closed: Promise<Error | undefined>;
}

/**
 * Start a worker service. Rejects with AttnfitError(AUTH | CONNECTION) when NATS refuses.
 * Composition root: connection, block pool, {@link ProblemCache} over {@link ObjectStoreProblems},
 * {@link TaskServer}, subscriptions, and the {@link Shutdown} sequence.
 * @example const w = await startWorkerService({ servers: url, user: 'worker', pass: 'pw', threads: 2 });
 */
export async function startWorkerService(opts: WorkerServiceOptions): Promise<WorkerService> {
  const threads = opts.threads ?? Math.max(1, availableParallelism());
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `threads: must be an integer >= 1 (got ${String(threads)})`);
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const name = opts.name ?? `attnfit-worker-${hostname()}-${process.pid}`;
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_DEFAULTS.intervalMs;
  const obs = fanOut([heartbeatMs > 0 ? heartbeatObserver(heartbeatMs) : undefined, opts.observer], log);
  const nc = await connectNats({ ...opts, name });
  const pool = opts.compute ? undefined : createBlockPool(threads);
  const source = pool && new ObjectStoreProblems(nc, pool);
  const cache = new ProblemCache<RegisteredProblem>(opts.cacheBytes ?? WORKER_SERVICE_DEFAULTS.cacheBytes, (ref) =>
    source!.load(ref),
  );
  const compute =
    opts.compute ??
    (async (t: TaskMsg): Promise<Partials> => {
      const reg = await cache.get(t.problem, t.jobId);
      // A cache hit is keyed by the content hash alone: the task's n×d must match what is cached.
      if (reg.n !== t.problem.n || reg.d !== t.problem.d) {
        throw new AttnfitError(
          ErrorCodes.PROTOCOL,
          `problem ${t.problem.object}: task says ${t.problem.n}×${t.problem.d} but the problem with that hash is ${reg.n}×${reg.d}`,
        );
      }
      return evaluateShard(pool!, reg, t);
    });
  const server = new TaskServer(nc, name, nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD, compute, log, obs);

  const subs = subscribe(nc, server, cache, log, nuid.next());
  await nc.flush();
  // The server answers a forbidden SUB with -ERR before the flush's PONG: fail fast with AUTH.
  if (subs.error()) {
    const e = subs.error()!;
    await nc.close();
    await pool?.destroy();
    throw (
      permissionError(e, nc) ??
      new AttnfitError(ErrorCodes.AUTH, `nats: not allowed to serve tasks as a worker (${e.message})`, { cause: e })
    );
  }
  subs.ready();
  const dispatchId = subs.dispatchId();

  const closed = nc.closed().then(async (err) => {
    obs.closed();
    await pool?.destroy();
    if (err) log(`attnfit worker: connection closed: ${err.message}`);
    return subs.error() ?? (err || undefined);
  });
  const shutdown = new Shutdown(
    'attnfit worker',
    {
      stopIntake: () => {
        obs.stopping();
        return Promise.allSettled(subs.all.map((s) => s.drain()));
      },
      settle: () => server.settle(),
      flush: () => nc.flush(),
      close: () => nc.drain(),
      closed,
    },
    { log, skip: () => nc.isClosed() },
  );

  const stats = () => ({
    ...server.counters,
    fetches: source?.fetches ?? 0,
    cached: cache.size,
    inFlight: server.inFlightCount,
    working: server.workingIds(MAX_WORKING_IDS),
  });
  obs.started({ name, threads, nc, stats, log, ...(dispatchId ? { dispatchId } : {}) });
  log(
    `attnfit worker ${name}: ready (${threads} threads, queue ${TASK_QUEUE}${dispatchId ? `, direct ${workerTaskSubject(dispatchId)}` : ''})`,
  );
  return {
    name,
    threads,
    stats,
    closed,
    drain: () => shutdown.run(),
  };
}

/** The worker's subscriptions and the first (fatal) subscription error. */
interface WorkerSubscriptions {
  readonly all: Subscription[];
  error(): Error | undefined;
  /** The direct task subject's token, unless the server refused that subscription. */
  dispatchId(): string | undefined;
  /** Start-up is over: a later task subscription error closes the connection. */
  ready(): void;
}

/**
 * Subscribe the task queue group and the direct subject of `dispatchId` (tasks of both go to
 * `server`) and `job.done` (evicts from `cache`). A queue subscription error after start-up
 * closes the connection: without it the process is useless (runWorker then exits); before
 * `ready()` the caller turns it into AUTH. A refused direct subscription (an auth config without
 * `attnfit.task.>` for workers) is logged and the worker serves the queue group only.
 */
function subscribe(
  nc: NatsConnection,
  server: TaskServer,
  cache: ProblemCache<unknown>,
  log: (line: string) => void,
  dispatchId: string,
): WorkerSubscriptions {
  let subError: Error | undefined;
  let directError: Error | undefined;
  let ready = false;
  const taskSub: Subscription = nc.subscribe(TASK_SUBJECT, {
    queue: TASK_QUEUE,
    callback: (err, msg) => {
      if (err) {
        subError ??= err;
        log(`attnfit worker: subscription error: ${err.message}`);
        if (ready) void nc.close();
        return;
      }
      server.accept(msg);
    },
  });
  const directSubject = workerTaskSubject(dispatchId);
  const directSub: Subscription = nc.subscribe(directSubject, {
    callback: (err, msg) => {
      if (err) {
        if (!directError)
          log(
            `attnfit worker: cannot serve ${directSubject} (${err.message}): queue group only — allow "${TASK_SUBJECT}.>" in the worker's subscribe permissions`,
          );
        directError ??= err;
        return;
      }
      server.accept(msg);
    },
  });
  const doneSub: Subscription = nc.subscribe(JOB_DONE_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const m = decodeMessage(msg.data, 'job.done');
        cache.jobDone(m.problemHash, m.jobId);
      } catch (e2) {
        log(`attnfit worker: ignoring malformed job.done message: ${(e2 as Error).message}`);
      }
    },
  });
  return {
    all: [taskSub, directSub, doneSub],
    error: () => subError,
    dispatchId: () => (directError ? undefined : dispatchId),
    ready: () => {
      ready = true;
    },
  };
}

/**
 * Run a worker until SIGTERM / SIGINT (then drain) or the connection closes. Used by the
 * `attnfit worker` command. With `http`, serves /metrics on a read-only listener fed through the
 * observer interface. Resolves to the process exit code.
 */
export async function runWorker(opts: WorkerServiceOptions & { http?: HttpAddress }): Promise<number> {
  const { http, ...rest } = opts;
  const o: Parameters<typeof runUntilSignal>[1] = { name: 'attnfit worker' };
  if (opts.log) o.log = opts.log;
  if (opts.shutdownTimeoutMs !== undefined) o.shutdownTimeoutMs = opts.shutdownTimeoutMs;
  if (!http) return runUntilSignal(() => startWorkerService(rest), o);
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const metrics = createWorkerMetrics();
  const listener = await serveWorkerMetrics(http, metrics);
  try {
    return await runUntilSignal(async () => {
      const w = await startWorkerService({ ...rest, observer: fanOut([rest.observer, metrics.observer], log) });
      log(`attnfit worker ${w.name}: metrics on ${listener.url}/metrics`);
      return w;
    }, o);
  } finally {
    await listener.close();
  }
}
