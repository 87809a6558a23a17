/**
 * WorkerRoster: the workers a coordinator may address shards to, from their heartbeats. A worker
 * is *live* while its heartbeats say `up`, carry a `dispatchId` (it serves
 * `attnfit.task.<dispatchId>`), and the last one arrived within `staleIntervals` × its own
 * interval (coordinator clock). It leaves the roster when it says `stopping`, when it goes stale,
 * or when the dispatcher {@link WorkerRoster.drop}s it (nobody serves its subject any more); its
 * next heartbeat brings it back. Listeners hear every join and leave, so the dispatcher can use a
 * new worker at once and re-dispatch the shards of one that left.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  WORKER_HEARTBEAT_SUBJECT,
  WORKER_PING_SUBJECT,
  decodeMessage,
  workerTaskSubject,
  type WorkerHeartbeatMsg,
} from '@attnfit/shared/protocol';

/** A live worker as the dispatcher sees it. */
export interface RosterWorker {
  /** Its dispatch id (unique per worker process). */
  readonly id: string;
  /** Its NATS client name (diagnostics, reply `worker` fields). */
  readonly name: string;
  /** Its direct task subject. */
  readonly subject: string;
}

/** A worker joined (first heartbeat, or back after leaving) or left the roster. */
export interface RosterEvent {
  worker: RosterWorker;
  change: 'joined' | 'left';
  /** Why it left. */
  reason?: 'stale' | 'stopping' | 'unreachable';
}

export const WORKER_ROSTER_DEFAULTS = Object.freeze({
  /** Silent for this many of its heartbeat intervals: stale. */
  staleIntervals: 3,
});

interface Entry extends RosterWorker {
  live: boolean;
  timer: NodeJS.Timeout | undefined;
  /** When its last heartbeat arrived (Date.now() here) and the task ids it listed as working. */
  heardAt: number;
  working: ReadonlySet<string>;
}

/** Live workers heard on {@link WORKER_HEARTBEAT_SUBJECT}. */
export class WorkerRoster {
  /** Every worker ever heard, in order of first heartbeat (a stable order for ties). */
  private readonly workers = new Map<string, Entry>();
  private readonly listeners = new Set<(e: RosterEvent) => void>();
  private readonly sub: Subscription | undefined;
  private closed = false;
  /** Whether heartbeats can be heard (false after a refused subscription). */
  listening = true;

  /**
   * @param nc connection to listen on (not closed by the roster); undefined: a roster fed by
   *   {@link heard} only (tests)
   * @param staleIntervals heartbeat intervals of silence after which a worker is stale
   */
  constructor(
    private readonly nc: NatsConnection | undefined,
    private readonly staleIntervals: number = WORKER_ROSTER_DEFAULTS.staleIntervals,
  ) {
    if (!nc) return;
    this.sub = nc.subscribe(WORKER_HEARTBEAT_SUBJECT, {
      callback: (err, msg) => {
        if (err) {
          this.listening = false;
          return;
        }
        try {
          this.heard(decodeMessage(msg.data, 'worker.heartbeat'));
        } catch {
          /* a malformed heartbeat is ignored (the dashboard ignores it too) */
        }
      },
    });
  }

  /**
   * Ask every worker for a heartbeat now ({@link WORKER_PING_SUBJECT}), so live workers are known
   * within a round trip. Best effort: a refused publish only means waiting for their timers.
   */
  ping(): void {
    if (!this.nc || this.nc.isClosed()) return;
    try {
      this.nc.publish(WORKER_PING_SUBJECT);
    } catch {
      /* closing */
    }
  }

  /** Record one heartbeat (the subscription calls it; exposed for tests). */
  heard(m: WorkerHeartbeatMsg): void {
    if (this.closed || m.dispatchId === undefined) return;
    let e = this.workers.get(m.dispatchId);
    if (!e) {
      e = {
        id: m.dispatchId,
        name: m.name,
        subject: workerTaskSubject(m.dispatchId),
        live: false,
        timer: undefined,
        heardAt: 0,
        working: new Set(),
      };
      this.workers.set(e.id, e);
    }
    e.heardAt = Date.now();
    e.working = new Set(m.working ?? []);
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    if (m.state === 'stopping') {
      this.leave(e, 'stopping');
      return;
    }
    const entry = e;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.leave(entry, 'stale');
    }, this.staleIntervals * m.intervalMs);
    entry.timer.unref?.();
    if (!entry.live) {
      entry.live = true;
      this.emit({ worker: entry, change: 'joined' });
    }
  }

  /** Nobody serves this worker's subject (no responders): out until its next heartbeat. */
  drop(id: string): void {
    const e = this.workers.get(id);
    if (!e) return;
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    this.leave(e, 'unreachable');
  }

  /** Live workers, in order of first heartbeat. */
  live(): RosterWorker[] {
    const out: RosterWorker[] = [];
    for (const e of this.workers.values()) if (e.live) out.push(e);
    return out;
  }

  isLive(id: string): boolean {
    return this.workers.get(id)?.live === true;
  }

  /**
   * Whether live worker `id` said, in a heartbeat received at or after `since` (Date.now()
   * milliseconds), that it is computing task `taskId` — then a task timeout is not a loss.
   */
  isWorkingOn(id: string, taskId: string, since: number): boolean {
    const e = this.workers.get(id);
    return e?.live === true && e.heardAt >= since && e.working.has(taskId);
  }

  /** Listen to joins and leaves; returns the unsubscribe function. */
  onChange(fn: (e: RosterEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves when some worker is live, or after `ms` (then dispatch falls back to the queue
   * group until one is heard). Never rejects.
   */
  whenAnyLive(ms: number): Promise<void> {
    if (this.live().length > 0 || ms <= 0 || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        off();
        resolve();
      };
      const t = setTimeout(done, ms);
      const off = this.onChange((e) => {
        if (e.change === 'joined') done();
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.workers.values()) if (e.timer) clearTimeout(e.timer);
    this.listeners.clear();
    if (this.sub && this.nc && !this.nc.isClosed()) this.sub.unsubscribe();
  }

  private leave(e: Entry, reason: NonNullable<RosterEvent['reason']>): void {
    if (!e.live) return;
    e.live = false;
    this.emit({ worker: e, change: 'left', reason });
  }

  private emit(ev: RosterEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch {
        /* a listener never breaks the roster */
      }
    }
  }
}
