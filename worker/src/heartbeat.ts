/**
 * Worker heartbeats: a `worker.heartbeat` message on {@link WORKER_HEARTBEAT_SUBJECT} when the
 * service is ready, every `intervalMs`, and once with `state: 'stopping'` when it drains. The
 * coordinator's dashboard builds its worker table from them (name, host, threads, GEMM backend,
 * tasks, cache). Fire-and-forget: a lost heartbeat only makes the row go stale.
 */
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { gemmBackendDetail } from '@attnfit/shared/kernels';
import { PROTOCOL_VERSION, WORKER_HEARTBEAT_SUBJECT, encode, type WorkerHeartbeatMsg } from '@attnfit/shared/protocol';
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
    try {
      info.nc.publish(WORKER_HEARTBEAT_SUBJECT, encode(m));
    } catch {
      /* closing: the row goes stale */
    }
  };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    started(i) {
      info = i;
      send('up');
      timer = setInterval(() => send('up'), intervalMs);
      timer.unref();
    },
    stopping() {
      stop();
      send('stopping');
    },
    closed: stop,
  };
}
