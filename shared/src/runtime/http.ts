/**
 * The small read-only HTTP listener behind `attnfit coordinator --http` (dashboard + /metrics)
 * and `attnfit worker --http` (/metrics): address parsing with loopback as the default host,
 * listen errors mapped to AttnfitError naming the option, GET/HEAD only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AttnfitError, ErrorCodes } from '../core/index.js';

/** Where to listen. `host` is an IP literal or a name; `port` 0 picks a free port. */
export interface HttpAddress {
  host: string;
  port: number;
}

/** Default host when `--http` names only a port. */
export const HTTP_DEFAULT_HOST = '127.0.0.1';

/**
 * Parse `PORT`, `:PORT`, `HOST:PORT` or `[IPv6]:PORT` (port 0–65535; 0 = any free port).
 * Throws BAD_OPTION naming `field` and the value.
 * @example parseHttpAddress('8080', '--http') // { host: '127.0.0.1', port: 8080 }
 */
export function parseHttpAddress(value: string, field = '--http'): HttpAddress {
  const v = value.trim();
  const m =
    /^(\d{1,5})$/.exec(v) ??
    /^:(\d{1,5})$/.exec(v) ??
    /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(v) ??
    /^([^\s:[\]/]+):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[m.length - 1]) : NaN;
  if (!m || !(port <= 65535)) {
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `${field}: expected PORT or HOST:PORT with a port in [0, 65535] (got ${JSON.stringify(value)})`,
      { details: { field, value } },
    );
  }
  return { host: m.length === 3 ? m[1]! : HTTP_DEFAULT_HOST, port };
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A request handler: return false to answer 404. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

/** A listening server. */
export interface HttpListener {
  readonly server: Server;
  /** Base URL with the port actually bound, e.g. http://127.0.0.1:39123 */
  readonly url: string;
  readonly address: HttpAddress;
  /** Stop listening and end open connections (event streams). Idempotent. */
  close(): Promise<void>;
}

/**
 * Listen on `addr` and answer GET / HEAD with `handler` (405 for other methods, 404 when the
 * handler returns false, 500 on a handler error). Rejects BAD_OPTION naming `field` when the
 * address cannot be bound (in use, not local, permission).
 * @example const l = await listenHttp({ host: '127.0.0.1', port: 0 }, (req, res) => { res.end('ok'); return true; });
 */
export async function listenHttp(addr: HttpAddress, handler: HttpHandler, field = '--http'): Promise<HttpListener> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('read-only: GET and HEAD only\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    Promise.resolve()
      .then(() => handler(req, res, url))
      .then((handled) => {
        if (!handled && !res.headersSent) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found\n');
        }
      })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${(err as Error).message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new AttnfitError(
          ErrorCodes.BAD_OPTION,
          `${field}: cannot listen on ${fmtHost(addr.host)}:${addr.port} (${err.code ?? err.message})`,
          { cause: err, details: { field, value: `${addr.host}:${addr.port}` } },
        ),
      );
    };
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : addr.port;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${fmtHost(addr.host)}:${port}`,
    address: { host: addr.host, port },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function fmtHost(h: string): string {
  return h.includes(':') ? `[${h}]` : h;
}
