/**
 * The NATS worker service (`attnfit worker`). It joins the task queue group, caches each
 * problem's tensors once per process (fetched from the Object Store by content hash into a
 * SharedArrayBuffer, bounded LRU, evicted when the coordinator announces the job ended), runs
 * every block task in its piscina pool (BlockPool over the shared thread entry and handler table)
 * — never on the thread that owns the NATS connection —
 * and answers each task with a `result` (chunked under max_payload) or an `error` reply.
 * SIGTERM / drain(): stop taking tasks, finish in-flight ones, flush, close.
 */
import { availableParallelism, hostname } from 'node:os';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import {
  DATA_BUCKET, DEFAULT_MAX_PAYLOAD, JOB_DONE_SUBJECT, PROTOCOL_VERSION, TASK_QUEUE, TASK_SUBJECT,
  decodeMessage, encode, encodeError, partialsToWire, peekId, sha256Hex, toFrames, unpackProblem,
  type ProblemRef, type ResultMsg, type TaskMsg,
} from '@attnfit/shared/protocol';
import type { Partials, Want } from '@attnfit/shared/math';
import { connectNats, type NatsAuthOptions } from '@attnfit/shared/runtime';
import type { RegisteredProblem } from '@attnfit/shared/runtime';
import { createBlockPool } from './pool.js';

/** Tunables of the worker service (defaults in {@link WORKER_SERVICE_DEFAULTS}). */
export interface WorkerServiceOptions extends NatsAuthOptions {
  /** piscina threads (default: available cores). */
  threads?: number;
  /** Bytes of problem tensors cached per process before evicting the least recently used. */
  cacheBytes?: number;
  /** Log sink (default: stderr lines). */
  log?: (line: string) => void;
}

export const WORKER_SERVICE_DEFAULTS = Object.freeze({
  cacheBytes: 2 * 1024 ** 3,
});

interface CacheEntry {
  hash: string;
  bytes: number;
  jobs: Set<string>;
  /** The problem registered with the pool (tensors in SharedArrayBuffers). */
  reg: Promise<RegisteredProblem>;
  lastUsed: number;
}

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
 * @example const w = await startWorkerService({ servers: url, user: 'worker', pass: 'pw', threads: 2 });
 */
export async function startWorkerService(opts: WorkerServiceOptions): Promise<WorkerService> {
  const threads = opts.threads ?? Math.max(1, availableParallelism());
  if (!Number.isSafeInteger(threads) || threads < 1) throw new AttnfitError(ErrorCodes.BAD_OPTION, `threads: must be an integer >= 1 (got ${String(threads)})`);
  const cacheBytes = opts.cacheBytes ?? WORKER_SERVICE_DEFAULTS.cacheBytes;
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const name = opts.name ?? `attnfit-worker-${hostname()}-${process.pid}`;
  const nc = await connectNats({ ...opts, name });
  const maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  const pool = createBlockPool(threads);
  const cache = new Map<string, CacheEntry>();
  let store: Promise<ObjectStore> | undefined;
  const counters = { tasks: 0, errors: 0, fetches: 0 };
  const inFlight = new Set<Promise<void>>();
  let ready = false;

  const objectStore = (): Promise<ObjectStore> => {
    store ??= new Objm(nc).open(DATA_BUCKET).catch((err: unknown) => {
      store = undefined;
      throw new AttnfitError(ErrorCodes.NOT_FOUND, `object store ${DATA_BUCKET}: cannot open (${(err as Error).message})`, { cause: err, retryable: true });
    });
    return store;
  };

  function evict(): void {
    let total = 0;
    for (const e of cache.values()) total += e.bytes;
    const byAge = [...cache.values()].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of byAge) {
      if (total <= cacheBytes || cache.size <= 1) break;
      cache.delete(e.hash);
      total -= e.bytes;
    }
  }

  async function fetchProblem(ref: ProblemRef): Promise<RegisteredProblem> {
    counters.fetches++;
    const os = await objectStore();
    const blob = await os.getBlob(ref.object);
    if (!blob) throw new AttnfitError(ErrorCodes.NOT_FOUND, `problem ${ref.object}: not in object store ${DATA_BUCKET}`);
    const got = sha256Hex(blob);
    if (got !== ref.hash) throw new AttnfitError(ErrorCodes.PROTOCOL, `problem ${ref.object}: content hash ${got} does not match ${ref.hash}`);
    const p = unpackProblem(blob);
    if (p.n !== ref.n || p.d !== ref.d) throw new AttnfitError(ErrorCodes.PROTOCOL, `problem ${ref.object}: shape ${p.n}×${p.d} does not match ${ref.n}×${ref.d}`);
    return pool.register(p);
  }

  function problemFor(ref: ProblemRef, jobId: string): Promise<RegisteredProblem> {
    let e = cache.get(ref.hash);
    if (!e) {
      const reg = fetchProblem(ref);
      e = { hash: ref.hash, bytes: 32 * ref.n * ref.d, jobs: new Set(), reg, lastUsed: Date.now() };
      cache.set(ref.hash, e);
      const entry = e;
      reg.catch(() => { if (cache.get(ref.hash) === entry) cache.delete(ref.hash); });
      evict();
    }
    e.jobs.add(jobId);
    e.lastUsed = Date.now();
    return e.reg;
  }

  async function compute(t: TaskMsg): Promise<Partials> {
    const reg = await problemFor(t.problem, t.jobId);
    // A cache hit is keyed by the content hash alone: the task's n×d must match what is cached.
    if (reg.n !== t.problem.n || reg.d !== t.problem.d) {
      throw new AttnfitError(ErrorCodes.PROTOCOL, `problem ${t.problem.object}: task says ${t.problem.n}×${t.problem.d} but the problem with that hash is ${reg.n}×${reg.d}`);
    }
    const [part] = await pool.blocks(reg, [[t.r0, t.r1]], t.X, t.Y, t.want as Want);
    return part!;
  }

  function respond(reply: string, frames: Uint8Array[]): void {
    for (const f of frames) nc.publish(reply, f);
  }

  async function handle(msg: Msg): Promise<void> {
    const reply = msg.reply;
    let id = '';
    try {
      const t = decodeMessage(msg.data, 'task');
      id = t.id;
      counters.tasks++;
      const partials = await compute(t);
      const out: ResultMsg = { v: PROTOCOL_VERSION, kind: 'result', id, r0: t.r0, r1: t.r1, partials: partialsToWire(partials, t.problem.d), worker: name };
      if (reply) respond(reply, toFrames(id, encode(out), maxPayload));
    } catch (err) {
      counters.errors++;
      if (!id) id = peekId(msg.data);
      if (reply) {
        try { nc.publish(reply, encodeError(id, err)); } catch (e2) { log(`attnfit worker: cannot send error reply for ${id}: ${(e2 as Error).message}`); }
      } else {
        log(`attnfit worker: task without reply subject failed: ${(err as Error).message}`);
      }
    }
  }

  let subError: Error | undefined;
  const taskSub: Subscription = nc.subscribe(TASK_SUBJECT, {
    queue: TASK_QUEUE,
    callback: (err, msg) => {
      if (err) {
        subError ??= err;
        log(`attnfit worker: subscription error: ${err.message}`);
        // Without the task subscription this process is useless: close (runWorker then exits).
        if (ready) void nc.close();
        return;
      }
      const p = handle(msg);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
  });
  const doneSub: Subscription = nc.subscribe(JOB_DONE_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const m = decodeMessage(msg.data, 'job.done');
        const e = cache.get(m.problemHash);
        if (e) {
          e.jobs.delete(m.jobId);
          if (e.jobs.size === 0) cache.delete(m.problemHash);
        }
      } catch (e2) {
        log(`attnfit worker: ignoring malformed job.done message: ${(e2 as Error).message}`);
      }
    },
  });
  await nc.flush();
  // The server answers a forbidden SUB with -ERR before the flush's PONG: fail fast with AUTH.
  if (subError) {
    const e = subError as Error;
    await nc.close();
    await pool.destroy();
    throw new AttnfitError(ErrorCodes.AUTH, `nats: not allowed to serve tasks as a worker (${e.message})`, { cause: e });
  }
  ready = true;

  let draining: Promise<void> | undefined;
  const closed = nc.closed().then(async (err) => {
    await pool.destroy();
    if (err) log(`attnfit worker: connection closed: ${err.message}`);
    return subError ?? (err || undefined);
  });

  log(`attnfit worker ${name}: ready (${threads} threads, queue ${TASK_QUEUE})`);
  return {
    name,
    threads,
    stats: () => ({ ...counters, cached: cache.size, inFlight: inFlight.size }),
    closed,
    drain() {
      draining ??= (async () => {
        if (nc.isClosed()) return;
        await Promise.allSettled([taskSub.drain(), doneSub.drain()]);
        while (inFlight.size) await Promise.allSettled([...inFlight]);
        await nc.flush().catch(() => undefined);
        await nc.drain().catch(() => undefined);
        await closed;
      })();
      return draining;
    },
  };
}

/**
 * Run a worker until SIGTERM / SIGINT (then drain) or the connection closes. Used by the
 * `attnfit worker` command. Resolves to the process exit code.
 */
export async function runWorker(opts: WorkerServiceOptions): Promise<number> {
  const w = await startWorkerService(opts);
  const stop = () => { void w.drain(); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const err = await w.closed;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return err ? 1 : 0;
}
