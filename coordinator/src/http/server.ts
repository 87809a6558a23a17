/**
 * `attnfit coordinator --http HOST:PORT`: the read-only dashboard and /metrics.
 *
 * Routes (GET/HEAD only):
 *   /                       the dashboard page (coordinator/dashboard/, uPlot from node_modules)
 *   /events                 server-sent events: `state` (DashboardSnapshot, on change, ≤ 4/s, and
 *                           every second) and `point` ({ jobId, point }, one per solver iteration)
 *   /api/state              the current DashboardSnapshot as JSON
 *   /api/jobs/<id>/history  { jobId, points: HistoryPoint[] } (404 for an unknown job)
 *   /metrics                Prometheus text (prom-client)
 *   /healthz                "ok"
 * Everything comes from the coordinator's own state: browsers never cause NATS traffic.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { listenHttp, type HttpAddress, type HttpListener } from '@attnfit/shared/runtime';
import { fanOutObservers, type CoordinatorObserver } from '../cluster/observer.js';
import { ClusterState } from './state.js';
import { createCoordinatorMetrics, type CoordinatorMetrics } from './metrics.js';

/** Tunables of the event stream. */
export const DASHBOARD_DEFAULTS = Object.freeze({
  /** Minimum ms between two `state` events of one stream. */
  minStateIntervalMs: 250,
  /** A `state` event is sent at least this often (clocks, lost workers, throughput). */
  tickMs: 1000,
});

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const dash = new URL('../../dashboard/', import.meta.url);
  const uplotDist = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  const a = new Map<string, Asset>();
  const add = (route: string, file: string, type: string) => a.set(route, { type, body: readFileSync(file) });
  add('/', fileURLToPath(new URL('index.html', dash)), 'text/html; charset=utf-8');
  add('/app.js', fileURLToPath(new URL('app.js', dash)), 'text/javascript; charset=utf-8');
  add('/app.css', fileURLToPath(new URL('app.css', dash)), 'text/css; charset=utf-8');
  add('/vendor/uplot.js', join(uplotDist, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8');
  add('/vendor/uplot.css', join(uplotDist, 'uPlot.min.css'), 'text/css; charset=utf-8');
  return a;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** A running dashboard. */
export interface Dashboard {
  /** Pass to startCoordinator / runCoordinator as `observer`. */
  readonly observer: CoordinatorObserver;
  readonly state: ClusterState;
  readonly metrics: CoordinatorMetrics;
  readonly url: string;
  /** Close event streams and stop listening. Idempotent. */
  close(): Promise<void>;
}

/**
 * Listen on `addr` (rejects BAD_OPTION naming --http when it cannot) and serve the dashboard.
 * @example const dash = await startDashboard({ host: '127.0.0.1', port: 8080 }); await runCoordinator({ ...auth, observer: dash.observer });
 */
export async function startDashboard(
  addr: HttpAddress,
  o: { minStateIntervalMs?: number; tickMs?: number } = {},
): Promise<Dashboard> {
  const assets = loadAssets();
  const state = new ClusterState();
  const metrics = createCoordinatorMetrics(state);
  const streams = new Set<ServerResponse>();
  const minGap = o.minStateIntervalMs ?? DASHBOARD_DEFAULTS.minStateIntervalMs;
  const tickMs = o.tickMs ?? DASHBOARD_DEFAULTS.tickMs;

  // One snapshot per change burst for all streams (never one per event per browser).
  let dirty = false;
  let lastSent = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  const broadcast = (event: string, data: unknown): void => {
    if (streams.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(frame);
  };
  const flush = (): void => {
    flushTimer = undefined;
    dirty = false;
    lastSent = Date.now();
    broadcast('state', state.snapshot());
  };
  const schedule = (): void => {
    dirty = true;
    if (flushTimer) return;
    flushTimer = setTimeout(flush, Math.max(0, lastSent + minGap - Date.now()));
  };
  const unsubscribe = state.subscribe((ev) => {
    if (ev.kind === 'point') broadcast('point', { jobId: ev.jobId, point: ev.point });
    schedule();
  });
  const tick = setInterval(() => {
    if (streams.size && !dirty) flush();
  }, tickMs);
  tick.unref();

  const json = (res: ServerResponse, status: number, body: unknown): true => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...SECURITY_HEADERS,
    });
    res.end(JSON.stringify(body));
    return true;
  };

  const listener: HttpListener = await listenHttp(addr, async (req, res, url) => {
    const path = url.pathname;
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (asset) {
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        'cache-control': 'no-cache',
        ...SECURITY_HEADERS,
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return true;
    }
    if (path === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        ...SECURITY_HEADERS,
      });
      res.write(`retry: 2000\nevent: state\ndata: ${JSON.stringify(state.snapshot())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return true;
    }
    if (path === '/api/state') return json(res, 200, state.snapshot());
    const m = /^\/api\/jobs\/([A-Za-z0-9_-]{1,64})\/history$/.exec(path);
    if (m) {
      const points = state.history(m[1]!);
      return points
        ? json(res, 200, { jobId: m[1], points })
        : json(res, 404, { error: `job ${m[1]}: unknown to this coordinator` });
    }
    if (path === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return true;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return true;
    }
    return false;
  });

  let closing: Promise<void> | undefined;
  return {
    observer: fanOutObservers([state, metrics.observer]),
    state,
    metrics,
    url: listener.url,
    close() {
      closing ??= (async () => {
        clearInterval(tick);
        if (flushTimer) clearTimeout(flushTimer);
        unsubscribe();
        for (const res of streams) res.end();
        streams.clear();
        await listener.close();
      })();
      return closing;
    },
  };
}
