/**
 * ShardDispatcher: who gets the next shard task. Credit-based over the live workers of a
 * {@link WorkerRoster}: each worker holds at most `credits` of this oracle's tasks (2 by default:
 * one computing, one queued behind it, so a worker never idles on the round trip); a task goes to
 * the live worker with the fewest in flight, ties in turn (round-robin over the roster's stable
 * order); tasks beyond the credits wait in FIFO order and go out as replies come back or workers
 * join. While no worker is live (heartbeats off, none heard yet, all stale) every task goes to
 * the queue group, as before addressed dispatch existed. Dispatch only decides who computes a
 * shard, never what is computed or how partials are added, so results stay bitwise identical.
 */
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import type { RosterWorker, WorkerRoster } from './worker-roster.js';

/** Where one task copy goes: a live worker's direct subject, or the queue group (fallback). */
export type DispatchTarget = { kind: 'direct'; worker: RosterWorker } | { kind: 'queue' };

export const SHARD_DISPATCH_DEFAULTS = Object.freeze({
  /** Tasks of one oracle in flight per worker. */
  credits: 2,
});

interface Waiter {
  resolve(t: DispatchTarget): void;
  reject(e: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** Credit-based choice of workers for shard tasks (one per oracle). */
export class ShardDispatcher {
  /** Task copies in flight per worker id (taken by acquire / pickNow, given back by release). */
  private readonly load = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  /** Round-robin cursor over the live list, for ties. */
  private cursor = 0;
  private readonly off: () => void;
  private closed = false;

  constructor(
    private readonly roster: WorkerRoster,
    private readonly credits: number = SHARD_DISPATCH_DEFAULTS.credits,
  ) {
    if (!Number.isSafeInteger(credits) || credits < 1)
      throw new AttnfitError(ErrorCodes.BAD_OPTION, `credits: must be an integer >= 1 (got ${String(credits)})`, {
        details: { field: 'credits', value: credits },
      });
    this.off = roster.onChange(() => this.pump());
  }

  /** Copies in flight on worker `id` (diagnostics and tests). */
  inFlight(id: string): number {
    return this.load.get(id) ?? 0;
  }

  /** Tasks waiting for a credit. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * A target for a task's first copy: a live worker with a free credit (the credit is taken;
   * give it back with {@link release}), waiting in FIFO order for one; the queue group at once
   * while no worker is live. Rejects when `signal` aborts or the dispatcher closes.
   */
  acquire(signal?: AbortSignal): Promise<DispatchTarget> {
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<DispatchTarget>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
      this.pump();
    });
  }

  /**
   * A target for an extra copy (hedge, re-dispatch), at once and regardless of credits: the
   * least loaded live worker not in `avoid` (workers already holding a copy), else the least
   * loaded live one, else the queue group. The copy counts against the worker's credits until
   * released.
   */
  pickNow(avoid: ReadonlySet<string>): DispatchTarget {
    const live = this.roster.live();
    const fresh = live.filter((w) => !avoid.has(w.id));
    const w = this.leastLoaded(fresh.length ? fresh : live, Infinity);
    if (!w) return { kind: 'queue' };
    this.take(w);
    return { kind: 'direct', worker: w };
  }

  /** Give a credit back (a reply arrived, the attempt failed, or a held copy expired). */
  release(t: DispatchTarget): void {
    if (t.kind !== 'direct') return;
    const n = (this.load.get(t.worker.id) ?? 0) - 1;
    if (n > 0) this.load.set(t.worker.id, n);
    else this.load.delete(t.worker.id);
    this.pump();
  }

  /** Reject every waiting task; later calls reject. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.off();
    for (const w of this.waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(closedError());
    }
  }

  /** Hand free credits to waiting tasks in order; all of them to the queue group when no worker is live. */
  private pump(): void {
    while (this.waiters.length) {
      const live = this.roster.live();
      let target: DispatchTarget;
      if (live.length === 0) target = { kind: 'queue' };
      else {
        const w = this.leastLoaded(live, this.credits);
        if (!w) return;
        this.take(w);
        target = { kind: 'direct', worker: w };
      }
      const waiter = this.waiters.shift()!;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(target);
    }
  }

  /** The worker with the fewest copies in flight below `limit`; ties: the next in turn. */
  private leastLoaded(list: RosterWorker[], limit: number): RosterWorker | undefined {
    let best: RosterWorker | undefined;
    let bestLoad = limit;
    let bestAt = 0;
    for (let k = 0; k < list.length; k++) {
      const at = (this.cursor + k) % list.length;
      const w = list[at]!;
      const l = this.inFlight(w.id);
      if (l < bestLoad) {
        best = w;
        bestLoad = l;
        bestAt = at;
      }
    }
    if (best) this.cursor = bestAt + 1;
    return best;
  }

  private take(w: RosterWorker): void {
    this.load.set(w.id, this.inFlight(w.id) + 1);
  }
}

function closedError(): AttnfitError {
  return new AttnfitError(ErrorCodes.CANCELLED, 'shard dispatch closed');
}
