/**
 * Worker heartbeats: a `worker.heartbeat` message on {@link WORKER_HEARTBEAT_SUBJECT} when the
 * service is ready, every `intervalMs`, and once with `state: 'stopping'` when it drains. The
 * coordinator's dashboard builds its worker table from them (name, host, threads, GEMM backend,
 * tasks, cache) and its shard dispatch from them (a heartbeat carries the worker's `dispatchId`:
 * shards addressed to it go to `attnfit.task.<dispatchId>`). A `attnfit.workers.ping` makes it
 * send one at once. Fire-and-forget: a lost heartbeat only makes the worker look stale.
 */
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { gemmBackendDetail } from '@attnfit/shared/kernels';
import type { Subscription } from '@nats-io/transport-node';
import {
  PROTOCOL_VERSION,
  WORKER_HEARTBEAT_SUBJECT,
  WORKER_PING_SUBJECT,
  encode,
  type WorkerHeartbeatMsg,
} from '@attnfit/shared/protocol';
import type { WorkerObserver, WorkerStartInfo } from './observer.js';

/** Default heartbeat period. */
export const HEARTBEAT_DEFAULTS = Object.freeze({ intervalMs: 2000 });

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/**
 * An observer that publishes heartbeats on the service's connection.
 * @example startWorkerService({ ..., observer: heartbeatObserver(1000) })
 */
export function heartbeatObserver(intervalMs: number = HEARTBEAT_DEFAULTS.intervalMs): WorkerObserver {
  const startedAt = Date.now();
  let info: WorkerStartInfo | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ping: Subscription | undefined;
  const send = (state: WorkerHeartbeatMsg['state']): void => {
    if (!info || info.nc.isClosed()) return;
    const s = info.stats();
    const m: WorkerHeartbeatMsg = {
      v: PROTOCOL_VERSION,
      kind: 'worker.heartbeat',
      name: info.name,
      host: hostname(),
      pid: process.pid,
      threads: info.threads,
      gemm: gemmBackendDetail(),
      version: VERSION,
      state,
      startedAt,
      sentAt: Date.now(),
      intervalMs,
      tasks: s.tasks,
      errors: s.errors,
      inFlight: s.inFlight,
      cached: s.cached,
      fetches: s.fetches,
    };
    if (info.dispatchId !== undefined) m.dispatchId = info.dispatchId;
    if (s.working?.length) m.working = s.working;
    try {
      info.nc.publish(WORKER_HEARTBEAT_SUBJECT, encode(m));
    } catch {
      /* closing: the row goes stale */
    }
  };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (ping && !info?.nc.isClosed()) ping.unsubscribe();
    ping = undefined;
  };
  return {
    started(i) {
      info = i;
      send('up');
      timer = setInterval(() => send('up'), intervalMs);
      timer.unref();
      // A coordinator starting to dispatch asks for a heartbeat now. Refused by the server
      // (an older auth config): the coordinator then waits for the periodic heartbeat.
      let warned = false;
      ping = i.nc.subscribe(WORKER_PING_SUBJECT, {
        callback: (err) => {
          if (!err) return send('up');
          if (!warned)
            i.log(`attnfit worker: cannot hear ${WORKER_PING_SUBJECT} (${err.message}): heartbeats only on the timer`);
          warned = true;
        },
      });
    },
    stopping() {
      stop();
      send('stopping');
    },
    closed: stop,
  };
}
