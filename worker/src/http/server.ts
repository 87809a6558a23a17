/**
 * `attnfit worker --http HOST:PORT`: a read-only listener with /metrics (Prometheus text) and
 * /healthz. Loopback unless HOST says otherwise.
 */
import { listenHttp, type HttpAddress, type HttpListener } from '@attnfit/shared/runtime';
import type { WorkerMetrics } from './metrics.js';

/**
 * Serve `metrics` on `addr`. Rejects BAD_OPTION naming --http when the address cannot be bound.
 * @example const l = await serveWorkerMetrics({ host: '127.0.0.1', port: 9464 }, createWorkerMetrics());
 */
export function serveWorkerMetrics(addr: HttpAddress, metrics: WorkerMetrics): Promise<HttpListener> {
  return listenHttp(addr, async (_req, res, url) => {
    if (url.pathname === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return true;
    }
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return true;
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('attnfit worker: metrics at /metrics\n');
      return true;
    }
    return false;
  });
}
