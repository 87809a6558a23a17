/**
 * NatsOracle: the Oracle over the NATS cluster. It uses the fixed two-level plan planTree(n, d)
 * — the same plan as the local engine — and sends each *shard* (a run of consecutive row blocks)
 * as one `task` request to a worker, which evaluates the shard's blocks on its threads and adds
 * them in block order. Tasks are addressed to live workers (heard through their heartbeats) with
 * a small credit per worker, the least loaded first ({@link ShardDispatcher}); while no worker is
 * live they go to the queue group. A worker that goes stale or says it stops gets no new tasks,
 * and its shards in flight are re-dispatched at once. Per-task timeout, retries on timeout / worker loss /
 * retryable errors and hedged re-dispatch work per shard; tasks are pure and idempotent, late
 * duplicates are ignored because every attempt has its own reply subject. The shard partials are
 * added in shard order, so results are bitwise identical to local evaluation for any number of
 * workers, and the coordinator receives one partial per shard (O(#shards · d⁴) bytes for an
 * exact Hessian, independent of n and of the worker count). Workers may join or leave at any
 * time: the plan does not change, only who answers which shard.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { setMaxListeners } from 'node:events';
import { createInbox, nuid } from '@nats-io/transport-node';
import { onPermissionViolation } from '@attnfit/shared/runtime';
import { AttnfitError, ErrorCodes, wireToError } from '@attnfit/shared/core';
import { dgemmBase, gemmBackendDetail } from '@attnfit/shared/kernels';
import { bNorm2, MAX_SHARDS, planTree, reduceInOrder } from '@attnfit/shared/math';
import type { Partials, Problem, ShardPlan, Want } from '@attnfit/shared/math';
import {
  DEFAULT_MAX_PAYLOAD,
  PROTOCOL_VERSION,
  Reassembler,
  TASK_SUBJECT,
  decodeMessage,
  encode,
  wantToWire,
  wireToPartials,
  type ProblemRef,
  type TaskMsg,
} from '@attnfit/shared/protocol';
import type { CallOptions, Oracle, OracleInfo, Traffic } from '../oracle/types.js';
import { columnMean, planOptions } from '../oracle/local.js';
import { WorkerRoster, type RosterEvent, type RosterWorker } from './worker-roster.js';
import { SHARD_DISPATCH_DEFAULTS, ShardDispatcher, type DispatchTarget } from './shard-dispatch.js';

/** Tunables of the cluster oracle (defaults in {@link NATS_ORACLE_DEFAULTS}). */
export interface NatsOracleOptions {
  /** Job id carried by tasks (workers use it to evict cached problems when the job ends). */
  jobId: string;
  /** Per-attempt task timeout in milliseconds. */
  taskTimeoutMs?: number;
  /** Attempts per shard before the evaluation fails. */
  maxAttempts?: number;
  /** Shard tasks in flight at once (default MAX_SHARDS: every shard is ready at once; the
   * credits below decide when each goes out). */
  maxInFlight?: number;
  /**
   * Bound on the reply bytes of the shard tasks in flight at once (default 48 MiB): the replies
   * of one evaluation tend to arrive together, and nats-server disconnects a client with more
   * than its `max_pending` (64 MiB by default) waiting to be read — the coordinator, as a slow
   * consumer, losing every reply in flight. The shards in flight are limited to
   * ⌊replyWindowBytes / one shard's reply size⌋ (at least 1): no limit for gradients and HVPs,
   * 60 exact-Hessian shards at d = 16. Raise it together with the server's `max_pending`.
   */
  replyWindowBytes?: number;
  /**
   * Tasks of this oracle in flight per live worker (default 2: one computing, one queued); the
   * other shards wait and go out as replies come back.
   */
  credits?: number;
  /**
   * Before the first evaluation, wait up to this long (ms) for a live worker's heartbeat (it is
   * asked for one at once); none heard: tasks go to the queue group until one is.
   */
  discoveryMs?: number;
  /** Called when a worker joins or leaves this oracle's roster (diagnostics, tests). */
  onWorker?: (e: RosterEvent) => void;
  /** Rows per block (default defaultBlockRows(n, d): must match the local engine for bitwise equality). */
  blockRows?: number;
  /** Blocks per shard (default from planTree(n, d): must match the local engine for bitwise equality). */
  shardBlocks?: number;
  /** How long to keep waiting (ms) while no worker at all is subscribed before failing. */
  noWorkersTimeoutMs?: number;
  /** Called once per retried attempt (diagnostics). */
  onRetry?: (info: { shard: number; attempt: number; error: AttnfitError }) => void;
  /** Called when a published attempt ends: reply, error reply, timeout or cancel (metrics). */
  onTask?: (info: {
    ok: boolean;
    code?: string;
    worker?: string;
    ms: number;
    bytesOut: number;
    bytesIn: number;
  }) => void;
  /**
   * Hedged re-dispatch: a shard attempt still unanswered after hedgeFactor × the slowest of
   * the recent answered attempts (and at least hedgeMinMs) is sent once more, and again after
   * each further such delay (at most max(maxAttempts, 32) copies); the first reply wins.
   * 0 disables hedging (then only the task timeout notices a lost worker).
   */
  hedgeFactor?: number;
  /** Lower bound of the hedge delay (ms). */
  hedgeMinMs?: number;
  /** Called once per hedged (re-dispatched) shard attempt (diagnostics). */
  onHedge?: (info: { shard: number; afterMs: number }) => void;
}

export const NATS_ORACLE_DEFAULTS = Object.freeze({
  taskTimeoutMs: 60_000,
  maxAttempts: 6,
  maxInFlight: MAX_SHARDS,
  replyWindowBytes: 48 * 1024 * 1024,
  noWorkersTimeoutMs: 300_000,
  credits: SHARD_DISPATCH_DEFAULTS.credits,
  discoveryMs: 500,
  // 3× the slowest recent answer: a worker's queue makes answers within one evaluation differ
  // by up to (shards per worker) × (one shard), so a smaller factor hedges healthy tasks.
  hedgeFactor: 3,
  hedgeMinMs: 500,
});

/** How often in-flight attempts are checked for being overdue (ms). */
const HEDGE_TICK_MS = 100;
/**
 * Copies of one overdue attempt (the first included) at most, when more than maxAttempts. On the
 * queue-group path (no live workers known) a frozen worker stays in the group, and each copy
 * reaches it with probability 1/(workers): with only maxAttempts (6) copies, 1 in 32 blocks first routed to it (2
 * workers) waited the whole task timeout. Copies are a few d² numbers; they stop at the first reply.
 */
const HEDGE_MAX_COPIES = 32;
/** Answered attempts whose durations set the hedge delay. */
const HEDGE_WINDOW = 64;
/** Immediate re-sends of one shard after its addressed worker turned out unreachable. */
const MAX_UNREACHABLE_RESENDS = 64;

/** One shard attempt in flight that may be hedged. */
interface InFlight {
  shard: number;
  /** Kind of evaluation (wanted quantities): hedge delays compare like with like. */
  kind: string;
  /** When the last copy of the task went out. */
  sentAt: number;
  /** Copies sent so far (the first included). */
  sends: number;
  /** Worker ids holding a copy still awaited (QUEUE_HOLDER for a copy sent to the queue group). */
  holders: string[];
  hedge(): void;
}

/** Holder of a copy sent to the queue group (worker unknown). */
const QUEUE_HOLDER = '';

const RETRYABLE = new Set<string>([ErrorCodes.TIMEOUT, ErrorCodes.WORKER_LOST, ErrorCodes.CONNECTION]);

interface Pending {
  resolve(p: Partials, worker?: string): void;
  reject(e: AttnfitError): void;
  r0: number;
  r1: number;
  /** The worker the task was addressed to (undefined: the queue group). */
  worker?: RosterWorker;
  /** Reply bytes received so far (all frames). */
  bytesIn: number;
}

/** Oracle whose shards of row blocks are evaluated by remote workers. */
export class NatsOracle implements Oracle {
  readonly n: number;
  readonly d: number;
  readonly bNorm2: number;
  /** The two-level plan: shards are the tasks, blocks what a worker's threads compute. */
  readonly plan: ShardPlan;
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly reasm = new Reassembler();
  private readonly o: Required<
    Omit<NatsOracleOptions, 'onRetry' | 'onTask' | 'onHedge' | 'onWorker' | 'blockRows' | 'shardBlocks'>
  > &
    Pick<NatsOracleOptions, 'onRetry' | 'onTask' | 'onHedge' | 'onWorker'>;
  private readonly roster: WorkerRoster;
  private readonly dispatcher: ShardDispatcher;
  /** Whether the first evaluation waited for workers to be heard. */
  private discovered = false;
  /**
   * Credits of abandoned copies (another copy won, or the evaluation was cancelled) still held,
   * by task id: the worker is still busy with the task, so its credit comes back with its late
   * reply (or after the task timeout). A frozen worker thus gets no further tasks.
   */
  private readonly held = new Map<string, { release(): void; timer: NodeJS.Timeout }>();
  /**
   * Durations (ms) of the last answered attempts (ring of HEDGE_WINDOW) per kind of evaluation
   * (the wanted quantities): an exact-Hessian shard takes far longer than a gradient shard, and
   * must not look overdue next to one.
   */
  private readonly durations = new Map<string, number[]>();
  private readonly inFlight = new Set<InFlight>();
  private hedgeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** A permission violation on the task subject or this oracle's inbox: every evaluation fails with it. */
  private fatal: AttnfitError | undefined;
  private readonly offViolation: () => void;
  private gramCache: { G1: Float64Array; G2: Float64Array } | undefined;
  readonly keyMean: Float64Array;
  /**
   * Counters for diagnostics and tests: task attempts published, retries, duplicate replies,
   * hedges, worker names seen, copies sent per worker name (`sentTo`; `viaQueue` for the queue
   * group), re-dispatches of shards whose worker left the roster, and the bytes of every task published (bytesSent) and of every
   * reply frame received (bytesReceived, late duplicates included).
   */
  readonly stats = {
    tasks: 0,
    retries: 0,
    duplicates: 0,
    hedges: 0,
    workers: new Set<string>(),
    sentTo: new Map<string, number>(),
    viaQueue: 0,
    redispatches: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };

  /**
   * @param nc a connected NATS client (not closed by this oracle)
   * @param problem the problem tensors (the coordinator holds them for gram / ‖B‖²)
   * @param ref where workers fetch the same tensors (Object Store, content hash)
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly problem: Problem,
    private readonly ref: ProblemRef,
    opts: NatsOracleOptions,
  ) {
    this.n = problem.n;
    this.d = problem.d;
    this.bNorm2 = bNorm2(problem);
    this.keyMean = columnMean(problem.A2, problem.n, problem.d);
    this.plan = planTree(problem.n, problem.d, planOptions(opts));
    this.o = {
      jobId: opts.jobId,
      taskTimeoutMs: opts.taskTimeoutMs ?? NATS_ORACLE_DEFAULTS.taskTimeoutMs,
      maxAttempts: opts.maxAttempts ?? NATS_ORACLE_DEFAULTS.maxAttempts,
      maxInFlight: opts.maxInFlight ?? NATS_ORACLE_DEFAULTS.maxInFlight,
      replyWindowBytes: opts.replyWindowBytes ?? NATS_ORACLE_DEFAULTS.replyWindowBytes,
      noWorkersTimeoutMs: opts.noWorkersTimeoutMs ?? NATS_ORACLE_DEFAULTS.noWorkersTimeoutMs,
      hedgeFactor: opts.hedgeFactor ?? NATS_ORACLE_DEFAULTS.hedgeFactor,
      hedgeMinMs: opts.hedgeMinMs ?? NATS_ORACLE_DEFAULTS.hedgeMinMs,
      credits: opts.credits ?? NATS_ORACLE_DEFAULTS.credits,
      discoveryMs: opts.discoveryMs ?? NATS_ORACLE_DEFAULTS.discoveryMs,
      onRetry: opts.onRetry,
      onTask: opts.onTask,
      onHedge: opts.onHedge,
      onWorker: opts.onWorker,
    };
    this.roster = new WorkerRoster(nc);
    this.dispatcher = new ShardDispatcher(this.roster, this.o.credits);
    this.roster.onChange((e) => this.onRosterChange(e));
    this.roster.ping();
    // The connection's inbox prefix (per user, see inboxPrefixFor): the server lets a role
    // subscribe only to its own prefix.
    this.inbox = createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.onReply(msg.subject, msg.data, msg.headers?.code ?? 0);
      },
    });
    // A forbidden task publish is dropped by the server without a reply: fail at once with AUTH
    // instead of after task timeouts and retries.
    this.offViolation = onPermissionViolation(nc, (e) => {
      const subject = e.details?.subject;
      if (
        typeof subject !== 'string' ||
        !(subject === TASK_SUBJECT || subject.startsWith(`${TASK_SUBJECT}.`) || subject.startsWith(this.inbox))
      )
        return;
      this.fatal ??= e;
      for (const p of [...this.pending.values()]) p.reject(e);
    });
  }

  private onReply(subject: string, data: Uint8Array, status: number): void {
    const id = subject.slice(this.inbox.length + 1);
    this.stats.bytesReceived += data.length;
    const p = this.pending.get(id);
    if (!p) {
      this.stats.duplicates++;
      const h = this.held.get(id);
      if (h) {
        this.held.delete(id);
        clearTimeout(h.timer);
        h.release();
      }
      return;
    }
    p.bytesIn += data.length;
    if (status === 503 || (data.length === 0 && status !== 0)) {
      // The server's "no responders" status: no worker is subscribed right now (to the queue
      // group, or to the addressed worker's subject: that worker is gone).
      if (p.worker) this.roster.drop(p.worker.id);
      p.reject(
        p.worker
          ? new AttnfitError(ErrorCodes.WORKER_LOST, `worker ${p.worker.name} no longer serves ${p.worker.subject}`, {
              retryable: true,
              details: { noResponders: true, unreachable: p.worker.id },
            })
          : new AttnfitError(ErrorCodes.WORKER_LOST, `no worker is serving ${TASK_SUBJECT}`, {
              retryable: true,
              details: { noResponders: true },
            }),
      );
      return;
    }
    try {
      const whole = this.reasm.push(data);
      if (!whole) return;
      const m = decodeMessage(whole, ['result', 'error']);
      if (m.id !== id) throw new AttnfitError(ErrorCodes.PROTOCOL, `reply for ${id} carries id ${m.id}`);
      if (m.kind === 'error') {
        p.reject(wireToError(m.error));
        return;
      }
      if (m.r0 !== p.r0 || m.r1 !== p.r1)
        throw new AttnfitError(
          ErrorCodes.PROTOCOL,
          `reply for ${id} covers rows [${m.r0}, ${m.r1}) instead of [${p.r0}, ${p.r1})`,
        );
      if (m.worker) this.stats.workers.add(m.worker);
      p.resolve(wireToPartials(m.partials, this.d), m.worker);
    } catch (err) {
      p.reject(
        err instanceof AttnfitError
          ? err
          : new AttnfitError(ErrorCodes.PROTOCOL, `bad reply for ${id}: ${(err as Error).message}`, { cause: err }),
      );
    }
  }

  /**
   * One attempt: publish the task to `target` (whose credit it holds), await its (possibly
   * chunked) reply or the timeout. The credit comes back when the attempt ends, except when it
   * is abandoned unanswered (see {@link held}).
   */
  private attempt(task: TaskMsg, signal: AbortSignal | undefined, target: DispatchTarget): Promise<Partials> {
    return new Promise<Partials>((resolve, reject) => {
      const id = task.id;
      let credit = true;
      const release = (): void => {
        if (!credit) return;
        credit = false;
        this.dispatcher.release(target);
      };
      if (this.fatal || signal?.aborted) {
        release();
        reject(this.fatal ?? cancelled(signal));
        return;
      }
      // Created here so the stack names the caller (STYLE 10).
      const timeoutErr = new AttnfitError(
        ErrorCodes.TIMEOUT,
        `task ${id} (rows ${task.r0}–${task.r1}) got no reply within ${this.o.taskTimeoutMs} ms`,
        { retryable: true },
      );
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        this.reasm.drop(id);
        signal?.removeEventListener('abort', onAbort);
        release();
      };
      const onAbort = () => {
        ended(false, ErrorCodes.CANCELLED);
        if (credit && t0 >= 0 && target.kind === 'direct') {
          // Abandoned unanswered: the worker still holds the task; keep its credit taken.
          credit = false;
          const timer = setTimeout(() => {
            this.held.delete(id);
            this.dispatcher.release(target);
          }, this.o.taskTimeoutMs);
          timer.unref?.();
          this.held.set(id, { release: () => this.dispatcher.release(target), timer });
        }
        done();
        reject(cancelled(signal));
      };
      // A copy addressed to a live worker whose heartbeats (sent after the copy) list it as being
      // computed is not lost, only long (a shard of a big problem can take longer than the
      // timeout): the timer is re-armed. Staleness, not the timeout, notices that worker's loss.
      const sentAt = Date.now();
      const onTimeout = (): void => {
        if (target.kind === 'direct' && this.roster.isWorkingOn(target.worker.id, id, sentAt)) {
          timer = setTimeout(onTimeout, this.o.taskTimeoutMs);
          return;
        }
        ended(false, timeoutErr.code);
        done();
        reject(timeoutErr);
      };
      let timer = setTimeout(onTimeout, this.o.taskTimeoutMs);
      // Metrics: one event per attempt that was published.
      let t0 = -1,
        bytesOut = 0;
      const ended = (ok: boolean, code?: string, worker?: string): void => {
        if (t0 < 0 || !this.o.onTask) return;
        const ev: Parameters<NonNullable<NatsOracleOptions['onTask']>>[0] = {
          ok,
          ms: performance.now() - t0,
          bytesOut,
          bytesIn: this.pending.get(id)?.bytesIn ?? 0,
        };
        if (code !== undefined) ev.code = code;
        if (worker !== undefined) ev.worker = worker;
        t0 = -1;
        try {
          this.o.onTask(ev);
        } catch {
          /* an observer never breaks a solve */
        }
      };
      this.pending.set(id, {
        r0: task.r0,
        r1: task.r1,
        ...(target.kind === 'direct' ? { worker: target.worker } : {}),
        bytesIn: 0,
        resolve: (p, worker) => {
          ended(true, undefined, worker);
          done();
          resolve(p);
        },
        reject: (e) => {
          ended(false, e.code);
          done();
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const bytes = encode(task);
        const max = this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
        if (bytes.length > max) {
          // Tasks may go to a queue group, so they cannot be chunked (frames could reach
          // different workers): X, Y and direction vectors must fit in one message.
          done();
          reject(
            new AttnfitError(
              ErrorCodes.BAD_OPTION,
              `task of ${bytes.length} bytes (d = ${this.d}) exceeds the server's max_payload ${max}: raise max_payload in nats-server.conf`,
              { details: { field: 'max_payload', value: max } },
            ),
          );
          return;
        }
        this.stats.tasks++;
        this.nc.publish(target.kind === 'direct' ? target.worker.subject : TASK_SUBJECT, bytes, {
          reply: `${this.inbox}.${id}`,
        });
        if (target.kind === 'direct')
          this.stats.sentTo.set(target.worker.name, (this.stats.sentTo.get(target.worker.name) ?? 0) + 1);
        else this.stats.viaQueue++;
        this.stats.bytesSent += bytes.length;
        t0 = performance.now();
        bytesOut = bytes.length;
      } catch (err) {
        done();
        reject(
          new AttnfitError(ErrorCodes.CONNECTION, `cannot publish task ${id}: ${(err as Error).message}`, {
            cause: err,
            retryable: true,
          }),
        );
      }
    });
  }

  /**
   * One attempt at a shard, hedged: when it is overdue relative to recent answers (see
   * {@link NatsOracleOptions.hedgeFactor}) the same task goes out once more under a new id; the
   * first answer wins and the other attempt is dropped (its late reply counts as a duplicate).
   * Tasks are pure and results bitwise identical, so this keeps determinism. Rejects with the
   * error of the last attempt to fail when none succeeds.
   */
  private hedgedAttempt(
    shard: number,
    kind: string,
    task: () => TaskMsg,
    signal: AbortSignal | undefined,
  ): Promise<Partials> {
    return new Promise<Partials>((resolve, reject) => {
      const ac = new AbortController();
      setMaxListeners(0, ac.signal);
      const onOuter = (): void => ac.abort(signal!.reason);
      signal?.addEventListener('abort', onOuter, { once: true });
      let live = 0;
      let settled = false;
      const entry: InFlight = { shard, kind, sentAt: Date.now(), sends: 1, holders: [], hedge: () => launch(false) };
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        this.untrack(entry);
        signal?.removeEventListener('abort', onOuter);
        ac.abort(new AttnfitError(ErrorCodes.CANCELLED, 'hedged attempt settled'));
        fn();
      };
      const failed = (e: unknown): void => {
        if (--live === 0) finish(() => reject(e));
      };
      const send = (target: DispatchTarget, first: boolean): void => {
        const holder = target.kind === 'direct' ? target.worker.id : QUEUE_HOLDER;
        entry.holders.push(holder);
        const startedAt = Date.now();
        if (first) {
          entry.sentAt = startedAt;
          this.track(entry);
        }
        this.attempt(task(), ac.signal, target).then(
          (p) => {
            this.noteDuration(kind, Date.now() - startedAt);
            finish(() => resolve(p));
          },
          (e: unknown) => {
            entry.holders.splice(entry.holders.indexOf(holder), 1);
            failed(e);
          },
        );
      };
      const launch = (first: boolean): void => {
        live++;
        if (!first) {
          send(this.dispatcher.pickNow(new Set(entry.holders)), false);
          return;
        }
        // The first copy waits for a worker's credit (at once when none is live: queue group).
        this.dispatcher.acquire(ac.signal).then((target) => {
          if (settled) {
            this.dispatcher.release(target);
            failed(cancelled(ac.signal));
          } else send(target, true);
        }, failed);
      };
      launch(true);
    });
  }

  /**
   * A worker left the roster (stale, stopping, unreachable): every shard whose awaited copies are
   * all on workers that are not live goes out again at once, to a live worker (first answer wins).
   */
  private onRosterChange(e: RosterEvent): void {
    try {
      this.o.onWorker?.(e);
    } catch {
      /* an observer never breaks a solve */
    }
    if (e.change !== 'left') return;
    const cap = Math.max(this.o.maxAttempts, HEDGE_MAX_COPIES);
    for (const f of [...this.inFlight]) {
      if (f.holders.length === 0 || f.sends >= cap) continue;
      if (!f.holders.every((h) => h !== QUEUE_HOLDER && !this.roster.isLive(h))) continue;
      this.stats.redispatches++;
      f.sends++;
      f.sentAt = Date.now();
      f.hedge();
    }
  }

  private noteDuration(kind: string, ms: number): void {
    let ring = this.durations.get(kind);
    if (!ring) this.durations.set(kind, (ring = []));
    ring.push(ms);
    if (ring.length > HEDGE_WINDOW) ring.shift();
  }

  /** The age (ms) after which an attempt of this kind is overdue; undefined before any answer of the kind. */
  private hedgeDelayMs(kind: string): number | undefined {
    if (this.o.hedgeFactor <= 0) return undefined;
    const ring = this.durations.get(kind);
    if (!ring?.length) return undefined;
    return Math.max(this.o.hedgeMinMs, this.o.hedgeFactor * Math.max(...ring));
  }

  private track(e: InFlight): void {
    this.inFlight.add(e);
    if (this.o.hedgeFactor > 0) this.hedgeTimer ??= setInterval(() => this.hedgeOverdue(), HEDGE_TICK_MS);
  }

  private untrack(e: InFlight): void {
    this.inFlight.delete(e);
    if (this.inFlight.size === 0 && this.hedgeTimer) {
      clearInterval(this.hedgeTimer);
      this.hedgeTimer = undefined;
    }
  }

  /**
   * Re-dispatch every attempt whose last copy went out longer than the hedge delay ago, up to
   * max(maxAttempts, HEDGE_MAX_COPIES) copies. Again and again, because the queue group may hand
   * a copy to the very worker that is frozen (a killed worker's subscription is gone at once; a
   * frozen one's stays: the server postpones its pings while it delivers tasks to it).
   */
  private hedgeOverdue(): void {
    const now = Date.now();
    for (const e of this.inFlight) {
      const delay = this.hedgeDelayMs(e.kind);
      if (delay === undefined || delay >= this.o.taskTimeoutMs) continue;
      if (e.sends >= Math.max(this.o.maxAttempts, HEDGE_MAX_COPIES) || now - e.sentAt < delay) continue;
      this.stats.hedges++;
      this.o.onHedge?.({ shard: e.shard, afterMs: now - e.sentAt });
      e.sends++;
      e.sentAt = now;
      e.hedge();
    }
  }

  private async runShard(
    i: number,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    signal: AbortSignal | undefined,
  ): Promise<Partials> {
    const { r0, r1 } = this.plan.shards[i]!;
    const blockRows = this.plan.blockRows;
    const kind = Object.keys(wantToWire(want)).sort().join(',');
    let waitedMs = 0;
    let backoffMs = 100;
    let unreachable = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(signal);
      if (this.fatal) throw this.fatal;
      const task = (): TaskMsg => ({
        v: PROTOCOL_VERSION,
        kind: 'task',
        id: nuid.next(),
        jobId: this.o.jobId,
        problem: this.ref,
        r0,
        r1,
        blockRows,
        X,
        Y,
        want: wantToWire(want),
      });
      try {
        return await this.hedgedAttempt(i, kind, task, signal);
      } catch (err) {
        const e = err as AttnfitError;
        if (e.details?.unreachable !== undefined && !signal?.aborted && ++unreachable <= MAX_UNREACHABLE_RESENDS) {
          // The addressed worker is gone (dropped from the roster): send again at once, to
          // another live worker or the queue group; not counted as an attempt.
          this.stats.retries++;
          this.o.onRetry?.({ shard: i, attempt, error: e });
          attempt--;
          continue;
        }
        if (e.details?.noResponders === true && !signal?.aborted) {
          // No worker subscribed (all restarting or not started yet): wait, not counted as an
          // attempt, up to noWorkersTimeoutMs in total.
          if (waitedMs >= this.o.noWorkersTimeoutMs) {
            throw new AttnfitError(
              ErrorCodes.WORKER_LOST,
              `shard ${i} (rows ${r0}–${r1}): no worker served ${TASK_SUBJECT} for ${waitedMs} ms — are workers running?`,
              { cause: e },
            );
          }
          this.stats.retries++;
          this.o.onRetry?.({ shard: i, attempt, error: e });
          await abortableDelay(backoffMs, signal);
          waitedMs += backoffMs;
          backoffMs = Math.min(2000, backoffMs * 2);
          attempt--;
          continue;
        }
        const retry =
          (e.retryable || RETRYABLE.has(e.code)) &&
          e.code !== ErrorCodes.CANCELLED &&
          attempt < this.o.maxAttempts &&
          !signal?.aborted;
        if (!retry) {
          if (e.code === ErrorCodes.TIMEOUT)
            throw new AttnfitError(
              ErrorCodes.WORKER_LOST,
              `shard ${i} (rows ${r0}–${r1}): no worker answered in ${attempt} attempts of ${this.o.taskTimeoutMs} ms — are workers running?`,
              { cause: e },
            );
          throw e;
        }
        this.stats.retries++;
        this.o.onRetry?.({ shard: i, attempt, error: e });
      }
    }
  }

  /** Sum of the shard partials at (X, Y) in shard order. Rejects (never throws). */
  async evaluate(X: Float64Array, Y: Float64Array, want: Want, opts: CallOptions = {}): Promise<Partials> {
    if (this.closed) throw new AttnfitError(ErrorCodes.INTERNAL, 'NatsOracle: evaluate after close');
    const dd = this.d * this.d;
    if (X.length !== dd || Y.length !== dd)
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        `NatsOracle: X and Y must have ${dd} entries (got ${X.length}, ${Y.length})`,
      );
    // Overall deadline (CallOptions.timeoutMs): abort the evaluation with a TIMEOUT created here.
    let signal = opts.signal;
    let deadline: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      const ac = new AbortController();
      const timeoutErr = new AttnfitError(ErrorCodes.TIMEOUT, `evaluation timed out after ${opts.timeoutMs} ms`, {
        retryable: true,
      });
      deadline = setTimeout(() => ac.abort(timeoutErr), opts.timeoutMs);
      signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
    }
    // One abort listener per shard attempt in flight (maxInFlight of them, more than Node's
    // default of 10): lift the limit so no MaxListenersExceededWarning reaches the user.
    if (signal) setMaxListeners(0, signal);
    if (!this.discovered) {
      // Learn the live workers before the first shards go out (asked for in the constructor).
      this.discovered = true;
      await this.roster.whenAnyLive(this.o.discoveryMs);
    }
    try {
      return await this.evaluateShards(X, Y, want, signal);
    } finally {
      if (deadline) clearTimeout(deadline);
    }
  }

  private async evaluateShards(
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    signal: AbortSignal | undefined,
  ): Promise<Partials> {
    const count = this.plan.shards.length;
    const results = new Array<Partials | undefined>(count);
    let next = 0;
    let failed: unknown;
    const lane = async () => {
      while (next < count && failed === undefined) {
        const i = next++;
        try {
          results[i] = await this.runShard(i, X, Y, want, signal);
        } catch (err) {
          failed ??= err;
        }
      }
    };
    const byBytes = Math.max(1, Math.floor(this.o.replyWindowBytes / shardReplyBytes(want, this.problem.d)));
    await Promise.all(Array.from({ length: Math.min(this.o.maxInFlight, byBytes, count) }, lane));
    if (failed !== undefined) throw failed;
    // Deterministic reduce: shard order, the top level of the tree the local engine uses.
    return reduceInOrder(results as Partials[]);
  }

  /** Bytes sent (tasks) and received (replies) so far. */
  traffic(): Traffic {
    return { bytesSent: this.stats.bytesSent, bytesReceived: this.stats.bytesReceived };
  }

  async gram(): Promise<{ G1: Float64Array; G2: Float64Array }> {
    if (!this.gramCache) {
      // The same products as the worker's `gram` handler (local engine), so the regulariser
      // terms are bitwise identical to a local solve.
      const { n, d, A1, A2 } = this.problem;
      const G1 = new Float64Array(d * d),
        G2 = new Float64Array(d * d);
      dgemmBase(true, false, d, d, n, 1, A1, 0, d, A1, 0, d, 0, G1, 0, d);
      dgemmBase(true, false, d, d, n, 1, A2, 0, d, A2, 0, d, 0, G2, 0, d);
      this.gramCache = { G1, G2 };
    }
    return { G1: this.gramCache.G1.slice(), G2: this.gramCache.G2.slice() };
  }

  info(): OracleInfo {
    return {
      kind: 'nats',
      workers: this.stats.workers.size,
      blockRows: this.plan.blockRows,
      blocks: this.plan.blocks.length,
      shards: this.plan.shards.length,
      shardBlocks: this.plan.shardBlocks,
      gemm: gemmBackendDetail(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.offViolation();
    this.dispatcher.close();
    this.roster.close();
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    if (this.hedgeTimer) {
      clearInterval(this.hedgeTimer);
      this.hedgeTimer = undefined;
    }
    for (const p of this.pending.values()) p.reject(new AttnfitError(ErrorCodes.CANCELLED, 'NatsOracle closed'));
    this.pending.clear();
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }
}

function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(cancelled(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelled(signal: AbortSignal | undefined): AttnfitError {
  const r = signal?.reason;
  if (r instanceof AttnfitError) return r;
  return new AttnfitError(ErrorCodes.CANCELLED, 'evaluation cancelled', r === undefined ? {} : { cause: r });
}

/**
 * Upper estimate of one shard's reply bytes for `want` at d (the partials it carries as float64,
 * hessXX packed, plus framing): what {@link NatsOracleOptions.replyWindowBytes} divides.
 * Example: shardReplyBytes({ hessXX: true, hessXY: true }, 16) ≈ 0.79 MB.
 */
export function shardReplyBytes(want: Want, d: number): number {
  const d2 = d * d;
  let numbers = 1;
  if (want.gradX) numbers += d2;
  if (want.gradY) numbers += d2;
  if (want.normal) numbers += 2 * d2;
  if (want.hvpX) numbers += d2;
  if (want.mixedXY) numbers += d2;
  if (want.mixedYX) numbers += d2;
  if (want.hessXX) numbers += (d2 * (d2 + 1)) / 2;
  if (want.hessXY) numbers += d2 * d2;
  return 8 * numbers + 512;
}
